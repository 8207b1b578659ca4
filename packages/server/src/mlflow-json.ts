import type {
  DatasetInput,
  Experiment,
  LoggedModel,
  Metric,
  ModelVersion,
  RegisteredModel,
  Run,
  RunInfo,
  Tag,
} from '@modelyard/core';
import { jsonDouble } from './json.js';

/**
 * Serialisers from domain entities to MLflow's JSON (protobuf JSON with snake_case names and
 * int64 as numbers, as MLflow's `message_to_json` writes). Empty repeated fields are omitted the
 * way protobuf omits them, so responses stay small.
 */

type Json = Record<string, unknown>;

function tags(list: Tag[]): Json[] | undefined {
  return list.length === 0 ? undefined : list.map((t) => ({ key: t.key, value: t.value }));
}

export function experimentJson(e: Experiment): Json {
  return {
    experiment_id: e.experimentId,
    name: e.name,
    artifact_location: e.artifactLocation,
    lifecycle_stage: e.lifecycleStage,
    last_update_time: e.lastUpdateTime,
    creation_time: e.creationTime,
    tags: tags(e.tags),
  };
}

export function metricJson(m: Metric): Json {
  const out: Json = {
    key: m.key,
    value: jsonDouble(m.value),
    timestamp: m.timestamp,
    step: m.step,
  };
  if (m.datasetName != null) out.dataset_name = m.datasetName;
  if (m.datasetDigest != null) out.dataset_digest = m.datasetDigest;
  if (m.modelId != null) out.model_id = m.modelId;
  if (m.runId !== undefined) out.run_id = m.runId;
  return out;
}

export function runInfoJson(i: RunInfo): Json {
  return {
    run_id: i.runId,
    run_uuid: i.runId,
    run_name: i.runName,
    experiment_id: i.experimentId,
    user_id: i.userId,
    status: i.status,
    start_time: i.startTime,
    end_time: i.endTime ?? undefined,
    artifact_uri: i.artifactUri,
    lifecycle_stage: i.lifecycleStage,
  };
}

function datasetInputJson(d: DatasetInput): Json {
  return {
    tags: tags(d.tags),
    dataset: {
      name: d.dataset.name,
      digest: d.dataset.digest,
      source_type: d.dataset.sourceType,
      source: d.dataset.source,
      schema: d.dataset.schema ?? undefined,
      profile: d.dataset.profile ?? undefined,
    },
  };
}

export function runJson(r: Run): Json {
  const data: Json = {};
  if (r.data.metrics.length > 0) data.metrics = r.data.metrics.map(metricJson);
  if (r.data.params.length > 0)
    data.params = r.data.params.map((p) => ({ key: p.key, value: p.value }));
  if (r.data.tags.length > 0) data.tags = tags(r.data.tags);
  const inputs: Json = {};
  if (r.inputs.datasetInputs.length > 0)
    inputs.dataset_inputs = r.inputs.datasetInputs.map(datasetInputJson);
  if (r.inputs.modelInputs.length > 0) {
    inputs.model_inputs = r.inputs.modelInputs.map((m) => ({ model_id: m.modelId }));
  }
  const outputs: Json = {};
  if (r.outputs.modelOutputs.length > 0) {
    outputs.model_outputs = r.outputs.modelOutputs.map((m) => ({
      model_id: m.modelId,
      step: m.step,
    }));
  }
  return { info: runInfoJson(r.info), data, inputs, outputs };
}

export function loggedModelJson(m: LoggedModel): Json {
  return {
    info: {
      model_id: m.modelId,
      experiment_id: m.experimentId,
      name: m.name,
      creation_timestamp_ms: m.creationTimestampMs,
      last_updated_timestamp_ms: m.lastUpdatedTimestampMs,
      artifact_uri: m.artifactUri,
      status: m.status,
      model_type: m.modelType ?? undefined,
      source_run_id: m.sourceRunId ?? undefined,
      status_message: m.statusMessage ?? undefined,
      tags: tags(m.tags),
    },
    data: {
      params:
        m.params.length === 0 ? undefined : m.params.map((p) => ({ key: p.key, value: p.value })),
      metrics: m.metrics.length === 0 ? undefined : m.metrics.map(metricJson),
    },
  };
}

export function modelVersionJson(v: ModelVersion): Json {
  return {
    name: v.name,
    version: v.version,
    creation_timestamp: v.creationTimestamp,
    last_updated_timestamp: v.lastUpdatedTimestamp,
    user_id: v.userId || undefined,
    current_stage: v.currentStage,
    description: v.description,
    source: v.source,
    run_id: v.runId || undefined,
    status: v.status,
    status_message: v.statusMessage || undefined,
    tags: tags(v.tags),
    run_link: v.runLink || undefined,
    aliases: v.aliases.length === 0 ? undefined : v.aliases,
    model_id: v.modelId ?? undefined,
  };
}

export function registeredModelJson(m: RegisteredModel): Json {
  return {
    name: m.name,
    creation_timestamp: m.creationTimestamp,
    last_updated_timestamp: m.lastUpdatedTimestamp,
    description: m.description,
    latest_versions:
      m.latestVersions.length === 0 ? undefined : m.latestVersions.map(modelVersionJson),
    tags: tags(m.tags),
    aliases:
      m.aliases.length === 0
        ? undefined
        : m.aliases.map((a) => ({ alias: a.alias, version: a.version })),
  };
}
