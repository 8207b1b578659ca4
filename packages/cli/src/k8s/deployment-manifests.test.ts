import { describe, expect, it } from 'vitest';
import type { Deployment } from '@modelyard/core';
import { Deployment as K8sDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { parseAllDocuments } from 'yaml';
import {
  DEFAULT_MANIFEST_OPTIONS,
  ManifestError,
  buildDeploymentManifests,
  renderManifests,
} from './deployment-manifests.js';
import type { ManifestOptions } from './deployment-manifests.js';

const churn: Deployment = {
  name: 'churn',
  description: 'churn scorer',
  status: 'ready',
  statusReason: '',
  rollout: null,
  createdAt: 1_700_000_000_000,
  updatedAt: 1_700_000_000_000,
  variants: [
    {
      name: 'primary',
      modelUri: 'models:/churn@champion',
      modelName: 'churn',
      modelVersion: '3',
      role: 'primary',
      weight: 100,
      replicas: 2,
      maxConcurrency: 8,
      batching: null,
      status: 'ready',
      statusReason: '',
    },
  ],
};

const options: ManifestOptions = {
  ...DEFAULT_MANIFEST_OPTIONS,
  resources: { ...DEFAULT_MANIFEST_OPTIONS.resources },
  image: 'registry.example.com/modelyard-server:0.1.0',
  namespace: 'ml',
  backendStoreUri: 'postgresql://yard@db/yard',
  artifactsDestination: 's3://ml/artifacts',
};

/** Parses a YAML stream back into objects of the kubernetes-models classes, validating each. */
function parseAndValidate(yaml: string): {
  configMap: ConfigMap;
  deployment: K8sDeployment;
  service: Service;
  autoscaler: HorizontalPodAutoscaler;
} {
  const documents = parseAllDocuments(yaml);
  const objects = documents.map((document) => {
    expect(document.errors).toEqual([]);
    return document.toJS() as { kind: string };
  });
  expect(objects.map((o) => o.kind)).toEqual([
    'ConfigMap',
    'Deployment',
    'Service',
    'HorizontalPodAutoscaler',
  ]);
  const [configMap, deployment, service, autoscaler] = [
    new ConfigMap(objects[0] as ConstructorParameters<typeof ConfigMap>[0]),
    new K8sDeployment(objects[1] as ConstructorParameters<typeof K8sDeployment>[0]),
    new Service(objects[2] as ConstructorParameters<typeof Service>[0]),
    new HorizontalPodAutoscaler(
      objects[3] as ConstructorParameters<typeof HorizontalPodAutoscaler>[0],
    ),
  ];
  for (const object of [configMap, deployment, service, autoscaler]) {
    expect(() => {
      object.validate();
    }).not.toThrow();
  }
  return { configMap, deployment, service, autoscaler };
}

describe('buildDeploymentManifests', () => {
  it('renders four objects that validate against the Kubernetes schema after a YAML round trip', () => {
    const yaml = renderManifests(buildDeploymentManifests(churn, options), 'test header');
    expect(yaml.startsWith('# test header\n')).toBe(true);
    const { configMap, deployment, service, autoscaler } = parseAndValidate(yaml);

    const labels = {
      'app.kubernetes.io/name': 'modelyard',
      'app.kubernetes.io/instance': 'churn',
      'app.kubernetes.io/component': 'serving',
      'app.kubernetes.io/managed-by': 'yard',
    };
    for (const object of [configMap, deployment, service, autoscaler]) {
      expect(object.metadata?.name).toBe('yard-churn');
      expect(object.metadata?.namespace).toBe('ml');
      expect(object.metadata?.labels).toEqual(labels);
    }

    expect(configMap.data).toMatchObject({
      MODELYARD_DEPLOYMENT_NAME: 'churn',
      MODELYARD_DEPLOYMENT_MODEL_URI: 'models:/churn@champion',
      MODELYARD_DEPLOYMENT_MODEL_NAME: 'churn',
      MODELYARD_DEPLOYMENT_MODEL_VERSION: '3',
      MODELYARD_DEPLOYMENT_REPLICAS: '2',
      MODELYARD_DEPLOYMENT_MAX_CONCURRENCY: '8',
      MODELYARD_HOST: '0.0.0.0',
      MODELYARD_PORT: '5000',
      MODELYARD_BACKEND_STORE_URI: 'postgresql://yard@db/yard',
      MODELYARD_ARTIFACTS_DESTINATION: 's3://ml/artifacts',
    });

    const spec = deployment.spec!;
    expect(spec.replicas).toBe(2);
    expect(spec.selector.matchLabels).toEqual({
      'app.kubernetes.io/name': 'modelyard',
      'app.kubernetes.io/instance': 'churn',
      'app.kubernetes.io/component': 'serving',
    });
    const container = spec.template.spec!.containers[0]!;
    expect(container.image).toBe('registry.example.com/modelyard-server:0.1.0');
    expect(container.ports).toEqual([{ name: 'http', containerPort: 5000, protocol: 'TCP' }]);
    expect(container.envFrom).toEqual([{ configMapRef: { name: 'yard-churn' } }]);
    expect(container.readinessProbe?.httpGet).toEqual({
      path: '/v2/models/churn/ready',
      port: 'http',
    });
    expect(container.livenessProbe?.httpGet).toEqual({ path: '/health', port: 'http' });
    expect(container.resources).toEqual({
      requests: { cpu: '500m', memory: '512Mi' },
      limits: { cpu: '2', memory: '2Gi' },
    });
    expect(spec.template.spec?.securityContext?.runAsNonRoot).toBe(true);

    expect(service.spec?.selector).toEqual(spec.selector.matchLabels);
    expect(service.spec?.ports).toEqual([
      { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' },
    ]);

    expect(autoscaler.apiVersion).toBe('autoscaling/v2');
    expect(autoscaler.spec).toEqual({
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'yard-churn' },
      minReplicas: 2,
      maxReplicas: 4,
      metrics: [
        {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } },
        },
      ],
    });
  });

  it('takes the autoscaler bounds, CPU target and a Secret from the options', () => {
    const manifests = buildDeploymentManifests(churn, {
      ...options,
      namespace: undefined,
      backendStoreUri: undefined,
      artifactsDestination: undefined,
      envSecret: 'yard-stores',
      minReplicas: 3,
      maxReplicas: 10,
      cpuTargetPercent: 55,
    });
    const { configMap, deployment, autoscaler } = parseAndValidate(renderManifests(manifests, 'h'));
    expect(configMap.metadata?.namespace).toBeUndefined();
    expect(configMap.data?.MODELYARD_BACKEND_STORE_URI).toBeUndefined();
    expect(deployment.spec?.template.spec?.containers[0]?.envFrom).toEqual([
      { configMapRef: { name: 'yard-churn' } },
      { secretRef: { name: 'yard-stores' } },
    ]);
    expect(autoscaler.spec?.minReplicas).toBe(3);
    expect(autoscaler.spec?.maxReplicas).toBe(10);
    expect(autoscaler.spec?.metrics?.[0]?.resource?.target.averageUtilization).toBe(55);
  });

  it.each([
    [{ minReplicas: 5, maxReplicas: 2 }, /--min-replicas 5 is greater than --max-replicas 2/],
    [{ namespace: 'Bad_NS' }, /Invalid namespace 'Bad_NS'/],
    [{ image: 'has space:1' }, /Invalid image 'has space:1'/],
    [{ cpuTargetPercent: 0 }, /--cpu-target must be an integer from 1 to 100, got 0/],
    [{ cpuTargetPercent: 150 }, /--cpu-target must be an integer from 1 to 100, got 150/],
    [{ maxReplicas: 1.5 }, /--max-replicas must be an integer from 1 to 1000, got 1.5/],
    [{ envSecret: 'Not_A_Secret' }, /Invalid Secret name 'Not_A_Secret'/],
    [
      { backendStoreUri: 'sqlite:///data/yard.db' },
      /'sqlite:\/\/\/data\/yard.db' is a SQLite file/,
    ],
    [{ backendStoreUri: undefined }, /must read the metadata and artifact stores/],
    [{ resources: { ...options.resources, memoryLimit: '2 GB' } }, /Invalid --memory-limit '2 GB'/],
  ] satisfies [Partial<ManifestOptions>, RegExp][])(
    'refuses bad options (%o) with a message naming the value',
    (bad, message) => {
      expect(() => buildDeploymentManifests(churn, { ...options, ...bad })).toThrow(ManifestError);
      expect(() => buildDeploymentManifests(churn, { ...options, ...bad })).toThrow(message);
    },
  );

  it('refuses a deployment name that cannot name Kubernetes objects', () => {
    const long = 'a'.repeat(60);
    expect(() => buildDeploymentManifests({ ...churn, name: long }, options)).toThrow(
      new RegExp(`Deployment name '${long}' cannot name Kubernetes objects.*at most 58`),
    );
    expect(() => buildDeploymentManifests({ ...churn, name: 'Churn_1' }, options)).toThrow(
      /Deployment name 'Churn_1'/,
    );
  });

  it('refuses a deployment without variants', () => {
    expect(() => buildDeploymentManifests({ ...churn, variants: [] }, options)).toThrow(
      /Deployment 'churn' has no variant to serve/,
    );
  });
});
