import type { FastifyInstance } from 'fastify';
import { InvalidParameterError, NotFoundError } from '@modelyard/core';
import { modelVersionJson, registeredModelJson } from '../mlflow-json.js';
import type { RegistryService } from '../services/registry-service.js';
import { mlflowRoute } from './mlflow-routing.js';

/** MLflow's model registry endpoints (`model_registry.proto`). */
export function registerMlflowRegistryRoutes(
  app: FastifyInstance,
  registry: RegistryService,
): void {
  // ---- registered models ----
  mlflowRoute(app, 'POST', '/registered-models/create', async (r) => ({
    registered_model: registeredModelJson(
      await registry.createRegisteredModel(
        r.string('name'),
        r.optString('description'),
        r.keyValues('tags'),
      ),
    ),
  }));
  mlflowRoute(app, 'GET', '/registered-models/get', async (r) => ({
    registered_model: registeredModelJson(await registry.getRegisteredModel(r.string('name'))),
  }));
  mlflowRoute(app, 'POST', '/registered-models/rename', async (r) => ({
    registered_model: registeredModelJson(
      await registry.renameRegisteredModel(r.string('name'), r.string('new_name')),
    ),
  }));
  mlflowRoute(app, 'PATCH', '/registered-models/update', async (r) => ({
    registered_model: registeredModelJson(
      await registry.updateRegisteredModel(r.string('name'), r.optString('description') ?? ''),
    ),
  }));
  mlflowRoute(app, 'DELETE', '/registered-models/delete', async (r) => {
    await registry.deleteRegisteredModel(r.string('name'));
    return {};
  });
  mlflowRoute(app, ['GET', 'POST'], '/registered-models/search', async (r) => {
    const result = await registry.searchRegisteredModels({
      filter: r.optString('filter'),
      orderBy: r.stringList('order_by'),
      maxResults: r.optInt('max_results'),
      pageToken: r.optString('page_token'),
    });
    return {
      registered_models: result.items.map(registeredModelJson),
      next_page_token: result.nextPageToken,
    };
  });
  mlflowRoute(app, ['GET', 'POST'], '/registered-models/get-latest-versions', async (r) => ({
    model_versions: (
      await registry.getLatestVersions(r.string('name'), r.stringList('stages'))
    ).map(modelVersionJson),
  }));
  mlflowRoute(app, 'POST', '/registered-models/set-tag', async (r) => {
    await registry.setRegisteredModelTag(r.string('name'), {
      key: r.string('key'),
      value: r.optString('value') ?? '',
    });
    return {};
  });
  mlflowRoute(app, 'DELETE', '/registered-models/delete-tag', async (r) => {
    await registry.deleteRegisteredModelTag(r.string('name'), r.string('key'));
    return {};
  });
  mlflowRoute(app, 'POST', '/registered-models/alias', async (r) => {
    await registry.setAlias(r.string('name'), r.string('alias'), r.string('version'));
    return {};
  });
  mlflowRoute(app, 'DELETE', '/registered-models/alias', async (r) => {
    await registry.deleteAlias(r.string('name'), r.string('alias'));
    return {};
  });
  mlflowRoute(app, 'GET', '/registered-models/alias', async (r) => {
    try {
      return {
        model_version: modelVersionJson(
          await registry.getModelVersionByAlias(r.string('name'), r.string('alias')),
        ),
      };
    } catch (error) {
      // MLflow answers a missing alias (of an existing model) with INVALID_PARAMETER_VALUE.
      if (error instanceof NotFoundError && error.context.alias !== undefined) {
        throw new InvalidParameterError(error.message, error.context);
      }
      throw error;
    }
  });

  // ---- model versions ----
  mlflowRoute(app, 'POST', '/model-versions/create', async (r) => ({
    model_version: modelVersionJson(
      await registry.createModelVersion({
        name: r.string('name'),
        source: r.string('source'),
        runId: r.optString('run_id') || undefined,
        runLink: r.optString('run_link') || undefined,
        description: r.optString('description'),
        tags: r.keyValues('tags'),
        modelId: r.optString('model_id') || undefined,
      }),
    ),
  }));
  mlflowRoute(app, 'GET', '/model-versions/get', async (r) => ({
    model_version: modelVersionJson(
      await registry.getModelVersion(r.string('name'), r.string('version')),
    ),
  }));
  mlflowRoute(app, 'PATCH', '/model-versions/update', async (r) => ({
    model_version: modelVersionJson(
      await registry.updateModelVersion(
        r.string('name'),
        r.string('version'),
        r.optString('description') ?? '',
      ),
    ),
  }));
  mlflowRoute(app, 'DELETE', '/model-versions/delete', async (r) => {
    await registry.deleteModelVersion(r.string('name'), r.string('version'));
    return {};
  });
  mlflowRoute(app, ['GET', 'POST'], '/model-versions/search', async (r) => {
    const result = await registry.searchModelVersions({
      filter: r.optString('filter'),
      orderBy: r.stringList('order_by'),
      maxResults: r.optInt('max_results'),
      pageToken: r.optString('page_token'),
    });
    return {
      model_versions: result.items.map(modelVersionJson),
      next_page_token: result.nextPageToken,
    };
  });
  mlflowRoute(app, 'POST', '/model-versions/transition-stage', async (r) => ({
    model_version: modelVersionJson(
      await registry.transitionStage(
        r.string('name'),
        r.string('version'),
        r.string('stage'),
        r.optBool('archive_existing_versions') ?? false,
      ),
    ),
  }));
  mlflowRoute(app, 'GET', '/model-versions/get-download-uri', async (r) => ({
    artifact_uri: await registry.getDownloadUri(r.string('name'), r.string('version')),
  }));
  mlflowRoute(app, 'POST', '/model-versions/set-tag', async (r) => {
    await registry.setModelVersionTag(r.string('name'), r.string('version'), {
      key: r.string('key'),
      value: r.optString('value') ?? '',
    });
    return {};
  });
  mlflowRoute(app, 'DELETE', '/model-versions/delete-tag', async (r) => {
    await registry.deleteModelVersionTag(r.string('name'), r.string('version'), r.string('key'));
    return {};
  });
}
