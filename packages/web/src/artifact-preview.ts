/** Pure helpers of the artifact browser: what kind of preview a file gets, and its parsing. */

/** The most bytes of a text file shown in a preview. */
export const TEXT_PREVIEW_BYTES = 1024 * 1024;
/** Files larger than this are not fetched for a preview (download them instead). */
export const MAX_PREVIEW_BYTES = 32 * 1024 * 1024;
/** The most CSV rows (header included) shown in a preview. */
export const CSV_PREVIEW_ROWS = 200;

/** How a file is previewed. */
export type PreviewKind = 'image' | 'text' | 'json' | 'csv' | 'mlmodel' | 'none';

const IMAGE_TYPES: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  svg: 'image/svg+xml',
};
const TEXT_EXTENSIONS = new Set([
  'txt',
  'log',
  'py',
  'yaml',
  'yml',
  'md',
  'toml',
  'cfg',
  'ini',
  'sh',
  'js',
  'ts',
  'html',
  'xml',
  'jsonl',
  'r',
  'sql',
]);

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function extension(path: string): string {
  const name = baseName(path);
  const dot = name.lastIndexOf('.');
  return dot <= 0 ? '' : name.slice(dot + 1).toLowerCase();
}

/** The preview a file gets, from its name. */
export function previewKind(path: string): PreviewKind {
  const name = baseName(path);
  if (name === 'MLmodel') return 'mlmodel';
  const ext = extension(path);
  if (ext in IMAGE_TYPES) return 'image';
  if (ext === 'json') return 'json';
  if (ext === 'csv' || ext === 'tsv') return 'csv';
  if (TEXT_EXTENSIONS.has(ext) || ['requirements.txt', 'Dockerfile', 'LICENSE'].includes(name)) {
    return 'text';
  }
  return 'none';
}

/** The MIME type of an image file from its name (for a Blob an `<img>` can show). */
export function imageType(path: string): string {
  return IMAGE_TYPES[extension(path)] ?? 'application/octet-stream';
}

/**
 * The first `limit` bytes of `bytes` as UTF-8 text; a character cut at the limit is dropped.
 * `truncated` says whether bytes were left out.
 */
export function textPrefix(
  bytes: Uint8Array,
  limit = TEXT_PREVIEW_BYTES,
): { text: string; truncated: boolean } {
  const truncated = bytes.length > limit;
  let end = Math.min(bytes.length, limit);
  // Step back over the continuation bytes of a character the limit splits.
  if (truncated) {
    let start = end;
    while (start > 0 && ((bytes[start] ?? 0) & 0xc0) === 0x80) start--;
    end = start;
  }
  return { text: new TextDecoder().decode(bytes.subarray(0, end)), truncated };
}

/** JSON text re-indented by two spaces; the text as it was when it does not parse. */
export function prettyJson(text: string): { text: string; error?: string } {
  try {
    return { text: JSON.stringify(JSON.parse(text), null, 2) };
  } catch (error) {
    return { text, error: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * The first `maxRows` records of CSV text (RFC 4180: quoted fields may hold the separator,
 * doubled quotes and line breaks; CRLF or LF line ends). A last line without fields is dropped.
 * `truncated` says whether records were left out.
 */
export function parseCsv(
  text: string,
  maxRows = CSV_PREVIEW_ROWS,
  separator = ',',
): { rows: string[][]; truncated: boolean } {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  const endRow = (): boolean => {
    row.push(field);
    field = '';
    rows.push(row);
    row = [];
    return rows.length >= maxRows;
  };
  while (i < text.length) {
    const c = text[i] ?? '';
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else {
        field += c;
      }
      i++;
      continue;
    }
    if (c === '"' && field === '') {
      quoted = true;
    } else if (c === separator) {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      if (endRow()) return { rows, truncated: i + 1 < text.length };
    } else {
      field += c;
    }
    i++;
  }
  if (field !== '' || row.length > 0) endRow();
  return { rows, truncated: false };
}

/** One line of an MLmodel file and the top-level section it belongs to. */
export interface MlmodelLine {
  text: string;
  /** The top-level key whose block holds the line (`flavors`, `signature`, `run_id`, …). */
  section: string;
  /** Whether the line is a section's own key line. */
  heading: boolean;
}

/**
 * Splits an MLmodel file (YAML) into lines tagged with their top-level section, so a preview can
 * set `flavors` and `signature` apart without a YAML parser: a line starting at column 0 with
 * `key:` opens a section; indented and continuation lines belong to the open one.
 */
export function mlmodelLines(text: string): MlmodelLine[] {
  let section = '';
  return text.split(/\r?\n/).map((line) => {
    const match = /^([A-Za-z_][\w.-]*):/.exec(line);
    if (match?.[1] !== undefined) {
      section = match[1];
      return { text: line, section, heading: true };
    }
    return { text: line, section, heading: false };
  });
}

/** The flavor names an MLmodel file declares (the keys directly under `flavors:`). */
export function mlmodelFlavors(text: string): string[] {
  const flavors: string[] = [];
  let indent: number | undefined;
  for (const line of mlmodelLines(text)) {
    if (line.section !== 'flavors' || line.heading || line.text.trim() === '') continue;
    const depth = line.text.length - line.text.trimStart().length;
    indent ??= depth;
    const key = /^\s*([\w.-]+):/.exec(line.text)?.[1];
    if (depth === indent && key !== undefined) flavors.push(key);
  }
  return flavors;
}
