/**
 * JSON as MLflow's clients write and read it. Python's `json` module writes the bare tokens
 * `NaN`, `Infinity` and `-Infinity`, which `JSON.parse` refuses; protobuf's JSON form writes them
 * as the strings "NaN", "Infinity", "-Infinity". We accept both on input and write the string
 * form on output, which both protobuf and plain `json.loads` users can read.
 */

const NON_FINITE = /\b(?:NaN|Infinity)\b/;

/** Parses JSON text, also accepting bare NaN / Infinity / -Infinity tokens outside strings. */
export function parseLenientJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    if (!NON_FINITE.test(text)) throw err;
    return JSON.parse(quoteBareNonFinite(text)) as unknown;
  }
}

/** Rewrites bare NaN/Infinity tokens (outside string literals) as JSON strings. */
function quoteBareNonFinite(text: string): string {
  let out = '';
  let i = 0;
  const n = text.length;
  while (i < n) {
    const ch = text.charAt(i);
    if (ch === '"') {
      // Copy the whole string literal, honouring escapes.
      let j = i + 1;
      while (j < n && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (text.startsWith('-Infinity', i)) {
      out += '"-Infinity"';
      i += 9;
    } else if (text.startsWith('Infinity', i)) {
      out += '"Infinity"';
      i += 8;
    } else if (text.startsWith('NaN', i)) {
      out += '"NaN"';
      i += 3;
    } else {
      out += ch;
      i += 1;
    }
  }
  return out;
}

/**
 * A double as it goes into a response: finite numbers as they are, non-finite ones as protobuf's
 * JSON strings (plain `JSON.stringify` would write `null`). Metric values are the only doubles
 * in our responses, so serialisers call this on them instead of paying for a replacer function
 * over every response.
 */
export function jsonDouble(value: number): number | string {
  if (Number.isFinite(value)) return value;
  return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
}

/**
 * Reads a JSON double as MLflow accepts it: a number, or a numeric string including "NaN",
 * "Infinity" and "-Infinity". Returns undefined when `raw` is not such a value.
 */
export function readDouble(raw: unknown): number | undefined {
  if (typeof raw === 'number') return raw;
  if (typeof raw !== 'string') return undefined;
  const s = raw.trim();
  if (s === 'NaN' || s === 'nan') return NaN;
  if (s === 'Infinity' || s === 'inf' || s === '+Infinity') return Infinity;
  if (s === '-Infinity' || s === '-inf') return -Infinity;
  if (s === '') return undefined;
  const n = Number(s);
  return Number.isNaN(n) ? undefined : n;
}
