import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '@modelyard/client';
import type { RunningServer } from '@modelyard/server';
import { parseAllDocuments } from 'yaml';
import { Deployment as K8sDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { startIrisServer } from '../test-support/iris-server.js';
import type { IrisServer } from '../test-support/iris-server.js';
import { runYard as yard } from '../test-support/run-yard.js';

/** Validates one parsed document with the kubernetes-models class of its kind. */
function validate(object: { kind: string }): void {
  switch (object.kind) {
    case 'ConfigMap':
      new ConfigMap(object as ConstructorParameters<typeof ConfigMap>[0]).validate();
      return;
    case 'Deployment':
      new K8sDeployment(object as ConstructorParameters<typeof K8sDeployment>[0]).validate();
      return;
    case 'Service':
      new Service(object as ConstructorParameters<typeof Service>[0]).validate();
      return;
    case 'HorizontalPodAutoscaler':
      new HorizontalPodAutoscaler(
        object as ConstructorParameters<typeof HorizontalPodAutoscaler>[0],
      ).validate();
      return;
    default:
      throw new Error(`Unexpected kind '${object.kind}'`);
  }
}

/** Parses the YAML stream and validates every document with its kubernetes-models class. */
function validated(yaml: string): Record<string, unknown>[] {
  return parseAllDocuments(yaml).map((document) => {
    expect(document.errors).toEqual([]);
    const object = document.toJS() as { kind: string };
    validate(object);
    return object;
  });
}

describe('yard deployments manifest against a real server', () => {
  let iris: IrisServer;
  let server: RunningServer;

  beforeAll(async () => {
    iris = await startIrisServer('yard-cli-manifest-');
    server = iris.server;
    const client = createClient({ baseUrl: server.url });
    await client.deployments.create({
      name: 'iris-scorer',
      modelUri: 'models:/iris@champion',
      replicas: 3,
      maxConcurrency: 6,
    });
  });

  afterAll(async () => {
    await iris.close();
  });

  const stores = [
    '--backend-store-uri',
    'postgresql://yard@db/yard',
    '--artifacts-destination',
    's3://ml/artifacts',
  ];

  it('writes valid ConfigMap, Deployment, Service and autoscaler for a stored deployment', async () => {
    const result = await yard([
      '--server',
      server.url,
      'deployments',
      'manifest',
      'iris-scorer',
      ...stores,
      '--image',
      'registry.example.com/modelyard-server:0.1.0',
      '--namespace',
      'ml',
      '--min-replicas',
      '2',
      '--max-replicas',
      '6',
      '--cpu-target',
      '60',
    ]);
    expect(result.error).toBeUndefined();
    const [configMap, deployment, service, autoscaler] = validated(result.out);
    expect(configMap).toMatchObject({
      kind: 'ConfigMap',
      metadata: { name: 'yard-iris-scorer', namespace: 'ml' },
      data: {
        MODELYARD_DEPLOYMENT_NAME: 'iris-scorer',
        MODELYARD_DEPLOYMENT_MODEL_URI: 'models:/iris@champion',
        MODELYARD_DEPLOYMENT_MODEL_NAME: 'iris',
        MODELYARD_DEPLOYMENT_MODEL_VERSION: '1',
        MODELYARD_DEPLOYMENT_REPLICAS: '3',
        MODELYARD_DEPLOYMENT_MAX_CONCURRENCY: '6',
        MODELYARD_BACKEND_STORE_URI: 'postgresql://yard@db/yard',
      },
    });
    expect(deployment).toMatchObject({
      kind: 'Deployment',
      metadata: {
        name: 'yard-iris-scorer',
        labels: { 'app.kubernetes.io/instance': 'iris-scorer' },
      },
      spec: {
        replicas: 3,
        template: {
          spec: {
            containers: [
              {
                image: 'registry.example.com/modelyard-server:0.1.0',
                readinessProbe: { httpGet: { path: '/v2/models/iris-scorer/ready' } },
                livenessProbe: { httpGet: { path: '/health' } },
              },
            ],
          },
        },
      },
    });
    expect(service).toMatchObject({
      kind: 'Service',
      spec: { ports: [{ port: 80, targetPort: 'http' }] },
    });
    expect(autoscaler).toMatchObject({
      apiVersion: 'autoscaling/v2',
      spec: { minReplicas: 2, maxReplicas: 6 },
    });
    // The probe path the manifest names answers on the real server once the model is loaded.
    await createClient({ baseUrl: server.url }).deployments.waitUntilSettled('iris-scorer', {
      intervalMs: 100,
    });
    const ready = await fetch(`${server.url}/v2/models/iris-scorer/ready`);
    expect(ready.status).toBe(200);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  });

  it('writes to a file with --out', async () => {
    const file = join(iris.dir, 'iris.yaml');
    const result = await yard([
      '--server',
      server.url,
      'deployments',
      'manifest',
      'iris-scorer',
      '--env-secret',
      'yard-stores',
      '--out',
      file,
    ]);
    expect(result.error).toBeUndefined();
    expect(result.out).toBe('');
    expect(result.err).toContain(file);
    const objects = validated(await readFile(file, 'utf8'));
    expect(objects).toHaveLength(4);
    expect(objects[1]).toMatchObject({
      spec: {
        template: {
          spec: { containers: [{ image: expect.stringMatching(/^modelyard-server:/) as unknown }] },
        },
      },
    });
  });

  it('refuses min > max, a bad namespace and an unknown deployment, naming the value', async () => {
    const minMax = await yard([
      '--server',
      server.url,
      'deployments',
      'manifest',
      'iris-scorer',
      ...stores,
      '--min-replicas',
      '5',
      '--max-replicas',
      '2',
    ]);
    expect(minMax.error?.message).toMatch(/--min-replicas 5 is greater than --max-replicas 2/);
    expect(minMax.out).toBe('');
    const namespace = await yard([
      '--server',
      server.url,
      'deployments',
      'manifest',
      'iris-scorer',
      ...stores,
      '--namespace',
      'Not OK',
    ]);
    expect(namespace.error?.message).toMatch(/Invalid namespace 'Not OK'/);
    const zero = await yard([
      '--server',
      server.url,
      'deployments',
      'manifest',
      'iris-scorer',
      ...stores,
      '--max-replicas',
      '0',
    ]);
    expect(zero.error?.message).toMatch(/expected a positive integer, got '0'/);
    const missing = await yard([
      '--server',
      server.url,
      'deployments',
      'manifest',
      'nope',
      ...stores,
    ]);
    expect(missing.error?.message).toMatch(/nope/);
  });
});
