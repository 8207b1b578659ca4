import { describe, expect, it } from 'vitest';
import {
  BINARY_DATA_SIZE,
  DATATYPES,
  DEFAULT_MAX_TENSOR_ELEMENTS,
  decodeBinaryTensor,
  encodeBinaryTensor,
  InvalidParameterError,
  datatypeOf,
  decodeRequestTensor,
  elementCount,
  encodeResponseTensor,
  fromFloat16Bits,
  isDatatype,
  isShapeCompatible,
  oipToOnnxType,
  onnxToOipType,
  toFloat16Bits,
  type Datatype,
  type Tensor,
  type TensorData,
  type TensorSpec,
} from '@modelyard/core';

function expectInvalid(run: () => unknown, message: RegExp | string): InvalidParameterError {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(InvalidParameterError);
  const error = caught as InvalidParameterError;
  expect(error.code).toBe('INVALID_PARAMETER_VALUE');
  if (typeof message === 'string') expect(error.message).toBe(message);
  else expect(error.message).toMatch(message);
  return error;
}

const input = (overrides: Record<string, unknown>): Record<string, unknown> => ({
  name: 'x',
  datatype: 'FP32',
  shape: [3],
  data: [1, 2, 3],
  ...overrides,
});

describe('elementCount and isShapeCompatible', () => {
  it.each([
    [[], 1],
    [[0], 0],
    [[3], 3],
    [[2, 3, 4], 24],
    [[5, 0, 7], 0],
  ])('counts %j as %d elements', (shape, count) => {
    expect(elementCount(shape)).toBe(count);
  });

  it.each([
    [[2, 20], [-1, 20], true],
    [[2, 20], [2, 20], true],
    [[7, 3, 5], [-1, -1, -1], true],
    [[], [], true],
    [[2, 19], [-1, 20], false],
    [[2, 20], [-1, 20, 1], false],
    [[20], [-1, 20], false],
    [[3, 20], [2, -1], false],
  ])('says whether %j fits %j (%s)', (shape, spec, fits) => {
    expect(isShapeCompatible(shape, spec)).toBe(fits);
  });
});

describe('datatypes', () => {
  it('lists the thirteen protocol datatypes and recognises only them, case-sensitively', () => {
    expect(DATATYPES).toHaveLength(13);
    for (const datatype of DATATYPES) expect(isDatatype(datatype)).toBe(true);
    for (const other of ['fp32', 'BF16', 'FLOAT', '', 3, null])
      expect(isDatatype(other)).toBe(false);
  });

  it.each<[TensorData, Datatype]>([
    [new Uint8Array(1), 'UINT8'],
    [new Uint16Array(1), 'UINT16'],
    [new Uint32Array(1), 'UINT32'],
    [new BigUint64Array(1), 'UINT64'],
    [new Int8Array(1), 'INT8'],
    [new Int16Array(1), 'INT16'],
    [new Int32Array(1), 'INT32'],
    [new BigInt64Array(1), 'INT64'],
    [new Float32Array(1), 'FP32'],
    [new Float64Array(1), 'FP64'],
    [['a'], 'BYTES'],
    [[new Uint8Array(1)], 'BYTES'],
  ])('names the datatype stored in %o as %s', (data, datatype) => {
    expect(datatypeOf(data)).toBe(datatype);
  });

  it('refuses storage that no datatype uses', () => {
    expectInvalid(
      () => datatypeOf(new Uint8ClampedArray(1) as unknown as Uint8Array),
      /No tensor datatype is stored in a Uint8ClampedArray/,
    );
  });

  it.each<[Datatype, string]>([
    ['BOOL', 'bool'],
    ['UINT8', 'uint8'],
    ['UINT16', 'uint16'],
    ['UINT32', 'uint32'],
    ['UINT64', 'uint64'],
    ['INT8', 'int8'],
    ['INT16', 'int16'],
    ['INT32', 'int32'],
    ['INT64', 'int64'],
    ['FP16', 'float16'],
    ['FP32', 'float32'],
    ['FP64', 'float64'],
    ['BYTES', 'string'],
  ])('maps %s to the ONNX type %s and back', (datatype, onnxType) => {
    expect(oipToOnnxType(datatype)).toBe(onnxType);
    expect(onnxToOipType(onnxType)).toBe(datatype);
  });

  it.each(['bfloat16', 'int4', 'uint4', 'float8e4m3fn', 'FLOAT'])(
    'refuses the ONNX type %s, which the protocol cannot carry',
    (onnxType) => {
      const error = expectInvalid(
        () => onnxToOipType(onnxType),
        new RegExp(`ONNX tensor type '${onnxType}' has no Open Inference Protocol datatype`),
      );
      expect(error.context).toEqual({ onnxType });
    },
  );
});

describe('FP16 conversion', () => {
  const hex = (bits: number): string => `0x${bits.toString(16).padStart(4, '0')}`;

  it.each([
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [1 / 3, 0x3555],
    [0.1, 0x2e66],
    [65504, 0x7bff],
    [-65504, 0xfbff],
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -14 - 2 ** -24, 0x03ff], // largest subnormal
    [3 * 2 ** -25, 0x0002], // halfway between subnormals 1 and 2: ties to even (2)
    [2 ** -25, 0x0000], // halfway between 0 and the smallest subnormal: ties to even (0)
    [2 ** -25 + 2 ** -40, 0x0001], // just above halfway rounds up
    [-(2 ** -26), 0x8000], // underflows to -0
    [1 + 2 ** -11, 0x3c00], // halfway between 1 and its successor: ties to even (1)
    [1 + 3 * 2 ** -11, 0x3c02], // halfway between 0x3c01 and 0x3c02: ties to even
    [1 + 2 ** -11 + 2 ** -30, 0x3c01], // a hair above halfway rounds up
    [2048 + 1, 0x6800], // 2049 is halfway between 2048 and 2050: ties to even
    [65519, 0x7bff], // below the halfway point to the next step still rounds to max
    [65520, 0x7c00], // halfway to 65536: ties to even overflows to Infinity
    [1e6, 0x7c00],
    [-1e6, 0xfc00],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -14 * (2 - 2 ** -11), 0x0800], // rounds up across an exponent boundary
  ])('encodes %d as half bits %i', (value, bits) => {
    expect(hex(toFloat16Bits(value))).toBe(hex(bits));
  });

  it('encodes NaN as the quiet NaN and decodes every NaN pattern as NaN', () => {
    expect(toFloat16Bits(Number.NaN)).toBe(0x7e00);
    expect(fromFloat16Bits(0x7e00)).toBeNaN();
    expect(fromFloat16Bits(0x7c01)).toBeNaN();
    expect(fromFloat16Bits(0xfe00)).toBeNaN();
  });

  it.each([
    [0x3c00, 1],
    [0x7bff, 65504],
    [0x0001, 2 ** -24],
    [0x03ff, 2 ** -14 - 2 ** -24],
    [0x0400, 2 ** -14],
    [0xc000, -2],
    [0x7c00, Infinity],
    [0xfc00, -Infinity],
  ])('decodes half bits %i as %d', (bits, value) => {
    expect(fromFloat16Bits(bits)).toBe(value);
  });

  it('decodes -0 with its sign', () => {
    expect(Object.is(fromFloat16Bits(0x8000), -0)).toBe(true);
  });

  it('round-trips every non-NaN bit pattern exactly', () => {
    for (let bits = 0; bits <= 0xffff; bits += 1) {
      const value = fromFloat16Bits(bits);
      if (Number.isNaN(value)) continue;
      expect(toFloat16Bits(value)).toBe(bits);
    }
  });

  it('rounds every value to the nearest half, as the midpoints between halves show', () => {
    // Just below and above each midpoint between consecutive positive halves.
    for (let bits = 0; bits < 0x7bff; bits += 1) {
      const low = fromFloat16Bits(bits);
      const high = fromFloat16Bits(bits + 1);
      const mid = (low + high) / 2;
      const even = bits % 2 === 0 ? bits : bits + 1;
      expect(toFloat16Bits(mid)).toBe(even);
      expect(toFloat16Bits(mid - (high - low) / 1024)).toBe(bits);
      expect(toFloat16Bits(mid + (high - low) / 1024)).toBe(bits + 1);
    }
  });
});

describe('decodeRequestTensor', () => {
  describe('datatypes', () => {
    it.each<[Datatype, unknown[], TensorData]>([
      ['BOOL', [true, false, true], new Uint8Array([1, 0, 1])],
      ['UINT8', [0, 128, 255], new Uint8Array([0, 128, 255])],
      ['UINT16', [0, 1, 65535], new Uint16Array([0, 1, 65535])],
      ['UINT32', [0, 7, 4294967295], new Uint32Array([0, 7, 4294967295])],
      ['INT8', [-128, 0, 127], new Int8Array([-128, 0, 127])],
      ['INT16', [-32768, 5, 32767], new Int16Array([-32768, 5, 32767])],
      ['INT32', [-2147483648, 5, 2147483647], new Int32Array([-2147483648, 5, 2147483647])],
      [
        'INT64',
        [-9007199254740991, '-9223372036854775808', '9223372036854775807'],
        new BigInt64Array([-9007199254740991n, -9223372036854775808n, 9223372036854775807n]),
      ],
      [
        'UINT64',
        [0, 9007199254740991, '18446744073709551615'],
        new BigUint64Array([0n, 9007199254740991n, 18446744073709551615n]),
      ],
      ['FP16', [1, 65504, -0.5], new Uint16Array([0x3c00, 0x7bff, 0xb800])],
      ['FP32', [0.1, -3.5, 1e-40], new Float32Array([0.1, -3.5, 1e-40])],
      ['FP64', [0.1, -3.5, 1e300], new Float64Array([0.1, -3.5, 1e300])],
      ['BYTES', ['a', '', 'ünï €'], ['a', '', 'ünï €'] as string[]],
    ])('decodes %s elements into their typed storage', (datatype, data, expected) => {
      const tensor = decodeRequestTensor({ name: 'x', datatype, shape: [3], data });
      expect(tensor.datatype).toBe(datatype);
      expect(tensor.shape).toEqual([3]);
      expect(tensor.data).toEqual(expected);
      expect(tensor.data.constructor).toBe(expected.constructor);
      expect(tensor).not.toHaveProperty('parameters');
    });

    it('keeps the input parameters', () => {
      const tensor = decodeRequestTensor(input({ parameters: { content_type: 'np', n: 1 } }));
      expect(tensor.parameters).toEqual({ content_type: 'np', n: 1 });
    });

    it('accepts the usual spellings of NaN and the infinities for float types', () => {
      const data = ['NaN', 'Infinity', '-Infinity', 'nan', 'inf', '-inf', '+Infinity'];
      for (const datatype of ['FP16', 'FP32', 'FP64'] as const) {
        const tensor = decodeRequestTensor({ name: 'x', datatype, shape: [7], data });
        const values =
          datatype === 'FP16'
            ? Array.from(tensor.data as Uint16Array, fromFloat16Bits)
            : [...(tensor.data as Float32Array)];
        expect(values).toEqual([NaN, Infinity, -Infinity, NaN, Infinity, -Infinity, Infinity]);
      }
    });

    it('decodes base64 BYTES into bytes when the input says content_type base64', () => {
      const tensor = decodeRequestTensor({
        name: 'img',
        datatype: 'BYTES',
        shape: [3],
        data: ['AP+A', '', 'aGk='],
        parameters: { content_type: 'base64' },
      });
      expect(tensor.data).toEqual([
        new Uint8Array([0x00, 0xff, 0x80]),
        new Uint8Array([]),
        new Uint8Array([0x68, 0x69]),
      ]);
    });

    it('refuses BYTES elements that are not base64 when the input says content_type base64', () => {
      expectInvalid(
        () =>
          decodeRequestTensor({
            name: 'img',
            datatype: 'BYTES',
            shape: [1],
            data: ['not base64!'],
            parameters: { content_type: 'base64' },
          }),
        `Input 'img' element 0 is "not base64!", not base64, as the content_type "base64" requires.`,
      );
    });
  });

  describe('shapes and nesting', () => {
    it('reads nested data in row-major order, as flat data of the same shape', () => {
      const nested = decodeRequestTensor(
        input({
          datatype: 'INT32',
          shape: [2, 3],
          data: [
            [1, 2, 3],
            [4, 5, 6],
          ],
        }),
      );
      const flat = decodeRequestTensor(
        input({ datatype: 'INT32', shape: [2, 3], data: [1, 2, 3, 4, 5, 6] }),
      );
      expect(nested.data).toEqual(new Int32Array([1, 2, 3, 4, 5, 6]));
      expect(flat.data).toEqual(nested.data);
    });

    it('reads three-level nesting', () => {
      const tensor = decodeRequestTensor(
        input({
          shape: [2, 2, 2],
          data: [
            [
              [1, 2],
              [3, 4],
            ],
            [
              [5, 6],
              [7, 8],
            ],
          ],
        }),
      );
      expect(tensor.data).toEqual(new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]));
    });

    it.each([
      ['a scalar shape', [], [42], [42]],
      ['an empty tensor', [0], [], []],
      ['an empty tensor with a zero inner dimension', [2, 0], [[], []], []],
      ['an empty tensor given flat', [2, 0, 3], [], []],
    ])('accepts %s', (_label, shape, data, values) => {
      const tensor = decodeRequestTensor(input({ shape, data }));
      expect(tensor.shape).toEqual(shape);
      expect([...(tensor.data as Float32Array)]).toEqual(values);
    });

    it.each<[string, Record<string, unknown>, string | RegExp]>([
      [
        'a ragged row',
        {
          shape: [2, 3],
          data: [
            [1, 2, 3],
            [4, 5],
          ],
        },
        "Input 'x' has ragged nested data: data[1] has 2 elements but its siblings have 3.",
      ],
      [
        'a row that is an element',
        { shape: [2, 3], data: [[1, 2, 3], 4] },
        "Input 'x' has ragged nested data: data[1] is 4 where a list was expected.",
      ],
      [
        'a deeper ragged level',
        {
          shape: [2, 2, 2],
          data: [
            [
              [1, 2],
              [3, 4],
            ],
            [[5, 6], [7]],
          ],
        },
        "Input 'x' has ragged nested data: data[1][1] has 1 elements but its siblings have 2.",
      ],
      [
        'an element nested deeper than the rest',
        {
          shape: [2, 2],
          data: [
            [1, 2],
            [3, [4]],
          ],
        },
        /^Input 'x' element 3 \[1, 1\] is \[4\], an array where FP32 needs a number .*nested deeper than the shape \[2, 2\]\.$/,
      ],
      [
        'an array among flat elements',
        { shape: [3], data: [1, [2], 3] },
        /^Input 'x' element 1 is \[2\], an array where FP32 needs/,
      ],
      [
        'nesting that disagrees with the shape',
        {
          shape: [3, 2],
          data: [
            [1, 2, 3],
            [4, 5, 6],
          ],
        },
        "Input 'x' has nested data of shape [2, 3] but its shape is [3, 2]; send data nested exactly as the shape, or flat.",
      ],
      [
        'partial nesting',
        {
          shape: [2, 2, 2],
          data: [
            [1, 2, 3, 4],
            [5, 6, 7, 8],
          ],
        },
        /has nested data of shape \[2, 4\] but its shape is \[2, 2, 2\]/,
      ],
      [
        'too few flat elements',
        { shape: [2, 3], data: [1, 2, 3, 4, 5] },
        "Input 'x' has 5 elements in data but its shape [2, 3] needs 6.",
      ],
      [
        'too many flat elements',
        { shape: [2], data: [1, 2, 3] },
        "Input 'x' has 3 elements in data but its shape [2] needs 2.",
      ],
      [
        'a scalar instead of a list',
        { shape: [], data: 5 },
        "Input 'x' has data 5; data is a list of elements.",
      ],
      [
        'no data',
        { data: undefined },
        "Input 'x' has no data; JSON inputs carry their elements in 'data'.",
      ],
      [
        'a negative dimension',
        { shape: [-1, 3] },
        "Input 'x' has shape [-1,3]; a shape is a list of non-negative integers.",
      ],
      ['a fractional dimension', { shape: [1.5] }, /has shape \[1\.5\]; a shape is a list/],
      ['a string dimension', { shape: ['3'] }, /has shape \["3"\]; a shape is a list/],
      [
        'no shape',
        { shape: undefined },
        "Input 'x' has no shape; it needs a list of non-negative integers.",
      ],
    ])('refuses %s', (_label, overrides, message) => {
      expectInvalid(() => decodeRequestTensor(input(overrides)), message);
    });

    it('puts the offending counts in the error context', () => {
      const error = expectInvalid(
        () => decodeRequestTensor(input({ shape: [2, 3], data: [1, 2] })),
        /needs 6/,
      );
      expect(error.context).toEqual({
        input: 'x',
        shape: [2, 3],
        elements: 2,
        expectedElements: 6,
      });
    });

    it('refuses a tensor with more elements than the default ceiling before reading its data', () => {
      const error = expectInvalid(
        () => decodeRequestTensor(input({ shape: [65536, 1025], data: [] })),
        `Input 'x' has shape [65536, 1025] (${65536 * 1025} elements), more than the ${DEFAULT_MAX_TENSOR_ELEMENTS} elements one tensor may have.`,
      );
      expect(error.context).toMatchObject({ input: 'x', maxElements: 64 * 1024 * 1024 });
    });

    it('takes the element ceiling from the options', () => {
      expectInvalid(
        () => decodeRequestTensor(input({ shape: [3] }), undefined, { maxElements: 2 }),
        /\(3 elements\), more than the 2 elements/,
      );
      expect(
        decodeRequestTensor(input({ shape: [3] }), undefined, { maxElements: 3 }).data,
      ).toHaveLength(3);
    });

    it('refuses absurd shapes without overflowing', () => {
      expectInvalid(
        () => decodeRequestTensor(input({ shape: [2 ** 40, 2 ** 40, 2 ** 40], data: [] })),
        /more than the 67108864 elements/,
      );
    });
  });

  describe('elements', () => {
    it.each<[Datatype, unknown, string | RegExp]>([
      ['UINT8', 256, "Input 'x' element 1 is 256, outside UINT8's range [0, 255]."],
      ['UINT8', -1, "Input 'x' element 1 is -1, outside UINT8's range [0, 255]."],
      ['UINT16', 65536, /outside UINT16's range \[0, 65535\]/],
      ['UINT32', 4294967296, /outside UINT32's range \[0, 4294967295\]/],
      ['INT8', 128, /outside INT8's range \[-128, 127\]/],
      ['INT8', -129, /outside INT8's range \[-128, 127\]/],
      ['INT16', 32768, /outside INT16's range \[-32768, 32767\]/],
      ['INT32', 2147483648, /outside INT32's range \[-2147483648, 2147483647\]/],
      ['INT32', 1.5, "Input 'x' element 1 is 1.5, not an integer as INT32 requires."],
      ['INT32', '3', `Input 'x' element 1 is "3", not an integer as INT32 requires.`],
      ['INT32', true, /is true, not an integer/],
      ['INT32', null, /is null, not an integer/],
      ['INT32', { v: 1 }, /is \{"v":1\}, not an integer/],
      [
        'INT64',
        '9223372036854775808',
        `Input 'x' element 1 is "9223372036854775808", outside INT64's range [-9223372036854775808, 9223372036854775807].`,
      ],
      ['INT64', '-9223372036854775809', /outside INT64's range/],
      ['UINT64', '18446744073709551616', /outside UINT64's range \[0, 18446744073709551615\]/],
      ['UINT64', -1, /is -1, outside UINT64's range/],
      ['UINT64', '-1', /is "-1", outside UINT64's range/],
      [
        'INT64',
        2 ** 53,
        `Input 'x' element 1 is 9007199254740992, beyond the integers a JSON number carries exactly (±9007199254740991); send INT64 values this large as decimal strings, e.g. "9007199254740993".`,
      ],
      ['UINT64', 1e20, /beyond the integers a JSON number carries exactly/],
      ['INT64', 2.5, /is 2\.5, not an integer \(a JSON number or a decimal string\) as INT64/],
      ['INT64', '12abc', /is "12abc", not an integer/],
      ['INT64', '1e3', /is "1e3", not an integer/],
      ['INT64', '', /is "", not an integer/],
      [
        'FP32',
        'abc',
        `Input 'x' element 1 is "abc", not a number (or "NaN", "Infinity", "-Infinity") as FP32 requires.`,
      ],
      ['FP32', '1.5', /is "1\.5", not a number/],
      ['FP32', null, /is null, not a number/],
      [
        'FP32',
        1e39,
        "Input 'x' element 1 is 1e+39, outside FP32's range (±3.4028234663852886e+38).",
      ],
      ['FP16', 65520, "Input 'x' element 1 is 65520, outside FP16's range (±65504)."],
      ['FP16', -1e5, /outside FP16's range/],
      ['FP64', false, /is false, not a number/],
      ['BOOL', 1, "Input 'x' element 1 is 1, not true or false as BOOL requires."],
      ['BOOL', 'true', /is "true", not true or false/],
      ['BYTES', 5, "Input 'x' element 1 is 5, not a string as BYTES requires."],
      ['BYTES', null, /is null, not a string/],
    ])('refuses a %s element %j', (datatype, bad, message) => {
      const good: Record<Datatype, unknown> = {
        BOOL: true,
        UINT8: 1,
        UINT16: 1,
        UINT32: 1,
        UINT64: 1,
        INT8: 1,
        INT16: 1,
        INT32: 1,
        INT64: 1,
        FP16: 1,
        FP32: 1,
        FP64: 1,
        BYTES: 'a',
      };
      const error = expectInvalid(
        () =>
          decodeRequestTensor({
            name: 'x',
            datatype,
            shape: [3],
            data: [good[datatype], bad, good[datatype]],
          }),
        message,
      );
      expect(error.context).toMatchObject({ input: 'x', datatype, shape: [3], index: 1 });
    });

    it('keeps values that round into range, and rounds FP16 to the nearest half', () => {
      const fp16 = decodeRequestTensor(input({ datatype: 'FP16', data: [65519, 0.1, 1e-8] }));
      expect([...(fp16.data as Uint16Array)]).toEqual([0x7bff, 0x2e66, 0x0000]);
      const fp32 = decodeRequestTensor(input({ data: [3.4028235e38, 1e-50, -0] }));
      expect([...(fp32.data as Float32Array)]).toEqual([3.4028234663852886e38, 0, -0]);
    });

    it('names the element of a nested input by its position in every dimension', () => {
      const error = expectInvalid(
        () =>
          decodeRequestTensor(
            input({
              shape: [2, 2],
              data: [
                [1, 2],
                [3, 'x'],
              ],
            }),
          ),
        /^Input 'x' element 3 \[1, 1\] is "x", not a number/,
      );
      expect(error.context).toMatchObject({ index: 3, value: 'x' });
    });

    it('shortens long offending values in messages', () => {
      const long = 'z'.repeat(500);
      const error = expectInvalid(
        () => decodeRequestTensor(input({ data: [1, long, 2] })),
        /z…, not a number/,
      );
      expect(error.message.length).toBeLessThan(250);
      expect((error.context['value'] as string).length).toBe(100);
    });
  });

  describe('the input itself', () => {
    it.each<[string, unknown, string | RegExp]>([
      [
        'not an object',
        [1, 2],
        'An input is [1,2]; each input is an object with name, shape, datatype and data.',
      ],
      ['null', null, /An input is null/],
      [
        'without a name',
        { datatype: 'FP32', shape: [1], data: [1] },
        'An input has no name; every input needs a non-empty string name.',
      ],
      ['with an empty name', input({ name: '' }), /An input has the name ""/],
      ['with a numeric name', input({ name: 7 }), /An input has the name 7/],
      [
        'without a datatype',
        input({ datatype: undefined }),
        "Input 'x' has no datatype; expected one of BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BYTES.",
      ],
      [
        'with an unknown datatype',
        input({ datatype: 'FLOAT32' }),
        /^Input 'x' has unknown datatype "FLOAT32"; expected one of BOOL, /,
      ],
      [
        'with a lower-case datatype',
        input({ datatype: 'fp32' }),
        /has unknown datatype "fp32" \(datatypes are case-sensitive: 'FP32'\)/,
      ],
      ['with BF16, which is binary-only', input({ datatype: 'BF16' }), /unknown datatype "BF16"/],
      [
        'with parameters that are not an object',
        input({ parameters: [1] }),
        "Input 'x' has parameters [1]; parameters are an object.",
      ],
    ])('refuses an input %s', (_label, json, message) => {
      expectInvalid(() => decodeRequestTensor(json), message);
    });
  });

  describe('against the model spec', () => {
    const spec: TensorSpec = { name: 'features', datatype: 'FP32', shape: [-1, 20] };
    const row = Array.from({ length: 20 }, (_, i) => i / 10);

    it('accepts any batch size where the spec says -1', () => {
      for (const batch of [0, 1, 7]) {
        const tensor = decodeRequestTensor(
          {
            name: 'features',
            datatype: 'FP32',
            shape: [batch, 20],
            data: Array(batch).fill(row).flat(),
          },
          spec,
        );
        expect(tensor.data).toHaveLength(batch * 20);
      }
    });

    it.each<[string, Record<string, unknown>, string, Record<string, unknown>]>([
      [
        'a wrong inner dimension',
        { shape: [2, 19] },
        "Input 'features' has shape [2, 19] but the model expects [-1, 20]",
        { input: 'features', shape: [2, 19], expectedShape: [-1, 20] },
      ],
      [
        'a wrong rank',
        { shape: [40] },
        "Input 'features' has shape [40] but the model expects [-1, 20]",
        { shape: [40], expectedShape: [-1, 20] },
      ],
      [
        'a wrong datatype',
        { datatype: 'INT64' },
        "Input 'features' has datatype INT64 but the model expects FP32",
        { input: 'features', datatype: 'INT64', expectedDatatype: 'FP32' },
      ],
      [
        'another input name',
        { name: 'feature' },
        "Input 'feature' was checked against the model's input 'features'.",
        { input: 'feature', expectedName: 'features' },
      ],
    ])(
      'refuses %s, naming what was received and what is expected',
      (_label, overrides, message, context) => {
        const json = {
          name: 'features',
          datatype: 'FP32',
          shape: [2, 20],
          data: [...row, ...row],
          ...overrides,
        };
        const error = expectInvalid(() => decodeRequestTensor(json, spec), message);
        expect(error.context).toMatchObject(context);
      },
    );

    it('checks the spec before the data, so a mismatch is reported as such', () => {
      expectInvalid(
        () =>
          decodeRequestTensor(
            { name: 'features', datatype: 'FP32', shape: [1, 19], data: ['bad'] },
            spec,
          ),
        "Input 'features' has shape [1, 19] but the model expects [-1, 20]",
      );
    });
  });
});

describe('encodeResponseTensor', () => {
  it.each<[string, Tensor, unknown[]]>([
    [
      'BOOL',
      { name: 'y', datatype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 2]) },
      [true, false, true],
    ],
    [
      'UINT8',
      { name: 'y', datatype: 'UINT8', shape: [2], data: new Uint8Array([0, 255]) },
      [0, 255],
    ],
    [
      'UINT16',
      { name: 'y', datatype: 'UINT16', shape: [2], data: new Uint16Array([0, 65535]) },
      [0, 65535],
    ],
    [
      'UINT32',
      { name: 'y', datatype: 'UINT32', shape: [1], data: new Uint32Array([4294967295]) },
      [4294967295],
    ],
    [
      'INT8',
      { name: 'y', datatype: 'INT8', shape: [2], data: new Int8Array([-128, 127]) },
      [-128, 127],
    ],
    [
      'INT16',
      { name: 'y', datatype: 'INT16', shape: [1], data: new Int16Array([-32768]) },
      [-32768],
    ],
    [
      'INT32',
      { name: 'y', datatype: 'INT32', shape: [1], data: new Int32Array([-2147483648]) },
      [-2147483648],
    ],
    [
      'INT64',
      {
        name: 'y',
        datatype: 'INT64',
        shape: [4],
        data: new BigInt64Array([
          -9007199254740991n,
          9007199254740991n,
          9007199254740992n,
          -9223372036854775808n,
        ]),
      },
      [-9007199254740991, 9007199254740991, '9007199254740992', '-9223372036854775808'],
    ],
    [
      'UINT64',
      {
        name: 'y',
        datatype: 'UINT64',
        shape: [2],
        data: new BigUint64Array([7n, 18446744073709551615n]),
      },
      [7, '18446744073709551615'],
    ],
    [
      'FP16',
      {
        name: 'y',
        datatype: 'FP16',
        shape: [5],
        data: new Uint16Array([0x3c00, 0x7bff, 0x0001, 0x7c00, 0x7e00]),
      },
      [1, 65504, 2 ** -24, 'Infinity', 'NaN'],
    ],
    [
      'FP32',
      {
        name: 'y',
        datatype: 'FP32',
        shape: [4],
        data: new Float32Array([0.5, -Infinity, NaN, 0.1]),
      },
      [0.5, '-Infinity', 'NaN', Math.fround(0.1)],
    ],
    [
      'FP64',
      { name: 'y', datatype: 'FP64', shape: [2], data: new Float64Array([0.1, 1e300]) },
      [0.1, 1e300],
    ],
    [
      'BYTES strings',
      { name: 'y', datatype: 'BYTES', shape: [2], data: ['cat', 'dög'] },
      ['cat', 'dög'],
    ],
    [
      'BYTES bytes that are UTF-8',
      {
        name: 'y',
        datatype: 'BYTES',
        shape: [2],
        data: [new TextEncoder().encode('dög'), new Uint8Array()],
      },
      ['dög', ''],
    ],
  ])('writes %s elements as the protocol JSON', (_label, tensor, data) => {
    const json = encodeResponseTensor(tensor);
    expect(json).toEqual({ name: 'y', datatype: tensor.datatype, shape: tensor.shape, data });
    expect(json).not.toHaveProperty('parameters');
    // The response must survive JSON serialisation unchanged (no BigInt, no NaN turned null).
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
  });

  it('writes BYTES as base64 with content_type base64 when any element is not UTF-8', () => {
    const json = encodeResponseTensor({
      name: 'blob',
      datatype: 'BYTES',
      shape: [2],
      data: [new Uint8Array([0x68, 0x69]), new Uint8Array([0x00, 0xff, 0x80])],
      parameters: { kept: true },
    });
    expect(json.data).toEqual(['aGk=', 'AP+A']);
    expect(json.parameters).toEqual({ kept: true, content_type: 'base64' });
  });

  it('writes BYTES as base64 when the tensor already asks for content_type base64', () => {
    const json = encodeResponseTensor({
      name: 'blob',
      datatype: 'BYTES',
      shape: [1],
      data: [new Uint8Array([0x68, 0x69])],
      parameters: { content_type: 'base64' },
    });
    expect(json.data).toEqual(['aGk=']);
  });

  it('encodes large byte elements to base64 in chunks', () => {
    const big = new Uint8Array(100_000).map((_, i) => (i * 7) % 256);
    big[0] = 0xff; // not UTF-8
    const json = encodeResponseTensor({ name: 'b', datatype: 'BYTES', shape: [1], data: [big] });
    const back = decodeRequestTensor({ ...json, parameters: { content_type: 'base64' } });
    expect(back.data).toEqual([big]);
  });

  it('copies the shape and parameters rather than sharing them', () => {
    const tensor: Tensor = {
      name: 'y',
      datatype: 'FP32',
      shape: [1],
      data: new Float32Array([1]),
      parameters: { a: 1 },
    };
    const json = encodeResponseTensor(tensor);
    expect(json.shape).not.toBe(tensor.shape);
    expect(json.parameters).not.toBe(tensor.parameters);
    expect(json.parameters).toEqual({ a: 1 });
  });

  it.each<[string, Tensor, RegExp | string]>([
    [
      'a length that disagrees with the shape',
      { name: 'y', datatype: 'FP32', shape: [2, 2], data: new Float32Array(3) },
      "Output 'y' has 3 elements but its shape [2, 2] needs 4.",
    ],
    [
      'storage of another datatype',
      {
        name: 'y',
        datatype: 'FP32',
        shape: [1],
        data: new Float64Array(1) as unknown as Float32Array,
      },
      "Output 'y' has datatype FP32 but its data is a Float64Array of other elements.",
    ],
    [
      'BYTES of mixed elements',
      { name: 'y', datatype: 'BYTES', shape: [2], data: ['a', 1] as unknown as string[] },
      /Output 'y' has datatype BYTES but its data is a Array/,
    ],
  ])('refuses a tensor with %s', (_label, tensor, message) => {
    expectInvalid(() => encodeResponseTensor(tensor), message);
  });
});

describe('round trips', () => {
  const cases: [Datatype, unknown[]][] = [
    ['BOOL', [true, false, false, true]],
    ['UINT8', [0, 1, 254, 255]],
    ['UINT16', [0, 1, 65534, 65535]],
    ['UINT32', [0, 1, 4294967294, 4294967295]],
    ['UINT64', [0, 9007199254740991, '9007199254740992', '18446744073709551615']],
    ['INT8', [-128, -1, 0, 127]],
    ['INT16', [-32768, -1, 0, 32767]],
    ['INT32', [-2147483648, -1, 0, 2147483647]],
    ['INT64', ['-9223372036854775808', -9007199254740991, 0, '9223372036854775807']],
    ['FP16', [1, -65504, 2 ** -24, 'Infinity']],
    ['FP32', [0.5, -1.25, 'NaN', '-Infinity']],
    ['FP64', [0.1, Number.MAX_VALUE, Number.MIN_VALUE, -0.3]],
    ['BYTES', ['', 'a', 'ünï', '€']],
  ];

  it.each(cases)('%s data survives decode then encode unchanged', (datatype, data) => {
    const json = { name: 'x', datatype, shape: [2, 2], data };
    const tensor = decodeRequestTensor(json, { name: 'x', datatype, shape: [-1, 2] });
    expect(encodeResponseTensor(tensor)).toEqual(json);
  });

  it('covers every datatype', () => {
    expect(new Set(cases.map(([datatype]) => datatype))).toEqual(new Set(DATATYPES));
  });
});

const fromHex = (hex: string): Uint8Array =>
  new Uint8Array((hex.match(/../g) ?? []).map((pair) => parseInt(pair, 16)));
const toHex = (bytes: Uint8Array): string =>
  Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');

describe('binary tensor data', () => {
  // Bytes as numpy's tobytes() and tritonclient's serialize_byte_tensor write them.
  it.each<[Datatype, number[], string, TensorData]>([
    ['FP32', [2], '0000803f000020c0', new Float32Array([1, -2.5])],
    ['FP16', [2], '003cff7b', new Uint16Array([0x3c00, 0x7bff])],
    ['INT64', [2], 'ffffffffffffffff0000000000010000', new BigInt64Array([-1n, 2n ** 40n])],
    ['BOOL', [2], '0100', new Uint8Array([1, 0])],
    ['INT16', [1, 2], 'feff0300', new Int16Array([-2, 3])],
    ['UINT32', [1], 'ffffffff', new Uint32Array([4294967295])],
    ['FP64', [1], '000000000000f03f', new Float64Array([1])],
    ['BYTES', [2], '02000000616200000000', [new Uint8Array([0x61, 0x62]), new Uint8Array([])]],
  ])('decodes binary %s data of shape %j and encodes it back', (datatype, shape, hex, data) => {
    const bytes = fromHex(hex);
    const tensor = decodeBinaryTensor(
      { name: 'x', datatype, shape, parameters: { [BINARY_DATA_SIZE]: bytes.length, keep: 'me' } },
      bytes,
    );
    expect(tensor.data).toEqual(data);
    expect(tensor.parameters).toEqual({ keep: 'me' });
    const encoded = encodeBinaryTensor(tensor);
    expect(toHex(encoded.bytes)).toBe(toHex(bytes));
    expect(encoded.json).toEqual({
      name: 'x',
      datatype,
      shape,
      parameters: { keep: 'me', binary_data_size: bytes.length },
    });
  });

  it('decodes a Node Buffer slice without reading the rest of its pool', () => {
    // Small Buffers share one pooled ArrayBuffer; Buffer#slice() would not copy.
    const body = Buffer.from(fromHex('ff0000803f000020c0'));
    const tensor = decodeBinaryTensor(
      { name: 'x', datatype: 'FP32', shape: [2], parameters: { [BINARY_DATA_SIZE]: 8 } },
      body.subarray(1),
    );
    expect(tensor.data).toEqual(new Float32Array([1, -2.5]));
  });

  it('decodes from a body slice at an odd offset into data that owns its memory', () => {
    const body = fromHex('ff0000803f000020c0');
    const tensor = decodeBinaryTensor(
      { name: 'x', datatype: 'FP32', shape: [2] },
      body.subarray(1),
    );
    expect(tensor.data).toEqual(new Float32Array([1, -2.5]));
    body.fill(0);
    expect(tensor.data).toEqual(new Float32Array([1, -2.5]));
    expect(tensor).not.toHaveProperty('parameters');
  });

  it('checks binary inputs against the model spec', () => {
    expectInvalid(
      () =>
        decodeBinaryTensor({ name: 'f', datatype: 'FP64', shape: [1] }, new Uint8Array(8), {
          name: 'f',
          datatype: 'FP32',
          shape: [-1],
        }),
      "Input 'f' has datatype FP64 but the model expects FP32",
    );
  });

  it.each<[string, Record<string, unknown>, Uint8Array, string | RegExp]>([
    [
      'too few bytes for the shape',
      { datatype: 'FP32', shape: [2] },
      new Uint8Array(7),
      "Input 'x' has 7 bytes of binary data but shape [2] of FP32 needs 8.",
    ],
    [
      'a size that disagrees with binary_data_size',
      { datatype: 'UINT8', shape: [2], parameters: { binary_data_size: 3 } },
      new Uint8Array(2),
      "Input 'x' declares 3 bytes of binary data but has 2.",
    ],
    [
      'JSON data as well',
      { datatype: 'UINT8', shape: [1], data: [1] },
      new Uint8Array(1),
      "Input 'x' has both JSON data and binary data; send one of them.",
    ],
    [
      'a BOOL byte that is not 0 or 1',
      { datatype: 'BOOL', shape: [2] },
      new Uint8Array([1, 2]),
      "Input 'x' element 1 is 2, not 0 or 1 as a binary BOOL requires.",
    ],
    [
      'a BYTES element longer than the data',
      { datatype: 'BYTES', shape: [1] },
      fromHex('0500000061'),
      "Input 'x' BYTES element 0 declares 5 bytes but only 1 remain in its binary data.",
    ],
    [
      'BYTES data with elements left over',
      { datatype: 'BYTES', shape: [1] },
      fromHex('01000000610100000062'),
      /has binary BYTES data of 10 bytes that does not hold exactly the 1 elements its shape \[1\] needs/,
    ],
    [
      'BYTES data with too few elements',
      { datatype: 'BYTES', shape: [2] },
      fromHex('0100000061'),
      /does not hold exactly the 2 elements/,
    ],
    [
      'a truncated BYTES length',
      { datatype: 'BYTES', shape: [2] },
      fromHex('0100000061ff'),
      /does not hold exactly the 2 elements/,
    ],
  ])('refuses %s', (_label, overrides, bytes, message) => {
    expectInvalid(() => decodeBinaryTensor({ name: 'x', ...overrides }, bytes), message);
  });

  it('writes BYTES strings as UTF-8 and BOOL values as 0 or 1', () => {
    expect(
      toHex(encodeBinaryTensor({ name: 'y', datatype: 'BYTES', shape: [1], data: ['é'] }).bytes),
    ).toBe('02000000c3a9');
    expect(
      toHex(
        encodeBinaryTensor({
          name: 'y',
          datatype: 'BOOL',
          shape: [3],
          data: new Uint8Array([0, 7, 1]),
        }).bytes,
      ),
    ).toBe('000101');
  });

  it('refuses an inconsistent output', () => {
    expectInvalid(
      () =>
        encodeBinaryTensor({ name: 'y', datatype: 'INT32', shape: [2], data: new Int32Array(1) }),
      "Output 'y' has 1 elements but its shape [2] needs 2.",
    );
  });
});
