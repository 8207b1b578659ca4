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
 * Only that block is read (a full YAML parser is not worth its weight here): the values may be
 * single-quoted, double-quoted or plain scalars, folded over several lines as YAML allows.
 */

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

/** Indentation of a line (spaces). */
function indentOf(line: string): number {
  return line.length - line.trimStart().length;
}

/**
 * A YAML flow scalar that starts on `first` (the text after `key:`) and may continue on
 * `rest` (the following lines, more indented than the key). Folding: line breaks become spaces,
 * an empty line a newline.
 */
function readScalar(first: string, rest: string[], keyIndent: number): string | null {
  const lines = [first];
  for (const line of rest) {
    if (line.trim() !== '' && indentOf(line) <= keyIndent) break;
    lines.push(line);
  }
  const quote = first.startsWith("'") ? "'" : first.startsWith('"') ? '"' : undefined;
  if (quote === undefined) {
    // Plain scalar: up to the next line that is less indented; `#` after a space is a comment.
    const text = fold(lines.map((l) => l.replace(/\s+#.*$/, '')));
    return text === '' || text === 'null' || text === '~' ? null : text;
  }
  // Quoted: find the closing quote, across lines.
  const joined = lines.join('\n');
  let out = '';
  for (let i = 1; i < joined.length; i += 1) {
    const c = joined.charAt(i);
    if (quote === "'" && c === "'") {
      if (joined.charAt(i + 1) === "'") {
        out += "'";
        i += 1;
        continue;
      }
      return fold(out.split('\n'));
    }
    if (quote === '"' && c === '\\') {
      const next = joined.charAt(i + 1);
      const escapes: Record<string, string> = { n: '\n', t: '\t', '"': '"', '\\': '\\', '/': '/' };
      if (next === '\n') {
        i += 1;
        continue;
      }
      out += escapes[next] ?? next;
      i += 1;
      continue;
    }
    if (quote === '"' && c === '"') return fold(out.split('\n'));
    out += c;
  }
  throw new Error(`the signature's value starting ${first.slice(0, 40)} has no closing quote`);
}

/** YAML line folding: each break between two lines is a space, an empty line a newline. */
function fold(lines: string[]): string {
  let out = '';
  let pendingBreaks = 0;
  lines.forEach((raw, i) => {
    const line = i === 0 ? raw.trimEnd() : raw.trim();
    if (line === '' && i > 0) {
      pendingBreaks += 1;
      return;
    }
    if (i > 0 && out !== '') out += pendingBreaks > 0 ? '\n'.repeat(pendingBreaks) : ' ';
    pendingBreaks = 0;
    out += line;
  });
  return out.trim();
}

function parseFields(json: string, which: string): SignatureField[] {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new Error(`the signature's ${which} are not JSON: ${json.slice(0, 80)}`);
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
 * @throws Error saying what is malformed in the signature block.
 */
export function signatureFromMlModel(text: string): ModelSignatureView | undefined {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const start = lines.findIndex((l) => /^signature:\s*(#.*)?$/.test(l));
  if (start < 0) return undefined;
  const block: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() !== '' && indentOf(line) === 0) break;
    block.push(line);
  }
  const keyIndent = Math.min(
    ...block.filter((l) => l.trim() !== '').map(indentOf),
    Number.POSITIVE_INFINITY,
  );
  const read = (key: 'inputs' | 'outputs'): SignatureField[] | null => {
    const at = block.findIndex((l) => indentOf(l) === keyIndent && l.trim().startsWith(`${key}:`));
    if (at < 0) return null;
    const line = block[at] ?? '';
    const first = line
      .trim()
      .slice(key.length + 1)
      .trim();
    const value = readScalar(first, block.slice(at + 1), keyIndent);
    return value === null ? null : parseFields(value, key);
  };
  return { inputs: read('inputs'), outputs: read('outputs') };
}

/** A field's type as one short text: `float32 [-1, 20]`, `double (optional)`. */
export function describeField(field: SignatureField): string {
  const shape = field.shape === null ? '' : ` [${field.shape.join(', ')}]`;
  return `${field.type}${shape}${field.required ? '' : ' (optional)'}`;
}
