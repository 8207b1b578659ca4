import type { DeploymentMetrics, VariantMetrics } from '@modelyard/client';
import type { AbReport, Deployment, DeploymentEvent, DeploymentVariant } from '@modelyard/core';
import { formatNumber, formatTime, renderTable } from './table-format.js';

/** `churn@champion -> churn/3`: the model URI as given and the version it resolved to. */
export function modelOf(variant: DeploymentVariant): string {
  return `${variant.modelUri} -> ${variant.modelName}/${variant.modelVersion}`;
}

/** Every variant's model, comma-separated. */
export function modelsOf(deployment: Deployment): string {
  return deployment.variants.map(modelOf).join(', ');
}

/** One row per deployment: name, status, models, replicas, last change, reason. */
export function deploymentsTable(deployments: Deployment[]): string {
  return renderTable(
    ['Name', 'Status', 'Model', 'Replicas', 'Updated', 'Reason'],
    deployments.map((d) => [
      d.name,
      d.status,
      modelsOf(d),
      d.variants.map((v) => String(v.replicas)).join(', '),
      formatTime(d.updatedAt),
      d.statusReason,
    ]),
  );
}

/** Details longer than this are cut in the events table (`--json` has them whole). */
const DETAILS_LENGTH = 120;

/**
 * One row per event: sequence, time, actor, action, reason and its details as compact JSON;
 * the reason and details wrap, so that a long digest does not widen the table.
 */
export function eventsTable(events: readonly DeploymentEvent[]): string {
  return renderTable(
    ['#', 'Time', 'Actor', 'Action', 'Reason', 'Details'],
    events.map((e) => {
      const details = Object.keys(e.details).length === 0 ? '' : JSON.stringify(e.details);
      return [
        String(e.sequence),
        formatTime(e.at),
        e.actor,
        e.action,
        e.reason,
        details.length > DETAILS_LENGTH ? `${details.slice(0, DETAILS_LENGTH - 3)}...` : details,
      ];
    }),
    [null, null, null, null, 48, 42],
  );
}

/** `25%`, or `10% mirrored` for a shadow (whose weight is the share of requests copied to it). */
function weightOf(v: { role: DeploymentVariant['role']; weight: number }): string {
  return `${formatNumber(v.weight)}%${v.role === 'shadow' ? ' mirrored' : ''}`;
}

function batchingOf(variant: DeploymentVariant): string {
  const b = variant.batching;
  return b === null ? 'off' : `${String(b.maxBatchSize)} rows / ${String(b.maxLatencyMs)} ms`;
}

/**
 * One deployment in full: its status, a table of its variants (role, weight, status, model,
 * sizing) and its rollout (strategy, phase, last decision), if it has had one.
 */
export function deploymentDetails(deployment: Deployment): string {
  const lines = [
    `Deployment: ${deployment.name}`,
    `Status:     ${deployment.status}${deployment.statusReason === '' ? '' : ` (${deployment.statusReason})`}`,
  ];
  if (deployment.description !== '') lines.push(`About:      ${deployment.description}`);
  lines.push(`Updated:    ${formatTime(deployment.updatedAt)}`, '');
  // A ready variant's reason repeats the deployment's (digest and all); the others' say why not.
  const explain = deployment.variants.some((v) => v.status !== 'ready');
  const variants = renderTable(
    [
      'Variant',
      'Role',
      'Weight',
      'Status',
      'Model',
      'Replicas',
      'Concurrency',
      'Batching',
      ...(explain ? ['Reason'] : []),
    ],
    deployment.variants.map((v) => [
      v.name,
      v.role,
      weightOf(v),
      v.status,
      modelOf(v),
      String(v.replicas),
      String(v.maxConcurrency),
      batchingOf(v),
      ...(explain ? [v.status === 'ready' ? '' : v.statusReason] : []),
    ]),
  );
  let text = `${lines.join('\n')}\n${variants}`;
  const r = deployment.rollout;
  if (r !== null) {
    text +=
      `\nRollout:       ${r.strategy} of '${r.candidate}' against '${r.primary}', phase ${r.phase}\n` +
      `Started:       ${formatTime(r.startedAt)} by ${r.actor}${r.reason === '' ? '' : ` (${r.reason})`}\n` +
      (r.endedAt === null ? '' : `Ended:         ${formatTime(r.endedAt)}\n`) +
      `Last decision: ${r.lastDecision}\n`;
  }
  return text;
}

/** Latency in ms to 3 significant digits (sub-millisecond figures jitter beyond that). */
function ms(value: number | null): string {
  return value === null ? '-' : String(Number(value.toPrecision(3)));
}

function agreementOf(v: VariantMetrics): string {
  if (v.shadow === undefined) return '';
  const { agreement, agreed, mirrored } = v.shadow;
  return agreement === null
    ? 'none mirrored yet'
    : `${formatNumber(agreement * 100)}% (${String(agreed)}/${String(mirrored)})`;
}

/** The A/B report: each arm's outcomes, the test, its p-value and the server's summary. */
export function abReportText(report: AbReport): string {
  const arms = renderTable(
    ['Variant', 'Arm', 'Outcomes', `Mean ${report.metric.name}`],
    (
      [
        ['primary', report.primary],
        ['candidate', report.candidate],
      ] as const
    ).map(([arm, a]) => [a.name, arm, String(a.count), a.count === 0 ? '-' : formatNumber(a.mean)]),
  );
  const direction = report.metric.higherIsBetter ? 'higher is better' : 'lower is better';
  return (
    `A/B test on '${report.metric.name}' (${report.metric.kind}, ${direction}): ${report.test}, ` +
    `alpha ${formatNumber(report.alpha)}\n${arms}` +
    `Difference: ${report.difference === null ? '-' : formatNumber(report.difference)}, ` +
    `p-value: ${report.pValue === null ? '-' : formatNumber(report.pValue)}, ` +
    `decided: ${report.decided ? 'yes' : 'no'}\n${report.summary}\n`
  );
}

/**
 * Live figures as a table (window requests, errors, latency percentiles, totals, shadow
 * agreement), then the rollout's state and A/B report.
 */
export function metricsText(metrics: DeploymentMetrics): string {
  let text =
    `Deployment '${metrics.deployment}' is ${metrics.status}; request figures since the ` +
    'current rollout stage or phase began (window), and since each variant loaded (total).\n' +
    renderTable(
      [
        'Variant',
        'Role',
        'Weight',
        'Version',
        'Status',
        'Requests',
        'Errors',
        'p50 ms',
        'p95 ms',
        'p99 ms',
        'Total req',
        'Total err',
        'In flight',
        'Shadow agreement',
      ],
      metrics.variants.map((v) => [
        v.name,
        v.role,
        weightOf(v),
        v.modelVersion,
        v.status,
        String(v.window.requests),
        String(v.window.errors),
        ms(v.window.p50LatencyMs),
        ms(v.window.p95LatencyMs),
        ms(v.window.p99LatencyMs),
        String(v.totalRequests),
        String(v.totalErrors),
        String(v.inFlight),
        agreementOf(v),
      ]),
    );
  const r = metrics.rollout;
  if (r !== null) {
    text +=
      `Rollout: ${r.strategy} of '${r.candidate}', phase ${r.phase}\n` +
      `Last decision: ${r.lastDecision}\n`;
    if (r.ab !== null) text += abReportText(r.ab);
  }
  return text;
}

/** `v2 candidate 25% 120 req 0 err p95 1.2 ms`: one variant's part of a progress line. */
function variantProgress(v: VariantMetrics): string {
  const w = v.window;
  const head = `${v.name} ${v.role} ${weightOf(v)}`;
  if (v.status !== 'ready') return `${head} ${v.status}`;
  let text = `${head}: ${String(w.requests)} req, ${String(w.errors)} err, p95 ${ms(w.p95LatencyMs)} ms`;
  if (v.shadow !== undefined) text += `, agreement ${agreementOf(v)}`;
  return text;
}

/** One line of `rollout --wait` progress: elapsed time, phase, and each variant's figures. */
export function progressLine(metrics: DeploymentMetrics, elapsedMs: number): string {
  const seconds = `${String(Math.floor(elapsedMs / 1000))}s`.padStart(5);
  const phase = metrics.rollout?.phase ?? 'no rollout';
  return `[${seconds}] ${phase.padEnd(11)} ${metrics.variants.map(variantProgress).join(' | ')}\n`;
}
