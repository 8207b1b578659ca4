import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { InvalidParameterError } from '@modelyard/core';
import type { DatasetInput, LoggedModelStatus, Metric } from '@modelyard/core';
import {
  experimentJson,
  loggedModelJson,
  metricJson,
  runInfoJson,
  runJson,
} from '../mlflow-json.js';
import { RequestReader, invalidParameter } from '../request-reader.js';
import { toRunStatus, toViewType } from '../services/tracking-service.js';
import type { TrackingService } from '../services/tracking-service.js';
import { mlflowRoute } from './mlflow-routing.js';

function readMetric(item: Record<string, unknown>, index: number): Metric {
  const r = new RequestReader(item);
  const key = r.optString('key');
  if (key === undefined) {
    throw new InvalidParameterError(`Metric at index ${index} is missing its 'key'.`, { index });
  }
  return {
    key,
    value: r.double('value'),
    timestamp: r.optInt('timestamp') ?? Date.now(),
    step: r.optInt('step') ?? 0,
    modelId: r.optString('model_id') ?? null,
    datasetName: r.optString('dataset_name') ?? null,
    datasetDigest: r.optString('dataset_digest') ?? null,
  };
}

function readDatasetInput(item: Record<string, unknown>): DatasetInput {
  const r = new RequestReader(item);
  const raw = r.raw('dataset');
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw invalidParameter('datasets.dataset', raw, 'an object');
  }
  const d = new RequestReader(raw as Record<string, unknown>);
  return {
    dataset: {
      name: d.string('name'),
      digest: d.string('digest'),
      sourceType: d.string('source_type'),
      source: d.string('source'),
      schema: d.optString('schema') ?? null,
      profile: d.optString('profile') ?? null,
    },
    tags: r.keyValues('tags'),
  };
}

const LOGGED_MODEL_STATUSES: readonly LoggedModelStatus[] = [
  'LOGGED_MODEL_STATUS_UNSPECIFIED',
  'LOGGED_MODEL_PENDING',
  'LOGGED_MODEL_READY',
  'LOGGED_MODEL_UPLOAD_FAILED',
];

function toLoggedModelStatus(raw: string): LoggedModelStatus {
  const byNumber: Record<string, LoggedModelStatus> = {
    '0': 'LOGGED_MODEL_STATUS_UNSPECIFIED',
    '1': 'LOGGED_MODEL_PENDING',
    '2': 'LOGGED_MODEL_READY',
    '3': 'LOGGED_MODEL_UPLOAD_FAILED',
  };
  const status = byNumber[raw] ?? LOGGED_MODEL_STATUSES.find((s) => s === raw);
  if (status === undefined) {
    throw new InvalidParameterError(
      `Invalid logged model status '${raw}'. Valid statuses are ${LOGGED_MODEL_STATUSES.join(', ')}.`,
      { status: raw },
    );
  }
  return status;
}

/** Writes `{"metrics": [...]}` from a chunked history, one JSON fragment per chunk. */
async function* historyJson(
  first: IteratorResult<Metric[], void>,
  rest: AsyncGenerator<Metric[], void, undefined>,
): AsyncGenerator<string, void, undefined> {
  yield '{"metrics":[';
  let separator = '';
  if (first.done !== true) {
    yield JSON.stringify(first.value.map(metricJson)).slice(1, -1);
    separator = ',';
  }
  for await (const chunk of rest) {
    if (chunk.length === 0) continue;
    yield separator + JSON.stringify(chunk.map(metricJson)).slice(1, -1);
    separator = ',';
  }
  yield ']}';
}

/** MLflow's tracking endpoints: experiments, runs, metrics and MLflow 3 logged models. */
export function registerMlflowTrackingRoutes(
  app: FastifyInstance,
  tracking: TrackingService,
): void {
  // ---- experiments ----
  mlflowRoute(app, 'POST', '/experiments/create', async (r) => ({
    experiment_id: await tracking.createExperiment(
      r.string('name'),
      r.optString('artifact_location'),
      r.keyValues('tags'),
    ),
  }));
  mlflowRoute(app, 'GET', '/experiments/get', async (r) => ({
    experiment: experimentJson(await tracking.getExperiment(r.string('experiment_id'))),
  }));
  mlflowRoute(app, 'GET', '/experiments/get-by-name', async (r) => ({
    experiment: experimentJson(await tracking.getExperimentByName(r.string('experiment_name'))),
  }));
  mlflowRoute(app, ['GET', 'POST'], '/experiments/search', async (r) => {
    const result = await tracking.searchExperiments({
      filter: r.optString('filter'),
      orderBy: r.stringList('order_by'),
      maxResults: r.optInt('max_results'),
      pageToken: r.optString('page_token'),
      viewType: toViewType(r.optString('view_type')),
    });
    return { experiments: result.items.map(experimentJson), next_page_token: result.nextPageToken };
  });
  mlflowRoute(app, 'POST', '/experiments/update', async (r) => {
    await tracking.renameExperiment(r.string('experiment_id'), r.string('new_name'));
    return {};
  });
  mlflowRoute(app, 'POST', '/experiments/delete', async (r) => {
    await tracking.deleteExperiment(r.string('experiment_id'));
    return {};
  });
  mlflowRoute(app, 'POST', '/experiments/restore', async (r) => {
    await tracking.restoreExperiment(r.string('experiment_id'));
    return {};
  });
  mlflowRoute(app, 'POST', '/experiments/set-experiment-tag', async (r) => {
    await tracking.setExperimentTag(r.string('experiment_id'), {
      key: r.string('key'),
      value: r.optString('value') ?? '',
    });
    return {};
  });
  mlflowRoute(app, 'POST', '/experiments/delete-experiment-tag', async (r) => {
    await tracking.deleteExperimentTag(r.string('experiment_id'), r.string('key'));
    return {};
  });

  // ---- runs ----
  mlflowRoute(app, 'POST', '/runs/create', async (r) => ({
    run: runJson(
      await tracking.createRun({
        experimentId: r.optString('experiment_id'),
        userId: r.optString('user_id'),
        runName: r.optString('run_name'),
        startTime: r.optInt('start_time'),
        tags: r.keyValues('tags'),
      }),
    ),
  }));
  mlflowRoute(app, 'POST', '/runs/update', async (r) => {
    const status = r.optString('status');
    const info = await tracking.updateRun(r.runId(), {
      status: status === undefined ? undefined : toRunStatus(status),
      endTime: r.optInt('end_time'),
      runName: r.optString('run_name') || undefined,
    });
    return { run_info: runInfoJson(info) };
  });
  mlflowRoute(app, 'POST', '/runs/delete', async (r) => {
    await tracking.deleteRun(r.runId());
    return {};
  });
  mlflowRoute(app, 'POST', '/runs/restore', async (r) => {
    await tracking.restoreRun(r.runId());
    return {};
  });
  mlflowRoute(app, 'GET', '/runs/get', async (r) => ({
    run: runJson(await tracking.getRun(r.runId())),
  }));
  mlflowRoute(app, ['GET', 'POST'], '/runs/search', async (r) => {
    const result = await tracking.searchRuns({
      experimentIds: r.stringList('experiment_ids'),
      filter: r.optString('filter'),
      orderBy: r.stringList('order_by'),
      maxResults: r.optInt('max_results'),
      pageToken: r.optString('page_token'),
      viewType: toViewType(r.optString('run_view_type'), 'run_view_type'),
    });
    return { runs: result.items.map(runJson), next_page_token: result.nextPageToken };
  });
  mlflowRoute(app, 'POST', '/runs/log-metric', async (r) => {
    await tracking.logBatch(r.runId(), {
      metrics: [
        {
          key: r.string('key'),
          value: r.double('value'),
          timestamp: r.optInt('timestamp') ?? Date.now(),
          step: r.optInt('step') ?? 0,
          modelId: r.optString('model_id') ?? null,
          datasetName: r.optString('dataset_name') ?? null,
          datasetDigest: r.optString('dataset_digest') ?? null,
        },
      ],
      params: [],
      tags: [],
    });
    return {};
  });
  mlflowRoute(app, 'POST', '/runs/log-parameter', async (r) => {
    const value = r.optString('value');
    if (value === undefined) throw invalidParameter('value', r.raw('value'), 'a string');
    await tracking.logBatch(r.runId(), {
      metrics: [],
      params: [{ key: r.string('key'), value }],
      tags: [],
    });
    return {};
  });
  mlflowRoute(app, 'POST', '/runs/set-tag', async (r) => {
    await tracking.logBatch(r.runId(), {
      metrics: [],
      params: [],
      tags: [{ key: r.string('key'), value: r.optString('value') ?? '' }],
    });
    return {};
  });
  mlflowRoute(app, 'POST', '/runs/delete-tag', async (r) => {
    await tracking.deleteRunTag(r.runId(), r.string('key'));
    return {};
  });
  mlflowRoute(app, 'POST', '/runs/log-batch', async (r) => {
    await tracking.logBatch(r.runId(), {
      metrics: r.objectList('metrics').map(readMetric),
      params: r.keyValues('params'),
      tags: r.keyValues('tags'),
    });
    return {};
  });
  mlflowRoute(app, 'POST', '/runs/log-model', async (r) => {
    // MLflow 2's log-model appends the model's JSON to the run's `mlflow.log-model.history` tag.
    const runId = r.runId();
    const modelJson = r.string('model_json');
    let model: unknown;
    try {
      model = JSON.parse(modelJson);
    } catch {
      throw invalidParameter('model_json', modelJson, 'a JSON object');
    }
    const run = await tracking.getRun(runId);
    const previous = run.data.tags.find((t) => t.key === 'mlflow.log-model.history')?.value;
    let history: unknown[] = [];
    if (previous !== undefined) {
      try {
        const parsed: unknown = JSON.parse(previous);
        if (Array.isArray(parsed)) history = parsed;
      } catch {
        history = [];
      }
    }
    history.push(model);
    await tracking.logBatch(runId, {
      metrics: [],
      params: [],
      tags: [{ key: 'mlflow.log-model.history', value: JSON.stringify(history) }],
    });
    return {};
  });
  mlflowRoute(app, 'POST', '/runs/log-inputs', async (r) => {
    await tracking.logInputs(
      r.runId(),
      r.objectList('datasets').map(readDatasetInput),
      r.objectList('models').map((m) => ({ modelId: new RequestReader(m).string('model_id') })),
    );
    return {};
  });
  mlflowRoute(app, 'POST', '/runs/outputs', async (r) => {
    await tracking.logOutputs(
      r.runId(),
      r.objectList('models').map((m) => {
        const mr = new RequestReader(m);
        return { modelId: mr.string('model_id'), step: mr.optInt('step') ?? 0 };
      }),
    );
    return {};
  });

  // ---- metrics ----
  mlflowRoute(app, 'GET', '/metrics/get-history', async (r, _request, reply) => {
    const runId = r.runId();
    const key = r.string('metric_key');
    const maxResults = r.optInt('max_results');
    const pageToken = r.optString('page_token');
    if (maxResults === undefined && pageToken === undefined) {
      // The whole history in one answer: stream it chunk by chunk, so a run with millions of
      // points never sits in memory at once. Errors (no such run) surface before any byte.
      const chunks = tracking.streamMetricHistory(runId, key);
      const first = await chunks.next();
      await reply.type('application/json').send(Readable.from(historyJson(first, chunks)));
      return null;
    }
    const result = await tracking.getMetricHistory(runId, key, maxResults, pageToken);
    return { metrics: result.items.map(metricJson), next_page_token: result.nextPageToken };
  });
  mlflowRoute(app, 'GET', '/metrics/get-history-bulk-interval', async (r) => {
    const metrics = await tracking.getMetricHistoryBulkInterval({
      runIds: r.stringList('run_ids'),
      metricKey: r.string('metric_key'),
      startStep: r.optInt('start_step'),
      endStep: r.optInt('end_step'),
      maxResults: r.optInt('max_results'),
    });
    return { metrics: metrics.map(metricJson) };
  });

  // ---- logged models (MLflow 3) ----
  mlflowRoute(app, 'POST', '/logged-models', async (r) => ({
    model: loggedModelJson(
      await tracking.createLoggedModel({
        experimentId: r.string('experiment_id'),
        name: r.optString('name'),
        modelType: r.optString('model_type'),
        sourceRunId: r.optString('source_run_id'),
        params: r.keyValues('params'),
        tags: r.keyValues('tags'),
      }),
    ),
  }));
  mlflowRoute(app, ['GET', 'POST'], '/logged-models/search', async (r) => {
    const result = await tracking.searchLoggedModels({
      experimentIds: r.stringList('experiment_ids'),
      filter: r.optString('filter'),
      orderBy: r.objectList('order_by').map((o) => {
        const or = new RequestReader(o);
        return {
          field_name: or.optString('field_name'),
          ascending: or.optBool('ascending'),
          dataset_name: or.optString('dataset_name'),
          dataset_digest: or.optString('dataset_digest'),
        };
      }),
      maxResults: r.optInt('max_results'),
      pageToken: r.optString('page_token'),
    });
    return { models: result.items.map(loggedModelJson), next_page_token: result.nextPageToken };
  });
  mlflowRoute(app, 'GET', '/logged-models/:model_id', async (r) => ({
    model: loggedModelJson(await tracking.getLoggedModel(r.string('model_id'))),
  }));
  mlflowRoute(app, 'PATCH', '/logged-models/:model_id', async (r) => ({
    model: loggedModelJson(
      await tracking.finalizeLoggedModel(
        r.string('model_id'),
        toLoggedModelStatus(r.string('status')),
      ),
    ),
  }));
  mlflowRoute(app, 'DELETE', '/logged-models/:model_id', async (r) => {
    await tracking.deleteLoggedModel(r.string('model_id'));
    return {};
  });
  mlflowRoute(app, 'PATCH', '/logged-models/:model_id/tags', async (r) => {
    await tracking.setLoggedModelTags(r.string('model_id'), r.keyValues('tags'));
    return {};
  });
  mlflowRoute(app, 'DELETE', '/logged-models/:model_id/tags/:tag_key', async (r) => {
    await tracking.deleteLoggedModelTag(r.string('model_id'), r.string('tag_key'));
    return {};
  });
  mlflowRoute(app, 'POST', '/logged-models/:model_id/params', async (r) => {
    await tracking.logLoggedModelParams(r.string('model_id'), r.keyValues('params'));
    return {};
  });
}
