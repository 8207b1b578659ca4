import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { InvalidParameterError } from '@modelyard/core';
import type * as Arrow from 'apache-arrow';

/**
 * Step outputs as stored blobs. Each output is one self-describing envelope:
 * `YARD` + format byte + u32 header length (big-endian) + header JSON + payload, and its
 * sha256 (`sha256:<hex>`) is its identity, so equal outputs are stored once.
 *
 * | output | kind | payload |
 * | --- | --- | --- |
 * | `undefined` | void | none |
 * | JSON values (plain objects, arrays, strings, finite numbers, booleans, null) | json | UTF-8 JSON |
 * | JSON values holding typed arrays or bytes (e.g. `{ weights: Float32Array }`) | struct | the JSON, then each array's bytes |
 * | `Uint8Array` / `Buffer` | bytes | the bytes (read back as a `Buffer`) |
 * | other typed arrays (`Float32Array`, `BigInt64Array`, ...) | typed | the elements, little-endian |
 * | Apache Arrow `Table` | arrow | Arrow IPC stream (read back as a `Table`) |
 * | {@link file}`(path)` | file | the file's bytes (read back as a file in a cache folder) |
 * | {@link dir}`(path)` | dir | the folder's files (and empty subfolders), listed in the header |
 */

const MAGIC = Buffer.from('YARD', 'ascii');
const FORMAT = 1;

const FILE_BRAND: unique symbol = Symbol.for('modelyard.pipelines.file') as never;

/** A file or folder on disk, as a step output or as an input a step receives. */
export interface PathRef {
  readonly [FILE_BRAND]: 'file' | 'dir';
  /** Absolute path. */
  readonly path: string;
}

/** Marks a file as a step output: its bytes are stored, and consumers get a local copy's path. */
export function file(path: string): PathRef {
  return { [FILE_BRAND]: 'file', path };
}

/** Marks a folder as a step output: its files are stored, and consumers get a local copy. */
export function dir(path: string): PathRef {
  return { [FILE_BRAND]: 'dir', path };
}

function isPathRef(value: unknown): value is PathRef {
  return typeof value === 'object' && value !== null && FILE_BRAND in value;
}

/** A serialised output and its identity. */
export interface StoredOutput {
  digest: string;
  bytes: Uint8Array;
  kind: string;
}

/** Marks where a typed array sat in a `struct` output's JSON. */
const TYPED_KEY = '$yard.typed';

const TYPED: Record<string, { new (buffer: ArrayBuffer): ArrayBufferView }> = {
  Uint8Array,
  Int8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
};

/** Raised when a step's output cannot be stored; names the step and where in the value. */
export class UnserializableOutputError extends InvalidParameterError {
  constructor(message: string, context: Readonly<Record<string, unknown>> = {}) {
    super(message, context);
    Object.defineProperty(this, 'name', { value: 'UnserializableOutputError' });
  }
}

const KINDS_HINT =
  'Step outputs are JSON values, Uint8Array/Buffer, typed arrays, Apache Arrow tables, ' +
  'file(path) or dir(path).';

function refuse(step: string, where: string, what: string, hint = ''): never {
  throw new UnserializableOutputError(
    `Step '${step}' returned an output that cannot be stored: ${where} is ${what}.${hint === '' ? '' : ` ${hint}`} ${KINDS_HINT}`,
    { step, where },
  );
}

/** Checks that `value` survives JSON unchanged; names the first part that does not. */
function checkJson(step: string, value: unknown, where: string, seen: Set<object>): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) {
        refuse(step, where, String(value), 'JSON has no NaN or Infinity; use a Float64Array.');
      }
      return;
    case 'undefined':
      return;
    case 'bigint':
      refuse(step, where, 'a bigint', 'Use a BigInt64Array or a string.');
      break;
    case 'function':
      refuse(step, where, 'a function');
      break;
    case 'symbol':
      refuse(step, where, 'a symbol');
      break;
    case 'object': {
      if (value === null) return;
      // Typed arrays and bytes inside JSON are stored beside it (kind `struct`).
      if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
        if (!(value instanceof Uint8Array) && !(value.constructor.name in TYPED)) {
          refuse(step, where, `a ${value.constructor.name}`);
        }
        return;
      }
      if (seen.has(value)) refuse(step, where, 'a reference back to itself (a cycle)');
      if (!Array.isArray(value) && TYPED_KEY in value) {
        refuse(step, where, `an object with the reserved key '${TYPED_KEY}'`);
      }
      seen.add(value);
      if (Array.isArray(value)) {
        value.forEach((item: unknown, i) => {
          if (item === undefined) {
            refuse(
              step,
              `${where}[${String(i)}]`,
              'undefined',
              'JSON turns it into null; use null.',
            );
          }
          checkJson(step, item, `${where}[${String(i)}]`, seen);
        });
      } else {
        const proto = Object.getPrototypeOf(value) as unknown;
        if (proto !== Object.prototype && proto !== null) {
          const name = (value as { constructor?: { name?: string } }).constructor?.name ?? 'object';
          refuse(
            step,
            where,
            `a ${name}`,
            name === 'Date'
              ? 'Store dates as strings (toISOString()).'
              : name === 'Map' || name === 'Set'
                ? 'Convert it to an array or a plain object.'
                : '',
          );
        }
        for (const [key, item] of Object.entries(value)) {
          checkJson(step, item, `${where}.${key}`, seen);
        }
      }
      seen.delete(value);
      return;
    }
  }
}

function envelope(header: Record<string, unknown>, payload: Uint8Array): Uint8Array {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const head = Buffer.alloc(MAGIC.length + 5);
  MAGIC.copy(head, 0);
  head.writeUInt8(FORMAT, MAGIC.length);
  head.writeUInt32BE(json.length, MAGIC.length + 1);
  return Buffer.concat([head, json, payload]);
}

/** `sha256:<hex>` of some bytes. */
export function digestOf(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function isArrowTable(value: unknown): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { constructor?: { name?: string } }).constructor?.name === 'Table' &&
    typeof (value as { schema?: unknown }).schema === 'object' &&
    typeof (value as { batches?: unknown }).batches === 'object'
  );
}

/** A folder's files and its empty subfolders, in name order. */
async function listFiles(root: string): Promise<{ files: string[]; empty: string[] }> {
  const files: string[] = [];
  const empty: string[] = [];
  const walk = async (folder: string): Promise<void> => {
    const entries = await readdir(folder, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    if (entries.length === 0 && folder !== root) empty.push(folder);
    for (const entry of entries) {
      const full = join(folder, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) files.push(full);
    }
  };
  await walk(root);
  return { files, empty };
}

/**
 * Serialises a step's output into its envelope.
 * @throws UnserializableOutputError naming the step and the offending part of the value.
 */
export async function serializeOutput(step: string, value: unknown): Promise<StoredOutput> {
  let bytes: Uint8Array;
  let kind: string;
  if (value === undefined) {
    kind = 'void';
    bytes = envelope({ kind }, new Uint8Array(0));
  } else if (isPathRef(value)) {
    kind = value[FILE_BRAND];
    if (kind === 'file') {
      const content = await readFile(value.path).catch((error: unknown) =>
        refuse(step, 'the output', `file('${value.path}'), which cannot be read: ${String(error)}`),
      );
      bytes = envelope({ kind, name: value.path.split(sep).pop() ?? 'file' }, content);
    } else {
      const { files, empty } = await listFiles(value.path).catch((error: unknown) =>
        refuse(step, 'the output', `dir('${value.path}'), which cannot be read: ${String(error)}`),
      );
      const contents = await Promise.all(files.map((f) => readFile(f)));
      const rel = (f: string) => relative(value.path, f).split(sep).join('/');
      bytes = envelope(
        {
          kind,
          files: files.map((f, i) => ({ path: rel(f), size: contents[i]?.length ?? 0 })),
          // Only when there are some, so that outputs without them keep their digests.
          ...(empty.length > 0 && { folders: empty.map(rel) }),
        },
        Buffer.concat(contents),
      );
    }
  } else if (value instanceof Uint8Array && value.constructor.name !== 'Uint8ClampedArray') {
    kind = 'bytes';
    bytes = envelope({ kind }, value);
  } else if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    kind = 'typed';
    const type = value.constructor.name;
    if (!(type in TYPED)) refuse(step, 'the output', `a ${type}`);
    bytes = envelope(
      { kind, type },
      new Uint8Array(value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength)),
    );
  } else if (isArrowTable(value)) {
    kind = 'arrow';
    const arrow = await loadArrow(step);
    // Duck-typed above: the table may come from the pipeline's own copy of apache-arrow.
    bytes = envelope({ kind }, arrow.tableToIPC(value as Arrow.Table, 'stream'));
  } else {
    checkJson(step, value, 'output', new Set());
    const arrays: { type: string; bytes: Uint8Array }[] = [];
    const json = JSON.stringify(value, function (this: unknown, key: string, item: unknown) {
      // `this[key]` is the value before toJSON (a Buffer's toJSON would make it a list).
      const original = (this as Record<string, unknown>)[key];
      if (ArrayBuffer.isView(original) && !(original instanceof DataView)) {
        arrays.push({
          type: original instanceof Uint8Array ? 'Uint8Array' : original.constructor.name,
          bytes: new Uint8Array(original.buffer, original.byteOffset, original.byteLength),
        });
        return { [TYPED_KEY]: arrays.length - 1 };
      }
      return item;
    });
    const text = Buffer.from(json, 'utf8');
    if (arrays.length === 0) {
      kind = 'json';
      bytes = envelope({ kind }, text);
    } else {
      kind = 'struct';
      bytes = envelope(
        {
          kind,
          json: text.length,
          arrays: arrays.map((a) => ({ type: a.type, size: a.bytes.length })),
        },
        Buffer.concat([text, ...arrays.map((a) => a.bytes)]),
      );
    }
  }
  return { digest: digestOf(bytes), bytes, kind };
}

/** apache-arrow (a dependency), loaded on the first table: most pipelines never need it. */
async function loadArrow(step: string): Promise<typeof Arrow> {
  try {
    return await import('apache-arrow');
  } catch {
    throw new UnserializableOutputError(
      `Step '${step}' works with an Apache Arrow table, but the 'apache-arrow' package cannot be ` +
        'loaded; install it (npm install apache-arrow) where the pipeline runs.',
      { step },
    );
  }
}

/** Where file and folder outputs are unpacked for the steps that consume them. */
export function unpackRoot(): string {
  return join(tmpdir(), 'modelyard-pipelines');
}

/**
 * Reads an envelope back into the value a consumer receives.
 * @throws InvalidParameterError when the bytes are not an envelope of a known kind.
 */
export async function deserializeOutput(bytes: Uint8Array, digest: string): Promise<unknown> {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const corrupt = (what: string) =>
    new InvalidParameterError(`Stored output ${digest} is not readable: ${what}.`, { digest });
  if (buffer.length < MAGIC.length + 5 || !buffer.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw corrupt('no envelope');
  }
  if (buffer.readUInt8(MAGIC.length) !== FORMAT) throw corrupt('unknown format');
  const length = buffer.readUInt32BE(MAGIC.length + 1);
  const start = MAGIC.length + 5;
  let header: {
    kind?: string;
    json?: number;
    arrays?: { type: string; size: number }[];
    type?: string;
    name?: string;
    files?: { path: string; size: number }[];
    folders?: string[];
  };
  try {
    header = JSON.parse(buffer.subarray(start, start + length).toString('utf8')) as typeof header;
  } catch {
    throw corrupt('bad header');
  }
  const payload = buffer.subarray(start + length);
  switch (header.kind) {
    case 'void':
      return undefined;
    case 'json':
      try {
        return JSON.parse(payload.toString('utf8')) as unknown;
      } catch {
        throw corrupt('its JSON is damaged');
      }
    case 'bytes':
      return Buffer.from(payload);
    case 'struct': {
      const jsonLength = header.json ?? -1;
      const arrays = header.arrays ?? [];
      const total = arrays.reduce((n, a) => n + a.size, jsonLength);
      if (jsonLength < 0 || total !== payload.length) throw corrupt('its sizes do not add up');
      const values: ArrayBufferView[] = [];
      let offset = jsonLength;
      for (const a of arrays) {
        const Ctor = TYPED[a.type];
        const width = (Ctor as unknown as { BYTES_PER_ELEMENT?: number } | undefined)
          ?.BYTES_PER_ELEMENT;
        if (Ctor === undefined || width === undefined || a.size % width !== 0) {
          throw corrupt(`it holds an unreadable ${a.type}`);
        }
        const copy = new ArrayBuffer(a.size);
        new Uint8Array(copy).set(payload.subarray(offset, offset + a.size));
        values.push(new Ctor(copy));
        offset += a.size;
      }
      try {
        return JSON.parse(
          payload.subarray(0, jsonLength).toString('utf8'),
          (_key, item: unknown) => {
            if (typeof item === 'object' && item !== null && TYPED_KEY in item) {
              return values[(item as Record<string, number>)[TYPED_KEY] ?? -1];
            }
            return item;
          },
        ) as unknown;
      } catch {
        throw corrupt('its JSON is damaged');
      }
    }
    case 'typed': {
      const Ctor = TYPED[header.type ?? ''];
      if (Ctor === undefined) throw corrupt(`unknown typed array '${String(header.type)}'`);
      const width = (Ctor as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
      if (payload.length % width !== 0) {
        throw corrupt(
          `${String(payload.length)} bytes is not a whole number of ${String(header.type)} elements`,
        );
      }
      const copy = new ArrayBuffer(payload.length);
      new Uint8Array(copy).set(payload);
      return new Ctor(copy);
    }
    case 'arrow': {
      const arrow = await loadArrow('(reading an input)');
      return arrow.tableFromIPC(new Uint8Array(payload));
    }
    case 'file':
    case 'dir': {
      const target = join(unpackRoot(), digest.replace(':', '-'));
      const ready = await stat(target).then(
        () => true,
        () => false,
      );
      const files = header.files ?? [];
      if (header.kind === 'file') safeName(header.name ?? 'file', digest);
      else {
        for (const entry of files) safeRelative(entry.path, digest);
        for (const folder of header.folders ?? []) safeRelative(folder, digest);
        const total = files.reduce((n, f) => n + f.size, 0);
        if (total !== payload.length) {
          throw corrupt(
            `its files list ${String(total)} bytes but it holds ${String(payload.length)}`,
          );
        }
      }
      if (!ready) {
        const staging = `${target}.${randomUUID()}.tmp`;
        if (header.kind === 'file') {
          await mkdir(staging, { recursive: true });
          await writeFile(join(staging, safeName(header.name ?? 'file', digest)), payload);
        } else {
          let offset = 0;
          for (const entry of files) {
            const path = join(staging, safeRelative(entry.path, digest));
            await mkdir(dirname(path), { recursive: true });
            await writeFile(path, payload.subarray(offset, offset + entry.size));
            offset += entry.size;
          }
          for (const folder of header.folders ?? []) {
            await mkdir(join(staging, safeRelative(folder, digest)), { recursive: true });
          }
          await mkdir(staging, { recursive: true });
        }
        await rename(staging, target).catch(async (error: unknown) => {
          // Another consumer unpacked it first: theirs is identical, ours goes.
          await rm(staging, { recursive: true, force: true });
          if (
            !(await stat(target).then(
              () => true,
              () => false,
            ))
          )
            throw error;
        });
      }
      return header.kind === 'file'
        ? file(join(target, safeName(header.name ?? 'file', digest)))
        : dir(target);
    }
    case undefined:
    default:
      throw corrupt(`unknown kind '${String(header.kind)}'`);
  }
}

function safeName(name: string, digest: string): string {
  if (name === '' || name === '.' || name === '..' || /[/\\\0]/.test(name)) {
    throw new InvalidParameterError(`Stored output ${digest} names an unsafe file '${name}'.`);
  }
  return name;
}

function safeRelative(path: string, digest: string): string {
  const parts = path.split('/');
  if (
    path.startsWith('/') ||
    parts.some((p) => p === '' || p === '.' || p === '..' || p.includes('\\') || p.includes('\0'))
  ) {
    throw new InvalidParameterError(`Stored output ${digest} names an unsafe path '${path}'.`);
  }
  return join(...parts);
}
