/**
 * Content types of artifact files, guessed from the file name as MLflow's artifact view does:
 * what a browser can show (text, images, PDF) gets its own type, everything else is
 * `application/octet-stream`. Text types name UTF-8.
 */
const TEXT = 'text/plain; charset=utf-8';

const BY_EXTENSION: Readonly<Record<string, string>> = {
  txt: TEXT,
  log: TEXT,
  text: TEXT,
  cfg: TEXT,
  ini: TEXT,
  toml: TEXT,
  py: 'text/x-python; charset=utf-8',
  ts: TEXT,
  js: 'text/javascript; charset=utf-8',
  mjs: 'text/javascript; charset=utf-8',
  sh: TEXT,
  r: TEXT,
  sql: TEXT,
  md: 'text/markdown; charset=utf-8',
  json: 'application/json; charset=utf-8',
  jsonl: 'application/jsonl; charset=utf-8',
  ndjson: 'application/x-ndjson; charset=utf-8',
  yaml: 'application/yaml; charset=utf-8',
  yml: 'application/yaml; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  tsv: 'text/tab-separated-values; charset=utf-8',
  xml: 'application/xml; charset=utf-8',
  html: 'text/html; charset=utf-8',
  htm: 'text/html; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  bmp: 'image/bmp',
  ico: 'image/x-icon',
  tif: 'image/tiff',
  tiff: 'image/tiff',
  pdf: 'application/pdf',
  mp4: 'video/mp4',
  webm: 'video/webm',
  wav: 'audio/wav',
  mp3: 'audio/mpeg',
  gz: 'application/gzip',
  zip: 'application/zip',
  tar: 'application/x-tar',
};

/** Files MLflow writes without an extension, which are YAML or text. */
const BY_NAME: Readonly<Record<string, string>> = {
  MLmodel: 'application/yaml; charset=utf-8',
  MLproject: 'application/yaml; charset=utf-8',
  LICENSE: TEXT,
  README: TEXT,
};

/**
 * The content type to serve an artifact file with, from its name.
 * @example contentTypeOf('plots/roc.png') // 'image/png'
 * @example contentTypeOf('model/model.onnx') // 'application/octet-stream'
 */
export function contentTypeOf(path: string): string {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const named = BY_NAME[name];
  if (named !== undefined) return named;
  const dot = name.lastIndexOf('.');
  if (dot <= 0) return 'application/octet-stream';
  return BY_EXTENSION[name.slice(dot + 1).toLowerCase()] ?? 'application/octet-stream';
}
