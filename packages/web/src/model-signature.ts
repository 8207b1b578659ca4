/**
 * A model version's signature, read from its `MLmodel` file in the browser. MLflow writes the
 * signature as YAML whose `inputs` and `outputs` are JSON strings:
 *
 * ```yaml
 * signature:
 *   inputs: '[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 20]}}]'
 *   outputs: '[{"type": "double", "name": "score"}]'
 *   params: null
 * ```
 *
 * The file is read with the `yaml` package (the server reads `MLmodel` files with it too).
 */
import { parse as parseYaml } from 'yaml';

/** One input or output of a signature, as the page lists it. */
export interface SignatureField {
  /** Absent for MLflow's single unnamed tensor. */
  name: string | null;
  /** `double`, `string`, or for a tensor its dtype (`float32`). */
  type: string;
  /** A tensor's shape, `-1` for any size; null for a column. */
  shape: number[] | null;
  /** False for columns declared `"required": false`. */
  required: boolean;
}

/** A signature's inputs and outputs; null where the file declares none. */
export interface ModelSignatureView {
  inputs: SignatureField[] | null;
  outputs: SignatureField[] | null;
}

/** Where a version's files are, when the run API can read them: a run and a folder in it. */
export interface RunArtifactLocation {
  runId: string;
  path: string;
}

/**
 * The run and folder holding a version's model files, from its `source`: `runs:/<run>/<path>`,
 * or an artifact URI of its run (`mlflow-artifacts:/<exp>/<run>/artifacts/<path>`, as MLflow's
 * clients register). Undefined for other sources (a logged model, an outside store).
 */
export function runArtifactLocation(
  source: string,
  runId: string | null | undefined,
): RunArtifactLocation | undefined {
  const runs = /^runs:\/+([^/]+)\/?(.*)$/.exec(source);
  if (runs?.[1] !== undefined) return { runId: runs[1], path: trimSlashes(runs[2] ?? '') };
  if (runId !== null && runId !== undefined && runId !== '') {
    const marker = `/${runId}/artifacts`;
    const at = source.indexOf(marker);
    if (at >= 0) {
      const rest = source.slice(at + marker.length);
      if (rest === '' || rest.startsWith('/')) return { runId, path: trimSlashes(rest) };
    }
  }
  return undefined;
}

function trimSlashes(path: string): string {
  return path.replace(/^\/+|\/+$/g, '');
}

/** The path of `MLmodel` inside the run's artifacts for a model folder `path`. */
export function mlModelPath(path: string): string {
  return path === '' ? 'MLmodel' : `${path}/MLmodel`;
}

/** A side of a signature: MLflow writes it as a JSON text; a YAML list is taken as it is. */
function parseFields(raw: unknown, which: string): SignatureField[] {
  let value = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch {
      throw new Error(`the signature's ${which} are not JSON: ${raw.slice(0, 80)}`);
    }
  }
  if (!Array.isArray(value)) throw new Error(`the signature's ${which} are not a list`);
  return value.map((item: unknown, i) => {
    if (typeof item !== 'object' || item === null) {
      throw new Error(`${which} ${String(i)} of the signature is not an object`);
    }
    const field = item as Record<string, unknown>;
    const name = typeof field['name'] === 'string' ? field['name'] : null;
    const spec = field['tensor-spec'];
    if (field['type'] === 'tensor' && typeof spec === 'object' && spec !== null) {
      const { dtype, shape } = spec as Record<string, unknown>;
      return {
        name,
        type: typeof dtype === 'string' ? dtype : 'tensor',
        shape: Array.isArray(shape)
          ? shape.filter((d): d is number => typeof d === 'number')
          : null,
        required: true,
      };
    }
    return {
      name,
      type: typeof field['type'] === 'string' ? field['type'] : JSON.stringify(field['type']),
      shape: null,
      required: field['required'] !== false,
    };
  });
}

/**
 * The signature declared in an `MLmodel` file's text, or undefined when it declares none.
 * @throws Error saying what is malformed: the YAML, or the signature in it.
 */
export function signatureFromMlModel(text: string): ModelSignatureView | undefined {
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw new Error(`the MLmodel file is not YAML: ${(error as Error).message}`);
  }
  if (typeof document !== 'object' || document === null) return undefined;
  const signature = (document as Record<string, unknown>)['signature'];
  if (signature === undefined || signature === null) return undefined;
  if (typeof signature !== 'object') throw new Error('the signature is not a mapping');
  const read = (key: 'inputs' | 'outputs'): SignatureField[] | null => {
    const value = (signature as Record<string, unknown>)[key];
    return value === undefined || value === null ? null : parseFields(value, key);
  };
  return { inputs: read('inputs'), outputs: read('outputs') };
}

/** A field's type as one short text: `float32 [-1, 20]`, `double (optional)`. */
export function describeField(field: SignatureField): string {
  const shape = field.shape === null ? '' : ` [${field.shape.join(', ')}]`;
  return `${field.type}${shape}${field.required ? '' : ' (optional)'}`;
}
