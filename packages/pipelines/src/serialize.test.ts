import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, sep } from 'node:path';
import { InvalidParameterError } from '@modelyard/core';
import { tableFromArrays } from 'apache-arrow';
import type { Table } from 'apache-arrow';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PathRef } from './serialize.js';
import {
  deserializeOutput,
  digestOf,
  dir,
  file,
  serializeOutput,
  unpackRoot,
  UnserializableOutputError,
} from './serialize.js';

async function roundTrip(value: unknown): Promise<unknown> {
  const stored = await serializeOutput('train', value);
  return deserializeOutput(stored.bytes, stored.digest);
}

async function refusal(value: unknown, step = 'train'): Promise<UnserializableOutputError> {
  let caught: unknown;
  try {
    await serializeOutput(step, value);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(UnserializableOutputError);
  expect(caught).toBeInstanceOf(InvalidParameterError);
  return caught as UnserializableOutputError;
}

const KINDS_HINT =
  'Step outputs are JSON values, Uint8Array/Buffer, typed arrays, Apache Arrow tables, ' +
  'file(path) or dir(path).';

/** Every file under `root`, as relative path -> bytes. */
async function tree(root: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const walk = async (folder: string): Promise<void> => {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      const full = join(folder, entry.name);
      if (entry.isDirectory()) await walk(full);
      else out.set(relative(root, full).split(sep).join('/'), await readFile(full));
    }
  };
  await walk(root);
  return out;
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/** Builds an envelope by hand: `YARD` + format + u32 header length + header + payload. */
function envelope(
  header: unknown,
  payload: Uint8Array = new Uint8Array(0),
  format = 1,
): Uint8Array {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const head = Buffer.alloc(9);
  head.write('YARD', 0, 'ascii');
  head.writeUInt8(format, 4);
  head.writeUInt32BE(json.length, 5);
  return Buffer.concat([head, json, payload]);
}

async function unreadable(bytes: Uint8Array): Promise<InvalidParameterError> {
  const digest = digestOf(bytes);
  let caught: unknown;
  try {
    await deserializeOutput(bytes, digest);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(InvalidParameterError);
  const error = caught as InvalidParameterError;
  expect(error.message).toContain(`Stored output ${digest}`);
  return error;
}

describe('serializeOutput and deserializeOutput', () => {
  describe('void and JSON', () => {
    it('stores undefined as void', async () => {
      const stored = await serializeOutput('train', undefined);
      expect(stored.kind).toBe('void');
      await expect(deserializeOutput(stored.bytes, stored.digest)).resolves.toBeUndefined();
    });

    it.each([
      ['zero', 0],
      ['a negative decimal', -12.5],
      ['a large integer', Number.MAX_SAFE_INTEGER],
      ['a string', 'churn'],
      ['an empty string', ''],
      ['unicode', 'naïve 🚀 模型'],
      ['true', true],
      ['false', false],
      ['null', null],
      ['an empty array', []],
      ['an empty object', {}],
      ['a mixed array', [1, 'a', null, true, [2, [3]], { b: 'c' }]],
      [
        'a nested object',
        { metrics: { auc: 0.91, loss: [0.5, 0.3] }, labels: ['yes', 'no'], ok: true, note: null },
      ],
    ])('round-trips %s', async (_, value) => {
      const stored = await serializeOutput('train', value);
      expect(stored.kind).toBe('json');
      await expect(deserializeOutput(stored.bytes, stored.digest)).resolves.toEqual(value);
    });

    it('accepts an object without a prototype', async () => {
      const value = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1 });
      await expect(roundTrip(value)).resolves.toEqual({ a: 1 });
    });

    it('accepts the same object twice (shared, not a cycle)', async () => {
      const shared = { x: 1 };
      await expect(roundTrip({ a: shared, b: [shared, shared] })).resolves.toEqual({
        a: { x: 1 },
        b: [{ x: 1 }, { x: 1 }],
      });
    });

    it('drops object properties that are undefined, as JSON does', async () => {
      await expect(roundTrip({ a: undefined, b: 1 })).resolves.toEqual({ b: 1 });
    });

    it('does not silently turn an undefined array item into null', async () => {
      let result: unknown;
      try {
        result = await roundTrip([1, undefined, 3]);
      } catch (error) {
        expect(error).toBeInstanceOf(UnserializableOutputError);
        expect((error as Error).message).toContain('output[1]');
        return;
      }
      expect(result).toEqual([1, undefined, 3]);
    });
  });

  describe('bytes', () => {
    it('round-trips a Uint8Array, reading it back as a Buffer', async () => {
      const value = new Uint8Array([0, 1, 2, 254, 255]);
      const stored = await serializeOutput('train', value);
      expect(stored.kind).toBe('bytes');
      const back = await deserializeOutput(stored.bytes, stored.digest);
      expect(Buffer.isBuffer(back)).toBe(true);
      expect(Buffer.compare(back as Buffer, Buffer.from(value))).toBe(0);
    });

    it('round-trips a Buffer', async () => {
      const value = randomBytes(4096);
      const back = (await roundTrip(value)) as Buffer;
      expect(Buffer.isBuffer(back)).toBe(true);
      expect(back.equals(value)).toBe(true);
    });

    it('round-trips an empty Uint8Array', async () => {
      const back = (await roundTrip(new Uint8Array(0))) as Buffer;
      expect(Buffer.isBuffer(back)).toBe(true);
      expect(back.length).toBe(0);
    });

    it('stores only the bytes of a view, not its whole buffer', async () => {
      const whole = Buffer.from('0123456789');
      const view = whole.subarray(3, 7);
      const back = (await roundTrip(view)) as Buffer;
      expect(back.toString()).toBe('3456');
      const u8 = new Uint8Array(whole.buffer, whole.byteOffset + 2, 3);
      expect(((await roundTrip(u8)) as Buffer).toString()).toBe('234');
    });

    it('gives a Buffer and a Uint8Array of the same bytes the same digest', async () => {
      const a = await serializeOutput('a', Buffer.from([1, 2, 3]));
      const b = await serializeOutput('b', new Uint8Array([1, 2, 3]));
      expect(a.digest).toBe(b.digest);
    });

    it('gives back a Buffer that does not share memory with the stored bytes', async () => {
      const stored = await serializeOutput('train', Buffer.from([1, 2, 3]));
      const back = (await deserializeOutput(stored.bytes, stored.digest)) as Buffer;
      back[0] = 99;
      const again = (await deserializeOutput(stored.bytes, stored.digest)) as Buffer;
      expect(again[0]).toBe(1);
    });
  });

  describe('typed arrays', () => {
    const cases: [string, ArrayBufferView][] = [
      ['Int8Array', Int8Array.from([-128, -1, 0, 1, 127])],
      ['Uint8ClampedArray', Uint8ClampedArray.from([0, 128, 255])],
      ['Int16Array', Int16Array.from([-32768, -1, 0, 32767])],
      ['Uint16Array', Uint16Array.from([0, 1, 65535])],
      ['Int32Array', Int32Array.from([-2147483648, 0, 2147483647])],
      ['Uint32Array', Uint32Array.from([0, 4294967295])],
      ['Float32Array', Float32Array.from([0.5, -1.25, Number.NaN, Number.POSITIVE_INFINITY, -0])],
      [
        'Float64Array',
        Float64Array.from([Math.PI, -0, Number.NaN, Number.NEGATIVE_INFINITY, 1e-300]),
      ],
      ['BigInt64Array', BigInt64Array.from([-(2n ** 63n), -1n, 0n, 2n ** 63n - 1n])],
      ['BigUint64Array', BigUint64Array.from([0n, 2n ** 64n - 1n])],
    ];

    it.each(cases)('round-trips a %s', async (type, value) => {
      const stored = await serializeOutput('train', value);
      expect(stored.kind).toBe('typed');
      const back = await deserializeOutput(stored.bytes, stored.digest);
      expect((back as object).constructor.name).toBe(type);
      expect(back).toEqual(value);
      expect(Buffer.from((back as ArrayBufferView).buffer).equals(Buffer.from(value.buffer))).toBe(
        true,
      );
    });

    it('stores only the elements of a subarray view (its offset and length)', async () => {
      const whole = Float64Array.from([0, 1, 2, 3, 4, 5, 6, 7]);
      const view = whole.subarray(3, 6);
      expect(view.byteOffset).toBe(24);
      const back = (await roundTrip(view)) as Float64Array;
      expect(back).toBeInstanceOf(Float64Array);
      expect([...back]).toEqual([3, 4, 5]);
      expect(back.byteOffset).toBe(0);
      expect(back.buffer.byteLength).toBe(24);
    });

    it('stores only the elements of a BigInt64Array view', async () => {
      const whole = BigInt64Array.from([10n, 20n, 30n, 40n]);
      const view = new BigInt64Array(whole.buffer, 8, 2);
      expect([...((await roundTrip(view)) as BigInt64Array)]).toEqual([20n, 30n]);
    });

    it('round-trips an empty Float32Array', async () => {
      const back = (await roundTrip(new Float32Array(0))) as Float32Array;
      expect(back).toBeInstanceOf(Float32Array);
      expect(back.length).toBe(0);
    });

    it('gives the same bytes as different types different digests', async () => {
      const ints = Int32Array.from([1, 2]);
      const floats = new Float32Array(ints.buffer);
      const a = await serializeOutput('train', ints);
      const b = await serializeOutput('train', floats);
      expect(a.digest).not.toBe(b.digest);
    });

    it('refuses a DataView', async () => {
      const error = await refusal(new DataView(new ArrayBuffer(4)));
      expect(error.message).toContain('output is a DataView');
    });
  });

  describe('files and folders', () => {
    let work: string;
    const unpacked: string[] = [];

    beforeEach(async () => {
      work = await mkdtemp(join(tmpdir(), 'pipelines-serialize-'));
    });

    afterEach(async () => {
      await rm(work, { recursive: true, force: true });
      for (const path of unpacked.splice(0)) await rm(path, { recursive: true, force: true });
    });

    /** Where a digest's file or folder is unpacked; removed after the test. */
    function unpackedAt(digest: string): string {
      const target = join(unpackRoot(), digest.replace(':', '-'));
      unpacked.push(target);
      return target;
    }

    it('round-trips file() to a byte-identical file with the same name', async () => {
      const path = join(work, 'model.onnx');
      const content = randomBytes(10_000);
      await writeFile(path, content);
      const stored = await serializeOutput('train', file(path));
      expect(stored.kind).toBe('file');
      const target = unpackedAt(stored.digest);
      const back = (await deserializeOutput(stored.bytes, stored.digest)) as PathRef;
      expect(back.path).toBe(join(target, 'model.onnx'));
      expect(basename(back.path)).toBe('model.onnx');
      expect((await readFile(back.path)).equals(content)).toBe(true);
      // Read again: the unpacked copy is reused.
      const again = (await deserializeOutput(stored.bytes, stored.digest)) as PathRef;
      expect(again.path).toBe(back.path);
      expect(again).toEqual(back);
    });

    it('round-trips an empty file', async () => {
      const path = join(work, `empty-${randomUUID()}.txt`);
      await writeFile(path, '');
      const stored = await serializeOutput('train', file(path));
      unpackedAt(stored.digest);
      const back = (await deserializeOutput(stored.bytes, stored.digest)) as PathRef;
      expect((await readFile(back.path)).length).toBe(0);
    });

    it('round-trips dir() with nested files, byte-identical', async () => {
      const files: Record<string, Buffer> = {
        MLmodel: Buffer.from(`flavors: {} # ${randomUUID()}`),
        'model.onnx': randomBytes(5000),
        'empty.txt': Buffer.alloc(0),
        'sub/weights.bin': randomBytes(3000),
        'sub/deeper/config.json': Buffer.from('{"layers":[4,8,1]}'),
        'z/last.txt': Buffer.from('z'),
      };
      for (const [name, content] of Object.entries(files)) {
        await mkdir(dirname(join(work, name)), { recursive: true });
        await writeFile(join(work, name), content);
      }
      const stored = await serializeOutput('train', dir(work));
      expect(stored.kind).toBe('dir');
      const target = unpackedAt(stored.digest);
      const back = (await deserializeOutput(stored.bytes, stored.digest)) as PathRef;
      expect(back.path).toBe(target);
      const got = await tree(back.path);
      expect([...got.keys()].sort()).toEqual(Object.keys(files).sort());
      for (const [name, content] of Object.entries(files)) {
        expect(got.get(name)?.equals(content), name).toBe(true);
      }
    });

    it('round-trips an empty dir() to an empty folder', async () => {
      const empty = join(work, 'empty');
      await mkdir(empty);
      const stored = await serializeOutput('train', dir(empty));
      unpackedAt(stored.digest);
      const back = (await deserializeOutput(stored.bytes, stored.digest)) as PathRef;
      expect((await stat(back.path)).isDirectory()).toBe(true);
      expect(await readdir(back.path)).toEqual([]);
    });

    it('keeps an empty folder inside a dir() output', async () => {
      await mkdir(join(work, 'logs'));
      await writeFile(join(work, 'id'), randomUUID());
      const stored = await serializeOutput('train', dir(work));
      unpackedAt(stored.digest);
      const back = (await deserializeOutput(stored.bytes, stored.digest)) as PathRef;
      expect((await readdir(back.path)).sort()).toEqual(['id', 'logs']);
    });

    it('unpacks once when several consumers read the same output at the same time', async () => {
      await writeFile(join(work, 'a.txt'), randomUUID());
      await mkdir(join(work, 'sub'));
      await writeFile(join(work, 'sub', 'b.bin'), randomBytes(2000));
      const stored = await serializeOutput('train', dir(work));
      const target = unpackedAt(stored.digest);
      const backs = (await Promise.all(
        Array.from({ length: 4 }, () => deserializeOutput(stored.bytes, stored.digest)),
      )) as PathRef[];
      for (const back of backs) expect(back.path).toBe(target);
      const original = await tree(work);
      const got = await tree(target);
      expect([...got.keys()].sort()).toEqual([...original.keys()].sort());
      for (const [name, content] of original) expect(got.get(name)?.equals(content)).toBe(true);
      const leftovers = (await readdir(unpackRoot())).filter((n) =>
        n.startsWith(`${basename(target)}.`),
      );
      for (const name of leftovers) unpacked.push(join(unpackRoot(), name));
      expect(leftovers).toEqual([]);
    });

    it('gives equal folders equal digests, and changes the digest when a file changes', async () => {
      const a = join(work, 'a');
      const b = join(work, 'b');
      for (const root of [a, b]) {
        await mkdir(join(root, 'sub'), { recursive: true });
        await writeFile(join(root, 'x.txt'), 'x');
        await writeFile(join(root, 'sub', 'y.txt'), 'y');
      }
      const first = await serializeOutput('train', dir(a));
      const second = await serializeOutput('train', dir(b));
      expect(first.digest).toBe(second.digest);
      await writeFile(join(b, 'sub', 'y.txt'), 'Y');
      expect((await serializeOutput('train', dir(b))).digest).not.toBe(first.digest);
      await writeFile(join(b, 'sub', 'y.txt'), 'y');
      await writeFile(join(b, 'sub', 'z.txt'), '');
      expect((await serializeOutput('train', dir(b))).digest).not.toBe(first.digest);
    });

    it("gives a file's digest by its name and bytes, not its folder", async () => {
      await mkdir(join(work, 'one'));
      await mkdir(join(work, 'two'));
      await writeFile(join(work, 'one', 'model.bin'), 'same');
      await writeFile(join(work, 'two', 'model.bin'), 'same');
      await writeFile(join(work, 'two', 'other.bin'), 'same');
      const one = await serializeOutput('train', file(join(work, 'one', 'model.bin')));
      const two = await serializeOutput('train', file(join(work, 'two', 'model.bin')));
      const other = await serializeOutput('train', file(join(work, 'two', 'other.bin')));
      expect(one.digest).toBe(two.digest);
      expect(other.digest).not.toBe(one.digest);
    });

    it('refuses a file() or dir() that cannot be read, naming the step and the path', async () => {
      const missing = join(work, 'missing.bin');
      const fileError = await refusal(file(missing), 'export');
      expect(fileError.message).toMatch(
        new RegExp(
          `^Step 'export' returned an output that cannot be stored: the output is file\\('${escape(missing)}'\\), which cannot be read: .*ENOENT`,
        ),
      );
      const dirError = await refusal(dir(missing), 'export');
      expect(dirError.message).toContain(`the output is dir('${missing}'), which cannot be read`);
    });
  });

  describe('digests', () => {
    it('is sha256 of the stored bytes', async () => {
      const stored = await serializeOutput('train', { a: 1 });
      expect(stored.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(stored.digest).toBe(
        `sha256:${createHash('sha256').update(stored.bytes).digest('hex')}`,
      );
      expect(digestOf(new Uint8Array(0))).toBe(
        'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      );
    });

    it('gives equal values equal digests, whatever step made them', async () => {
      const make = () => ({ rows: [1, 2, 3], meta: { name: 'iris' } });
      const a = await serializeOutput('load', make());
      const b = await serializeOutput('other', make());
      expect(a.digest).toBe(b.digest);
      expect(Buffer.from(a.bytes).equals(Buffer.from(b.bytes))).toBe(true);
      const c = await serializeOutput('x', Float32Array.from([1, 2]));
      const d = await serializeOutput('y', Float32Array.from([1, 2]));
      expect(c.digest).toBe(d.digest);
    });

    it('gives different values different digests', async () => {
      const values: unknown[] = [
        undefined,
        null,
        0,
        1,
        '1',
        [1],
        { a: 1 },
        { a: 2 },
        true,
        Buffer.from('1'),
        Float64Array.from([1]),
        Float32Array.from([1]),
      ];
      const digests = await Promise.all(
        values.map(async (value) => (await serializeOutput('train', value)).digest),
      );
      expect(new Set(digests).size).toBe(values.length);
    });
  });

  describe('refusals name the step and the path', () => {
    class Model {
      weights = [1, 2];
    }

    it.each([
      [{ model: { predict: () => 1 } }, 'output.model.predict is a function.'],
      [() => 1, 'output is a function.'],
      [
        { metrics: { loss: Number.NaN } },
        'output.metrics.loss is NaN. JSON has no NaN or Infinity; use a Float64Array.',
      ],
      [
        [1, Number.POSITIVE_INFINITY],
        'output[1] is Infinity. JSON has no NaN or Infinity; use a Float64Array.',
      ],
      [{ rows: [{ x: 1 }, { x: -Infinity }] }, 'output.rows[1].x is -Infinity.'],
      [{ n: 10n }, 'output.n is a bigint. Use a BigInt64Array or a string.'],
      [{ at: new Date(0) }, 'output.at is a Date. Store dates as strings (toISOString()).'],
      [new Map([['a', 1]]), 'output is a Map. Convert it to an array or a plain object.'],
      [{ tags: new Set(['a']) }, 'output.tags is a Set. Convert it to an array or a plain object.'],
      [{ model: new Model() }, 'output.model is a Model.'],
      [{ re: /x/ }, 'output.re is a RegExp.'],
      [{ s: Symbol('x') }, 'output.s is a symbol.'],
      [{ p: Promise.resolve(1) }, 'output.p is a Promise.'],
    ])('refuses %s', async (value, where) => {
      const error = await refusal(value);
      expect(error.message).toMatch(/^Step 'train' returned an output that cannot be stored: /);
      expect(error.message).toContain(where);
      expect(error.message).toMatch(new RegExp(`${escape(KINDS_HINT)}$`));
    });

    it('names the step and where in the value, in the message and the context', async () => {
      const error = await refusal({ model: { predict: () => 1 } }, 'fit');
      expect(error.message).toBe(
        `Step 'fit' returned an output that cannot be stored: output.model.predict is a function. ${KINDS_HINT}`,
      );
      expect(error.context).toEqual({ step: 'fit', where: 'output.model.predict' });
      expect(error.code).toBe('INVALID_PARAMETER_VALUE');
    });

    it('refuses a cycle', async () => {
      const node: Record<string, unknown> = { name: 'a' };
      node['self'] = node;
      const error = await refusal(node);
      expect(error.message).toContain('output.self is a reference back to itself (a cycle).');
      const list: unknown[] = [1];
      list.push({ back: list });
      expect((await refusal(list)).message).toContain(
        'output[1].back is a reference back to itself',
      );
    });

    it('is named UnserializableOutputError', async () => {
      expect((await refusal(() => 1)).name).toBe('UnserializableOutputError');
    });
  });

  describe('corrupt envelopes', () => {
    it('refuses bytes without an envelope', async () => {
      for (const bytes of [
        new Uint8Array(0),
        Buffer.from('YARD'),
        Buffer.from('{"a":1} plain json'),
      ]) {
        const error = await unreadable(bytes);
        expect(error.message).toBe(
          `Stored output ${digestOf(bytes)} is not readable: no envelope.`,
        );
      }
    });

    it('refuses an unknown format', async () => {
      expect((await unreadable(envelope({ kind: 'json' }, Buffer.from('1'), 2))).message).toMatch(
        /is not readable: unknown format\.$/,
      );
    });

    it('refuses a header that is not JSON, or longer than the bytes', async () => {
      expect((await unreadable(envelope('{kind:'))).message).toMatch(
        /is not readable: bad header\.$/,
      );
      const truncated = (await serializeOutput('train', { a: 1 })).bytes.slice(0, 12);
      expect((await unreadable(truncated)).message).toMatch(/is not readable: bad header\.$/);
    });

    it('refuses an unknown kind', async () => {
      expect((await unreadable(envelope({ kind: 'zip' }))).message).toMatch(
        /is not readable: unknown kind 'zip'\.$/,
      );
      expect((await unreadable(envelope({}))).message).toMatch(/unknown kind 'undefined'\.$/);
    });

    it('refuses an unknown typed array', async () => {
      const bytes = envelope({ kind: 'typed', type: 'Float128Array' }, new Uint8Array(16));
      expect((await unreadable(bytes)).message).toMatch(/unknown typed array 'Float128Array'\.$/);
    });

    it('refuses a file name that would escape the unpack folder', async () => {
      for (const name of ['../evil', '..', 'a/b', '']) {
        const bytes = envelope({ kind: 'file', name }, Buffer.from(`x ${randomUUID()}`));
        const error = await unreadable(bytes);
        expect(error.message).toContain(`names an unsafe file '${name}'`);
        await removeStaging(digestOf(bytes));
      }
      expect(await exists(join(unpackRoot(), '..', 'evil'))).toBe(false);
    });

    it('leaves nothing behind when it refuses an unsafe file name', async () => {
      const bytes = envelope({ kind: 'file', name: '../evil' }, Buffer.from(`x ${randomUUID()}`));
      await unreadable(bytes);
      expect(await removeStaging(digestOf(bytes))).toEqual([]);
    });

    it('refuses a folder entry that would escape the unpack folder', async () => {
      for (const path of ['../evil', '/etc/passwd', 'a/../../b', 'a//b', './x', 'a\\..\\b']) {
        const bytes = envelope({ kind: 'dir', files: [{ path, size: 1 }] }, Buffer.from('x'));
        const error = await unreadable(bytes);
        expect(error.message).toContain(`names an unsafe path '${path}'`);
      }
      expect(await exists(join(unpackRoot(), '..', 'evil'))).toBe(false);
    });

    it('refuses a damaged JSON payload', async () => {
      const good = (await serializeOutput('train', { rows: [1, 2, 3] })).bytes;
      await unreadable(good.slice(0, good.length - 3));
    });

    it('refuses a typed payload that is not a whole number of elements', async () => {
      await unreadable(envelope({ kind: 'typed', type: 'Float64Array' }, new Uint8Array(12)));
    });

    it('refuses a folder payload shorter than its listed files', async () => {
      const bytes = envelope(
        { kind: 'dir', files: [{ path: `f-${randomUUID()}`, size: 100 }] },
        Buffer.from('short'),
      );
      try {
        await unreadable(bytes);
      } finally {
        await rm(join(unpackRoot(), digestOf(bytes).replace(':', '-')), {
          recursive: true,
          force: true,
        });
        await removeStaging(digestOf(bytes));
      }
    });
  });

  describe('Apache Arrow tables', () => {
    it('round-trips a table, column types and all', async () => {
      const table = tableFromArrays({
        id: Int32Array.from([1, 2, 3]),
        score: Float64Array.from([0.5, 0.25, 0.125]),
        label: ['a', 'b', 'c'],
      });
      const stored = await serializeOutput('train', table);
      expect(stored.kind).toBe('arrow');
      const back = (await deserializeOutput(stored.bytes, stored.digest)) as Table;
      expect(back.numRows).toBe(3);
      expect(back.schema.fields.map((f) => `${f.name}:${String(f.type)}`)).toEqual(
        table.schema.fields.map((f) => `${f.name}:${String(f.type)}`),
      );
      const rows = (t: Table): unknown => JSON.parse(JSON.stringify(t.toArray()));
      expect(rows(back)).toEqual([
        { id: 1, score: 0.5, label: 'a' },
        { id: 2, score: 0.25, label: 'b' },
        { id: 3, score: 0.125, label: 'c' },
      ]);
      // The same table stores as the same blob.
      expect((await serializeOutput('train', table)).digest).toBe(stored.digest);
    });
  });
});

/** Removes staging folders left in the unpack root for `digest`; returns their names. */
async function removeStaging(digest: string): Promise<string[]> {
  const prefix = `${digest.replace(':', '-')}.`;
  const names = (await readdir(unpackRoot()).catch(() => [])).filter((n) => n.startsWith(prefix));
  for (const name of names) await rm(join(unpackRoot(), name), { recursive: true, force: true });
  return names;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('JSON holding typed arrays (struct)', () => {
  it('round-trips objects and lists that hold typed arrays and bytes, views included', async () => {
    const big = new Float64Array([9, 8, 7, 6]);
    const value = {
      weights: new Float32Array([0.5, -1.25, 3]),
      ids: new BigInt64Array([1n, -2n]),
      raw: Buffer.from('bytes'),
      nested: [{ view: big.subarray(1, 3) }, 'text', 4],
    };
    const stored = await serializeOutput('train', value);
    expect(stored.kind).toBe('struct');
    const back = (await deserializeOutput(stored.bytes, stored.digest)) as typeof value;
    expect(back.weights).toEqual(new Float32Array([0.5, -1.25, 3]));
    expect(back.ids).toEqual(new BigInt64Array([1n, -2n]));
    expect(Buffer.from(back.raw as Uint8Array).toString()).toBe('bytes');
    expect(back.nested[0]).toEqual({ view: new Float64Array([8, 7]) });
    expect(back.nested.slice(1)).toEqual(['text', 4]);
    expect((await serializeOutput('train', value)).digest).toBe(stored.digest);
  });

  it('refuses an object using the reserved key', async () => {
    await expect(serializeOutput('train', { '$yard.typed': 1 })).rejects.toThrow(/reserved key/);
  });
});
