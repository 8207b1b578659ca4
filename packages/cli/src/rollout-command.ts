import { readFile } from 'node:fs/promises';
import { Option } from 'commander';
import type { Command } from 'commander';
import { collect, paginate } from '@modelyard/client';
import type { OutcomeInput, RolloutInput, YardClient } from '@modelyard/client';
import { ROLLOUT_STRATEGIES, encodePageToken } from '@modelyard/core';
import type { CanaryGates, Deployment, DeploymentEvent, RolloutStrategy } from '@modelyard/core';
import { CliError } from './cli-io.js';
import type { CliIo } from './cli-io.js';
import {
  anyNumber,
  batchingFrom,
  fraction,
  holdSeconds,
  nonNegativeNumber,
  numberList,
  outcomeMetric,
  percentage,
  positiveNumber,
} from './deployment-flags.js';
import type { BatchingFlags } from './deployment-flags.js';
import { abReportText, deploymentDetails, metricsText, progressLine } from './deployment-view.js';
import { clientFor, withServer } from './server-connection.js';
import { positiveInt, toJson } from './table-format.js';

/** How often `rollout --wait` polls the deployment's metrics. */
const WAIT_POLL_MS = 1000;

interface RolloutFlags extends BatchingFlags {
  model: string;
  strategy: RolloutStrategy;
  stages?: number[];
  hold?: number | number[];
  maxErrorRateIncrease?: number;
  maxP95Ratio?: number;
  minP95IncreaseMs?: number;
  minRequests?: number;
  weight?: number;
  stickyHeader?: string;
  stickyField?: string;
  metric?: ReturnType<typeof outcomeMetric>;
  alpha?: number;
  minSamples?: number;
  minAgreement?: number;
  autoPromote?: boolean;
  replicas?: number;
  maxConcurrency?: number;
  reason?: string;
  wait?: boolean;
  json?: boolean;
}

/**
 * The request the rollout flags describe. Checks what the flags alone can tell; whether a setting
 * applies to the strategy (`--stages` to a canary only, say) the server checks and explains.
 */
function rolloutInput(flags: RolloutFlags): RolloutInput {
  if (Array.isArray(flags.hold) && flags.strategy !== 'canary') {
    throw new CliError(
      `--hold takes one number of seconds for a ${flags.strategy} rollout, got ` +
        `'${flags.hold.join(',')}'; a list (one hold per stage) is for canary rollouts.`,
    );
  }
  if (flags.stickyHeader !== undefined && flags.stickyField !== undefined) {
    throw new CliError(
      'Give --sticky-header or --sticky-field, not both: a request has one sticky key.',
    );
  }
  const gates: Partial<CanaryGates> = {
    ...(flags.maxErrorRateIncrease !== undefined && {
      maxErrorRateIncrease: flags.maxErrorRateIncrease,
    }),
    ...(flags.maxP95Ratio !== undefined && { maxP95LatencyRatio: flags.maxP95Ratio }),
    ...(flags.minRequests !== undefined && { minRequests: flags.minRequests }),
    ...(flags.minP95IncreaseMs !== undefined && {
      minP95LatencyIncreaseMs: flags.minP95IncreaseMs,
    }),
  };
  const batching = batchingFrom(flags);
  return {
    modelUri: flags.model,
    strategy: flags.strategy,
    ...(flags.stages !== undefined && { stages: flags.stages }),
    ...(flags.hold !== undefined && { holdSeconds: flags.hold }),
    ...(Object.keys(gates).length > 0 && { gates }),
    ...(flags.weight !== undefined && { weight: flags.weight }),
    ...(flags.stickyHeader !== undefined && { stickyHeader: flags.stickyHeader }),
    ...(flags.stickyField !== undefined && { stickyField: flags.stickyField }),
    ...(flags.metric !== undefined && { metric: flags.metric }),
    ...(flags.alpha !== undefined && { alpha: flags.alpha }),
    ...(flags.minSamples !== undefined && { minSamples: flags.minSamples }),
    ...(flags.minAgreement !== undefined && { minAgreement: flags.minAgreement }),
    ...(flags.autoPromote === true && { autoPromote: true }),
    ...(flags.replicas !== undefined && { replicas: flags.replicas }),
    ...(flags.maxConcurrency !== undefined && { maxConcurrency: flags.maxConcurrency }),
    ...(batching !== undefined && { batching }),
    ...(flags.reason !== undefined && { reason: flags.reason }),
  };
}

/**
 * The deployment's events from `offset` on (events are append-only and ordered, so an offset
 * token picks up where the last read ended).
 */
async function eventsFrom(
  client: YardClient,
  name: string,
  offset: number,
): Promise<DeploymentEvent[]> {
  return collect(
    paginate(
      (pageToken) =>
        client.deployments.events(name, {
          maxResults: 1000,
          pageToken: pageToken ?? encodePageToken(offset),
        }),
      (page) => page.events,
    ),
  );
}

/**
 * Follows the rollout just started on `io.err` until it has ended, and returns the deployment as
 * it ended. Each poll prints a line of figures (from /metrics), then every rollout decision
 * recorded since the last poll (from the events, so a stage passed between two polls is still
 * shown), then the current hold reason when it is new.
 */
async function followRollout(client: YardClient, name: string, io: CliIo): Promise<Deployment> {
  const started = Date.now();
  const history = await withServer(() => eventsFrom(client, name, 0));
  const start = history.findLastIndex((e) => e.action === 'rollout-started');
  let offset = start === -1 ? history.length : start + 1;
  let said = '';
  const say = (text: string): void => {
    if (text === '' || text === said) return;
    io.err(`        ${text}\n`);
    said = text;
  };
  await withServer(() =>
    client.deployments.waitForRollout(name, {
      intervalMs: WAIT_POLL_MS,
      onPoll: async (metrics) => {
        io.err(progressLine(metrics, Date.now() - started));
        const events = await eventsFrom(client, name, offset);
        offset += events.length;
        for (const event of events) if (event.action.startsWith('rollout-')) say(event.reason);
        say(metrics.rollout?.lastDecision ?? '');
      },
    }),
  );
  return withServer(() => client.deployments.get(name));
}

/** Prints a deployment in full, or as JSON. */
function show(io: CliIo, deployment: Deployment, json: boolean | undefined): void {
  io.out(json === true ? toJson(deployment) : deploymentDetails(deployment));
}

interface OutcomeFlags {
  variant?: string;
  key?: string;
  value?: number;
  file?: string;
  json?: boolean;
}

/** Reads `--file`: a JSON array of `{variant | key, value}` (or `{"outcomes": [...]}`). */
async function outcomesFromFile(path: string): Promise<OutcomeInput[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new CliError(`--file '${path}' cannot be read: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new CliError(`--file '${path}' is not JSON: ${(error as Error).message}`);
  }
  const list =
    typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as { outcomes?: unknown }).outcomes
      : parsed;
  if (!Array.isArray(list) || list.length === 0) {
    throw new CliError(
      `--file '${path}' must hold a non-empty JSON array of outcomes such as ` +
        '[{"variant": "v2", "value": 1}, {"key": "user-7", "value": 0}].',
    );
  }
  return list.map((item: unknown, index): OutcomeInput => {
    const o = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
    const { variant, key, value } = o;
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new CliError(
        `--file '${path}': outcome ${String(index)} needs a numeric 'value', got ${JSON.stringify(item)}.`,
      );
    }
    if (
      (variant !== undefined && typeof variant !== 'string') ||
      (key !== undefined && typeof key !== 'string') ||
      (variant === undefined && key === undefined)
    ) {
      throw new CliError(
        `--file '${path}': outcome ${String(index)} needs a 'variant' or a 'key' string, got ${JSON.stringify(item)}.`,
      );
    }
    return {
      value,
      ...(typeof variant === 'string' && { variant }),
      ...(typeof key === 'string' && { key }),
    };
  });
}

/** The outcomes the flags give: one from --variant/--key and --value, or a --file list. */
async function outcomesFrom(flags: OutcomeFlags): Promise<OutcomeInput[]> {
  if (flags.file !== undefined) {
    if (flags.variant !== undefined || flags.key !== undefined || flags.value !== undefined) {
      throw new CliError(
        '--file gives the outcomes; leave out --variant, --key and --value with it.',
      );
    }
    return outcomesFromFile(flags.file);
  }
  if (flags.value === undefined) {
    throw new CliError(
      'Give --value with --variant or --key (one outcome), or --file with a list of them.',
    );
  }
  if ((flags.variant === undefined) === (flags.key === undefined)) {
    throw new CliError(
      "Give --variant (the x-modelyard-variant header of the answer) or --key (the request's " +
        'sticky key) with --value, one of the two.',
    );
  }
  return [
    {
      value: flags.value,
      ...(flags.variant !== undefined && { variant: flags.variant }),
      ...(flags.key !== undefined && { key: flags.key }),
    },
  ];
}

/** Adds `rollout`, `promote`, `rollback`, `metrics` and `outcomes` to `yard deployments`. */
export function addRolloutCommands(deployments: Command, io: CliIo): void {
  deployments
    .command('rollout <name>')
    .description(
      'Roll a new model version out: canary (staged weights with health gates), blue-green ' +
        '(switch at once when warm), ab (weighted split with a significance test) or shadow ' +
        "(mirrored requests, compared with the primary's answers). The server promotes or rolls " +
        'back by itself on error rate and p95 latency against the primary.',
    )
    .requiredOption('--model <uri>', 'the candidate: models:/<model>/<version> or @<alias>')
    .addOption(
      new Option('--strategy <strategy>', 'how traffic moves to the candidate')
        .choices(ROLLOUT_STRATEGIES)
        .makeOptionMandatory(),
    )
    .option(
      '--stages <list>',
      'canary: candidate weights in %, ending at 100 (default 5,10,25,50,100)',
      numberList,
    )
    .option(
      '--hold <seconds>',
      'canary: hold per stage (one number, or one per stage but the last); blue-green: how long ' +
        'the old version stays warm after the switch; shadow: how long to mirror before deciding',
      holdSeconds,
    )
    .option(
      '--max-error-rate-increase <fraction>',
      "gate: largest candidate error rate minus the primary's (0.01 = 1 point)",
      nonNegativeNumber,
    )
    .option(
      '--max-p95-ratio <ratio>',
      "gate: largest candidate p95 latency over the primary's",
      positiveNumber,
    )
    .option(
      '--min-p95-increase-ms <ms>',
      'gate: the latency gate also needs the candidate this many ms slower (default 2)',
      nonNegativeNumber,
    )
    .option(
      '--min-requests <n>',
      'gate: requests each variant needs in a stage before it is judged',
      positiveInt,
    )
    .option(
      '--weight <percent>',
      "ab: the candidate's share (default 50); shadow: % mirrored",
      percentage,
    )
    .option(
      '--sticky-header <header>',
      'ab/canary: header whose value keeps a caller on one variant',
    )
    .option('--sticky-field <param>', 'ab/canary: request parameter holding the sticky key')
    .option(
      '--metric <name:kind[:lower]>',
      'ab: outcome metric, kind proportion (0/1, z-test) or mean (Welch t-test); :lower when smaller is better',
      outcomeMetric,
    )
    .option('--alpha <p>', 'ab: significance level (default 0.05)', fraction)
    .option(
      '--min-samples <n>',
      'ab: outcomes per variant before deciding (default 100)',
      positiveInt,
    )
    .option(
      '--min-agreement <fraction>',
      "shadow: share of answers agreeing with the primary's to promote (default 0.99)",
      fraction,
    )
    .option('--auto-promote', 'ab/shadow: promote or roll back by itself on the evidence')
    .option('--replicas <n>', "the candidate's replicas (default: the primary's)", positiveInt)
    .option(
      '--max-concurrency <n>',
      "requests one candidate replica runs at once (default: the primary's)",
      positiveInt,
    )
    .option('--max-batch-size <n>', "the candidate's dynamic batching: rows per batch", positiveInt)
    .option(
      '--max-latency-ms <n>',
      'dynamic batching: longest wait for a batch (default 5)',
      positiveInt,
    )
    .option('--no-batching', "serve the candidate unbatched (default: the primary's batching)")
    .option('--reason <text>', 'why (recorded on the deployment event)')
    .option(
      '--wait',
      'follow the rollout on stderr until it ends: exit 0 when completed, 1 when rolled back',
    )
    .option('--json', 'print the deployment as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ yard deployments rollout churn --model models:/churn/4 --strategy canary \\\n' +
        '      --stages 10,50,100 --hold 120 --max-error-rate-increase 0.01 --max-p95-ratio 1.2 --wait\n' +
        '  $ yard deployments rollout churn --model models:/churn@challenger --strategy blue-green --hold 600\n' +
        '  $ yard deployments rollout churn --model models:/churn/4 --strategy ab --weight 20 \\\n' +
        '      --sticky-header x-user-id --metric converted:proportion --min-samples 500 --auto-promote\n' +
        '  $ yard deployments rollout churn --model models:/churn/4 --strategy shadow --weight 10 \\\n' +
        '      --hold 3600 --min-agreement 0.98 --auto-promote\n',
    )
    .action(async (name: string, flags: RolloutFlags, command: Command) => {
      const input = rolloutInput(flags);
      const client = clientFor(command);
      let deployment = await withServer(() => client.deployments.rollout(name, input));
      if (flags.wait === true) {
        const candidate = deployment.rollout?.candidate ?? '?';
        io.err(
          `Rolling ${flags.model} out to '${name}' as '${candidate}' (${flags.strategy}); ` +
            'Ctrl-C stops watching, not the rollout.\n',
        );
        const started = Date.now();
        deployment = await followRollout(client, name, io);
        const seconds = ((Date.now() - started) / 1000).toFixed(1);
        io.err(`Rollout ${deployment.rollout?.phase ?? 'ended'} after ${seconds} s.\n`);
      }
      show(io, deployment, flags.json);
      if (flags.wait === true && deployment.rollout?.phase === 'rolled-back') {
        throw new CliError(
          `The rollout of '${name}' was rolled back: ${deployment.rollout.lastDecision}`,
        );
      }
    });

  deployments
    .command('promote <name>')
    .description(
      "Make the rollout's candidate the primary now, skipping the remaining stages or the wait for evidence.",
    )
    .option('--reason <text>', 'why (recorded on the deployment event)')
    .option('--json', 'print the deployment as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  $ yard deployments promote churn --reason "A/B looks good to the product team"\n',
    )
    .action(async (name: string, flags: { reason?: string; json?: boolean }, command: Command) => {
      const client = clientFor(command);
      const deployment = await withServer(() =>
        client.deployments.promote(name, {
          ...(flags.reason !== undefined && { reason: flags.reason }),
        }),
      );
      show(io, deployment, flags.json);
    });

  deployments
    .command('rollback <name>')
    .description(
      "Roll the rollout's candidate back now: the primary, still loaded, takes all traffic at once.",
    )
    .option('--reason <text>', 'why (recorded on the deployment event)')
    .option('--json', 'print the deployment as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  $ yard deployments rollback churn --reason "support tickets about wrong scores"\n',
    )
    .action(async (name: string, flags: { reason?: string; json?: boolean }, command: Command) => {
      const client = clientFor(command);
      const deployment = await withServer(() =>
        client.deployments.rollback(name, {
          ...(flags.reason !== undefined && { reason: flags.reason }),
        }),
      );
      show(io, deployment, flags.json);
    });

  deployments
    .command('metrics <name>')
    .description(
      'Live figures per variant: requests, errors and p50/p95/p99 latency in the current ' +
        'rollout stage, totals, shadow agreement, and the rollout with its A/B report.',
    )
    .option('--json', 'print the figures as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  $ yard deployments metrics churn\n  $ yard deployments metrics churn --json\n',
    )
    .action(async (name: string, flags: { json?: boolean }, command: Command) => {
      const client = clientFor(command);
      const metrics = await withServer(() => client.deployments.metrics(name));
      io.out(flags.json === true ? toJson(metrics) : metricsText(metrics));
    });

  deployments
    .command('outcomes <name>')
    .description(
      "Record outcomes of a running A/B test's metric, by the variant that answered (the " +
        "x-modelyard-variant response header) or the request's sticky key; prints the test's report.",
    )
    .option('--variant <variant>', 'the variant that answered, e.g. v2')
    .option('--key <key>', "or the request's sticky key (its header or parameter value)")
    .option('--value <number>', 'the outcome (proportion metrics: 0 or 1)', anyNumber)
    .option(
      '--file <path>',
      'a JSON array of outcomes: [{"variant": "v2", "value": 1}, {"key": "user-7", "value": 0}]',
    )
    .option('--json', 'print the A/B report as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ yard deployments outcomes churn --variant v2 --value 1\n' +
        '  $ yard deployments outcomes churn --key user-7 --value 0\n' +
        '  $ yard deployments outcomes churn --file outcomes.json --json\n',
    )
    .action(async (name: string, flags: OutcomeFlags, command: Command) => {
      const outcomes = await outcomesFrom(flags);
      const client = clientFor(command);
      const report = await withServer(() => client.deployments.recordOutcomes(name, outcomes));
      io.out(flags.json === true ? toJson(report) : abReportText(report));
    });
}
