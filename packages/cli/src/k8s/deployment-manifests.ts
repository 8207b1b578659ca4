import type { Deployment, DeploymentVariant } from '@modelyard/core';
import { Deployment as K8sDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { stringify } from 'yaml';

/** The port `yard server` listens on inside the image (`deploy/Dockerfile`). */
export const CONTAINER_PORT = 5000;
/** The port the Service exposes inside the cluster. */
export const SERVICE_PORT = 80;
/** The non-root user the image runs as (`USER` in `deploy/Dockerfile`). */
export const IMAGE_USER_ID = 10001;
/** Where the image keeps its data (model cache, SQLite file by default); an emptyDir in pods. */
export const DATA_DIR = '/data';

/** Resource requests and limits of the server container, as Kubernetes quantities. */
export interface ManifestResources {
  cpuRequest: string;
  memoryRequest: string;
  cpuLimit: string;
  memoryLimit: string;
}

/** How {@link buildDeploymentManifests} shapes the objects. */
export interface ManifestOptions {
  /** The server image, built from `deploy/Dockerfile`. */
  image: string;
  /** Namespace written into every object; omitted when undefined (kubectl's current one). */
  namespace?: string | undefined;
  /**
   * Metadata store every pod reads: the one the registry and this deployment live in (each pod's
   * server restores the stored deployments from it). Omit only with {@link envSecret}.
   */
  backendStoreUri?: string | undefined;
  /** Artifact store holding the model files (shared, e.g. `s3://bucket/prefix`). */
  artifactsDestination?: string | undefined;
  /** A Secret whose keys become environment variables too (credentials, a store URI). */
  envSecret?: string | undefined;
  /** Server log level. */
  logLevel: string;
  /** Autoscaler bounds; default: the deployment's replicas, and twice that. */
  minReplicas?: number | undefined;
  maxReplicas?: number | undefined;
  /** Average CPU utilisation (percent of the request) the autoscaler aims at. */
  cpuTargetPercent: number;
  resources: ManifestResources;
}

export { DEFAULT_MANIFEST_OPTIONS } from './manifest-defaults.js';

/** The objects for one deployment, in the order they are applied. */
export interface DeploymentManifests {
  configMap: ConfigMap;
  deployment: K8sDeployment;
  service: Service;
  autoscaler: HorizontalPodAutoscaler;
}

/** Options or a deployment that cannot become valid manifests; the message names the value. */
export class ManifestError extends Error {
  override readonly name = 'ManifestError';
}

// DNS-1035 label (Service names) and DNS-1123 label (namespaces, Secret/ConfigMap refs).
const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS_1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
// Kubernetes resource quantities: a decimal number with an optional SI, binary or exponent suffix.
const QUANTITY = /^\+?(\d+(\.\d*)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+)?$/;
// An image reference without whitespace: [registry/]repository[:tag][@digest].
const IMAGE = /^[a-z0-9][a-z0-9._\-/:]*(@sha256:[a-f0-9]{64})?$/i;
const OBJECT_PREFIX = 'yard-';

/** The name every object of deployment `name` carries: `yard-<name>`. */
export function objectNameOf(name: string): string {
  return `${OBJECT_PREFIX}${name}`;
}

/** The labels shared by every object and selected by the Service and the Deployment. */
export function selectorLabelsOf(name: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'modelyard',
    'app.kubernetes.io/instance': name,
    'app.kubernetes.io/component': 'serving',
  };
}

function primaryVariant(deployment: Deployment): DeploymentVariant {
  const variant =
    deployment.variants.find((v) => v.role === 'primary') ?? deployment.variants.at(0);
  if (variant === undefined) {
    throw new ManifestError(`Deployment '${deployment.name}' has no variant to serve.`);
  }
  return variant;
}

function integerIn(label: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ManifestError(
      `${label} must be an integer from ${min} to ${max}, got ${String(value)}.`,
    );
  }
  return value;
}

function checkOptions(deployment: Deployment, options: ManifestOptions): void {
  const objectName = objectNameOf(deployment.name);
  if (objectName.length > 63 || !DNS_1035_LABEL.test(objectName)) {
    throw new ManifestError(
      `Deployment name '${deployment.name}' cannot name Kubernetes objects: '${objectName}' must ` +
        'be a DNS-1035 label (at most 63 lower-case letters, digits and -, starting with a ' +
        `letter), so the deployment name may have at most ${63 - OBJECT_PREFIX.length} characters.`,
    );
  }
  if (
    options.namespace !== undefined &&
    (options.namespace.length > 63 || !DNS_1123_LABEL.test(options.namespace))
  ) {
    throw new ManifestError(
      `Invalid namespace '${options.namespace}': use at most 63 lower-case letters, digits and ` +
        "'-', starting and ending with a letter or digit.",
    );
  }
  if (
    options.envSecret !== undefined &&
    (options.envSecret.length > 253 || !DNS_1123_SUBDOMAIN.test(options.envSecret))
  ) {
    throw new ManifestError(
      `Invalid Secret name '${options.envSecret}': use lower-case letters, digits, '-' and '.' ` +
        '(a DNS subdomain of at most 253 characters).',
    );
  }
  if (!IMAGE.test(options.image)) {
    throw new ManifestError(
      `Invalid image '${options.image}': expected a reference such as ` +
        "'registry.example.com/modelyard-server:0.1.0'.",
    );
  }
  if (options.envSecret === undefined) {
    if (options.backendStoreUri === undefined || options.artifactsDestination === undefined) {
      throw new ManifestError(
        `The pods serving '${deployment.name}' must read the metadata and artifact stores the ` +
          'registry uses: pass --backend-store-uri (postgresql://...) and --artifacts-destination ' +
          '(s3://...), or --env-secret naming a Secret that sets MODELYARD_BACKEND_STORE_URI and ' +
          'MODELYARD_ARTIFACTS_DESTINATION.',
      );
    }
  }
  if (options.backendStoreUri?.startsWith('sqlite:') === true) {
    throw new ManifestError(
      `Backend store '${options.backendStoreUri}' is a SQLite file, which pods cannot share: ` +
        'use the PostgreSQL database the registry uses (postgresql://...).',
    );
  }
  for (const [label, value] of [
    ['--cpu-request', options.resources.cpuRequest],
    ['--memory-request', options.resources.memoryRequest],
    ['--cpu-limit', options.resources.cpuLimit],
    ['--memory-limit', options.resources.memoryLimit],
  ] as const) {
    if (!QUANTITY.test(value)) {
      throw new ManifestError(
        `Invalid ${label} '${value}': expected a Kubernetes quantity such as 500m, 2, 512Mi or 2Gi.`,
      );
    }
  }
  integerIn('--cpu-target', options.cpuTargetPercent, 1, 100);
}

/** Sets `metadata.namespace` when one is given. */
function metadata(
  name: string,
  labels: Record<string, string>,
  namespace: string | undefined,
): { name: string; labels: Record<string, string>; namespace?: string } {
  return { name, labels, ...(namespace !== undefined && { namespace }) };
}

/**
 * Builds the ConfigMap, Deployment, Service and HorizontalPodAutoscaler that run `deployment` on
 * a cluster with the server image, and validates each against the Kubernetes OpenAPI schema
 * bundled in `kubernetes-models`.
 *
 * The pods run `yard server` against the shared metadata and artifact stores; each one restores
 * the stored deployments and answers `/v2/models/<name>/ready` once this one is loaded.
 *
 * @throws ManifestError for a name, namespace, image, quantity or replica bound that Kubernetes
 *   would refuse (the message names the value), or an object the schema rejects.
 * @example
 * const manifests = buildDeploymentManifests(await client.deployments.get('churn'), {
 *   ...DEFAULT_MANIFEST_OPTIONS,
 *   image: 'registry.example.com/modelyard-server:0.1.0',
 *   backendStoreUri: 'postgresql://yard@db/yard',
 *   artifactsDestination: 's3://ml/artifacts',
 * });
 */
export function buildDeploymentManifests(
  deployment: Deployment,
  options: ManifestOptions,
): DeploymentManifests {
  checkOptions(deployment, options);
  const variant = primaryVariant(deployment);
  const replicas = integerIn('The deployment replicas', variant.replicas, 1, 1000);
  const minReplicas = integerIn('--min-replicas', options.minReplicas ?? replicas, 1, 1000);
  const maxReplicas = integerIn(
    '--max-replicas',
    options.maxReplicas ?? Math.max(minReplicas, 2 * replicas),
    1,
    1000,
  );
  if (minReplicas > maxReplicas) {
    throw new ManifestError(
      `--min-replicas ${minReplicas} is greater than --max-replicas ${maxReplicas}: the ` +
        'autoscaler needs min <= max.',
    );
  }

  const name = objectNameOf(deployment.name);
  const selector = selectorLabelsOf(deployment.name);
  const labels = { ...selector, 'app.kubernetes.io/managed-by': 'yard' };
  const readyPath = `/v2/models/${deployment.name}/ready`;

  const configMap = new ConfigMap({
    metadata: metadata(name, labels, options.namespace),
    data: {
      MODELYARD_DEPLOYMENT_NAME: deployment.name,
      MODELYARD_DEPLOYMENT_MODEL_URI: variant.modelUri,
      MODELYARD_DEPLOYMENT_MODEL_NAME: variant.modelName,
      MODELYARD_DEPLOYMENT_MODEL_VERSION: variant.modelVersion,
      MODELYARD_DEPLOYMENT_REPLICAS: String(variant.replicas),
      MODELYARD_DEPLOYMENT_MAX_CONCURRENCY: String(variant.maxConcurrency),
      MODELYARD_HOST: '0.0.0.0',
      MODELYARD_PORT: String(CONTAINER_PORT),
      MODELYARD_LOG_LEVEL: options.logLevel,
      ...(options.backendStoreUri !== undefined && {
        MODELYARD_BACKEND_STORE_URI: options.backendStoreUri,
      }),
      ...(options.artifactsDestination !== undefined && {
        MODELYARD_ARTIFACTS_DESTINATION: options.artifactsDestination,
      }),
    },
  });

  const k8sDeployment = new K8sDeployment({
    metadata: metadata(name, labels, options.namespace),
    spec: {
      replicas,
      selector: { matchLabels: selector },
      template: {
        metadata: { labels },
        spec: {
          securityContext: {
            runAsNonRoot: true,
            runAsUser: IMAGE_USER_ID,
            runAsGroup: IMAGE_USER_ID,
            fsGroup: IMAGE_USER_ID,
          },
          containers: [
            {
              name: 'server',
              image: options.image,
              imagePullPolicy: 'IfNotPresent',
              ports: [{ name: 'http', containerPort: CONTAINER_PORT, protocol: 'TCP' }],
              envFrom: [
                { configMapRef: { name } },
                ...(options.envSecret !== undefined
                  ? [{ secretRef: { name: options.envSecret } }]
                  : []),
              ],
              readinessProbe: {
                httpGet: { path: readyPath, port: 'http' },
                initialDelaySeconds: 2,
                periodSeconds: 5,
                failureThreshold: 3,
              },
              livenessProbe: {
                httpGet: { path: '/health', port: 'http' },
                initialDelaySeconds: 10,
                periodSeconds: 10,
                failureThreshold: 3,
              },
              resources: {
                requests: {
                  cpu: options.resources.cpuRequest,
                  memory: options.resources.memoryRequest,
                },
                limits: { cpu: options.resources.cpuLimit, memory: options.resources.memoryLimit },
              },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
              volumeMounts: [
                { name: 'data', mountPath: DATA_DIR },
                { name: 'tmp', mountPath: '/tmp' },
              ],
            },
          ],
          volumes: [
            { name: 'data', emptyDir: {} },
            { name: 'tmp', emptyDir: {} },
          ],
        },
      },
    },
  });

  const service = new Service({
    metadata: metadata(name, labels, options.namespace),
    spec: {
      type: 'ClusterIP',
      selector,
      ports: [{ name: 'http', port: SERVICE_PORT, targetPort: 'http', protocol: 'TCP' }],
    },
  });

  const autoscaler = new HorizontalPodAutoscaler({
    metadata: metadata(name, labels, options.namespace),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      minReplicas,
      maxReplicas,
      metrics: [
        {
          type: 'Resource',
          resource: {
            name: 'cpu',
            target: { type: 'Utilization', averageUtilization: options.cpuTargetPercent },
          },
        },
      ],
    },
  });

  const manifests = { configMap, deployment: k8sDeployment, service, autoscaler };
  for (const object of Object.values(manifests)) validateObject(object);
  return manifests;
}

/** Validates one object against the bundled schema, naming the object in the error. */
function validateObject(object: {
  kind: string;
  metadata?: { name?: string } | undefined;
  validate: () => void;
}): void {
  try {
    object.validate();
  } catch (error) {
    throw new ManifestError(
      `The generated ${object.kind} '${object.metadata?.name ?? ''}' does not validate against ` +
        `the Kubernetes schema: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

/**
 * Renders objects as one multi-document YAML stream (`---` between documents), as
 * `kubectl apply -f` reads it, after a comment line naming what generated it.
 */
export function renderManifests(manifests: DeploymentManifests, header: string): string {
  const documents = [
    manifests.configMap,
    manifests.deployment,
    manifests.service,
    manifests.autoscaler,
  ].map((object) => stringify(object.toJSON(), { lineWidth: 0 }));
  return `# ${header}\n${documents.join('---\n')}`;
}
