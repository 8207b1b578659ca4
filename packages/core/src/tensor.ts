/**
 * The tensor layer of the Open Inference Protocol v2 (KServe "predict v2", Triton's HTTP/REST
 * protocol): the thirteen datatypes, a typed in-memory {@link Tensor}, and the conversions
 * between it and the protocol's JSON tensors, checked element by element.
 *
 * Wire form, as `tritonclient.http.InferInput.set_data_from_numpy(..., binary_data=False)` sends
 * it and `InferResult.as_numpy` reads it back (`np.array(data, dtype).reshape(shape)`):
 * `{"name", "shape", "datatype", "data", "parameters"?}` with `data` the row-major elements,
 * BOOL as `true`/`false`, FP16 as plain numbers, BYTES as UTF-8 strings.
 *
 * Choices where the protocol leaves room (each one is also tested):
 * - `data` may be flat or nested. Nested data must be rectangular and its dimensions must equal
 *   `shape` exactly; flat data must hold `product(shape)` elements.
 * - BOOL accepts only `true`/`false`; the integer types accept only JSON numbers that are
 *   integers within the type's range. INT64/UINT64 also accept decimal strings (`"-42"`), the
 *   only way JSON carries values beyond ±(2^53 − 1) exactly; a JSON *number* beyond that is
 *   refused, because the JSON parser has already rounded it and the value the client meant is
 *   lost.
 * - FP16/FP32/FP64 accept JSON numbers and the strings `"NaN"`, `"Infinity"`, `"-Infinity"`
 *   (also `"inf"`/`"nan"` in any case, with an optional sign), because JSON has no literal for
 *   them. A finite number too large for the type (it would become ±Infinity) is refused.
 *   FP16 values are rounded to the nearest half, ties to even.
 * - BYTES elements are strings, kept as strings. With the input parameter
 *   `content_type: "base64"` (MLServer's convention) each element is base64 and is decoded to
 *   bytes.
 * - Responses write INT64/UINT64 as JSON numbers when they are safe integers, else as decimal
 *   strings (numpy parses both); non-finite floats as `"NaN"`/`"Infinity"`/`"-Infinity"`; BYTES
 *   held as bytes as UTF-8 strings when every element is valid UTF-8, else all as base64 with
 *   `parameters.content_type = "base64"`.
 *
 * Triton's binary tensor data extension (`parameters.binary_data_size`, the elements appended
 * after the JSON body; `tritonclient`'s default) is handled by {@link decodeBinaryTensor} and
 * {@link encodeBinaryTensor}; splitting the HTTP body is the HTTP layer's job.
 *
 * Every failure is an {@link InvalidParameterError} whose message names the input and the
 * offending value or shape, and whose `context` carries them (the binary form alone also throws
 * a `NOT_IMPLEMENTED` {@link YardError} on a big-endian host, which Node hardly runs on).
 */
import { InvalidParameterError, YardError } from './errors.js';

/** The protocol's tensor datatypes, in the order its specification lists them. */
export const DATATYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES',
] as const;

/** One Open Inference Protocol tensor datatype. */
export type Datatype = (typeof DATATYPES)[number];

/**
 * The in-memory element storage for each datatype. BOOL is one byte per element (0 or 1);
 * FP16 holds the IEEE 754 half-precision bit patterns (see {@link toFloat16Bits}); BYTES holds
 * strings, or raw bytes per element when the input was base64.
 */
export interface TensorDataByDatatype {
  BOOL: Uint8Array;
  UINT8: Uint8Array;
  UINT16: Uint16Array;
  UINT32: Uint32Array;
  UINT64: BigUint64Array;
  INT8: Int8Array;
  INT16: Int16Array;
  INT32: Int32Array;
  INT64: BigInt64Array;
  FP16: Uint16Array;
  FP32: Float32Array;
  FP64: Float64Array;
  BYTES: string[] | Uint8Array[];
}

/** Element storage of any datatype. */
export type TensorData = TensorDataByDatatype[Datatype];

/** Protocol `parameters` of a tensor: names to JSON values (bool, int64 or string by spec). */
export type TensorParameters = Record<string, unknown>;

/** A tensor of one known datatype. */
export interface TensorOf<D extends Datatype> {
  /** The input or output name. */
  name: string;
  datatype: D;
  /** Dimensions, outermost first; every one a non-negative integer. */
  shape: number[];
  /** The elements in row-major order; `data.length === elementCount(shape)`. */
  data: TensorDataByDatatype[D];
  parameters?: TensorParameters;
}

/** A tensor; `datatype` discriminates the kind of `data`. */
export type Tensor = { [D in Datatype]: TensorOf<D> }[Datatype];

/** What a model declares for one input or output. A dimension of `-1` takes any size. */
export interface TensorSpec {
  name: string;
  datatype: Datatype;
  shape: number[];
}

/** One element of a JSON tensor's `data`. */
export type JsonTensorElement = number | string | boolean;

/** A tensor as the protocol's JSON carries it (a response output). */
export interface JsonTensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  data: JsonTensorElement[];
  parameters?: TensorParameters;
}

/** Options of {@link decodeRequestTensor}. */
export interface DecodeTensorOptions {
  /** Most elements one tensor may have; default {@link DEFAULT_MAX_TENSOR_ELEMENTS}. */
  maxElements?: number;
}

/** The default ceiling on the elements of one decoded tensor: 64 Mi. */
export const DEFAULT_MAX_TENSOR_ELEMENTS = 64 * 1024 * 1024;

/** The onnxruntime `Tensor` type names that have an Open Inference Protocol datatype. */
export type OnnxTensorType =
  | 'bool'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'float16'
  | 'float32'
  | 'float64'
  | 'string';

const OIP_TO_ONNX: Readonly<Record<Datatype, OnnxTensorType>> = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
  BYTES: 'string',
};

const ONNX_TO_OIP: ReadonlyMap<string, Datatype> = new Map(
  DATATYPES.map((datatype) => [OIP_TO_ONNX[datatype], datatype]),
);

/** Bounds of the integer datatypes of 32 bits or fewer. */
const SMALL_INT_RANGE = {
  UINT8: [0, 0xff],
  UINT16: [0, 0xffff],
  UINT32: [0, 0xffff_ffff],
  INT8: [-0x80, 0x7f],
  INT16: [-0x8000, 0x7fff],
  INT32: [-0x8000_0000, 0x7fff_ffff],
} as const;

const BIG_INT_RANGE = {
  UINT64: [0n, 0xffff_ffff_ffff_ffffn],
  INT64: [-0x8000_0000_0000_0000n, 0x7fff_ffff_ffff_ffffn],
} as const;

/** Largest finite value of each float type (FP64's is implicit). */
const FLOAT_MAX = { FP16: 65504, FP32: 3.4028234663852886e38 } as const;

const NON_FINITE_STRINGS: ReadonlyMap<string, number> = new Map([
  ['nan', Number.NaN],
  ['+nan', Number.NaN],
  ['-nan', Number.NaN],
  ['inf', Number.POSITIVE_INFINITY],
  ['+inf', Number.POSITIVE_INFINITY],
  ['infinity', Number.POSITIVE_INFINITY],
  ['+infinity', Number.POSITIVE_INFINITY],
  ['-inf', Number.NEGATIVE_INFINITY],
  ['-infinity', Number.NEGATIVE_INFINITY],
]);

const DECIMAL_INTEGER_RE = /^[+-]?\d+$/;
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const UTF8_ENCODER = new TextEncoder();
const PREVIEW_CHARS = 100;

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

/** True when `value` is one of the protocol's datatypes (case-sensitive, as the protocol is). */
export function isDatatype(value: unknown): value is Datatype {
  return typeof value === 'string' && (DATATYPES as readonly string[]).includes(value);
}

/**
 * The number of elements of a tensor of this shape: the product of its dimensions (1 for the
 * scalar shape `[]`).
 */
export function elementCount(shape: readonly number[]): number {
  let count = 1;
  for (const dim of shape) count *= dim;
  return count;
}

/**
 * True when a tensor of `shape` fits a declared `specShape`: the same rank, and every declared
 * dimension either `-1` (any size) or equal.
 */
export function isShapeCompatible(shape: readonly number[], specShape: readonly number[]): boolean {
  if (shape.length !== specShape.length) return false;
  return shape.every((dim, i) => specShape[i] === -1 || specShape[i] === dim);
}

/** Writes a shape as the messages show it: `[2, 3]`. */
export function formatShape(shape: readonly unknown[]): string {
  return `[${shape.map((dim) => String(dim)).join(', ')}]`;
}

/**
 * The datatype whose storage `data` is. Ambiguous storage answers the plain integer type:
 * `Uint8Array` is UINT8 (BOOL uses it too) and `Uint16Array` is UINT16 (FP16 uses it too).
 *
 * @throws InvalidParameterError for storage no datatype uses (e.g. `Uint8ClampedArray`).
 */
export function datatypeOf(data: TensorData): Datatype {
  if (Array.isArray(data)) return 'BYTES';
  if (data instanceof Uint8Array) return 'UINT8';
  if (data instanceof Uint16Array) return 'UINT16';
  if (data instanceof Uint32Array) return 'UINT32';
  if (data instanceof BigUint64Array) return 'UINT64';
  if (data instanceof Int8Array) return 'INT8';
  if (data instanceof Int16Array) return 'INT16';
  if (data instanceof Int32Array) return 'INT32';
  if (data instanceof BigInt64Array) return 'INT64';
  if (data instanceof Float32Array) return 'FP32';
  if (data instanceof Float64Array) return 'FP64';
  const kind = (data as object).constructor.name;
  throw new InvalidParameterError(`No tensor datatype is stored in a ${kind}.`, { kind });
}

/** The onnxruntime `Tensor` type name for an Open Inference Protocol datatype. */
export function oipToOnnxType(datatype: Datatype): OnnxTensorType {
  return OIP_TO_ONNX[datatype];
}

/**
 * The Open Inference Protocol datatype for an onnxruntime `Tensor` type name.
 *
 * @throws InvalidParameterError for ONNX types the protocol cannot carry (`bfloat16`, `int4`,
 *   `uint4`, float8 types, …).
 */
export function onnxToOipType(onnxType: string): Datatype {
  const datatype = ONNX_TO_OIP.get(onnxType);
  if (datatype === undefined) {
    throw new InvalidParameterError(
      `ONNX tensor type '${onnxType}' has no Open Inference Protocol datatype; supported: ` +
        `${[...ONNX_TO_OIP.keys()].join(', ')}.`,
      { onnxType },
    );
  }
  return datatype;
}

// ---------------------------------------------------------------------------------------------
// FP16
// ---------------------------------------------------------------------------------------------

function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const fraction = x - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * The IEEE 754 binary16 bit pattern nearest to `value`, rounding ties to even, straight from
 * the double (going through float32 first would round twice). Values from 65520 up become
 * Infinity, values below 2^-14 become subnormals (or ±0), NaN becomes the quiet NaN `0x7e00`.
 *
 * @example toFloat16Bits(1) === 0x3c00; toFloat16Bits(65504) === 0x7bff
 */
export function toFloat16Bits(value: number): number {
  if (Number.isNaN(value)) return 0x7e00;
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const magnitude = Math.abs(value);
  // 65520 is halfway between 65504 (odd mantissa) and the next step, 65536: ties go up to Inf.
  if (magnitude >= 65520) return sign | 0x7c00;
  if (magnitude < 2 ** -14) {
    // Subnormal: units of 2^-24; scaling by a power of two is exact. A result of 0x400 is the
    // smallest normal number, which the same bits encode.
    return sign | roundHalfEven(magnitude * 2 ** 24);
  }
  let exponent = Math.floor(Math.log2(magnitude));
  // log2 can be off by one next to powers of two; settle it exactly.
  if (2 ** exponent > magnitude) exponent -= 1;
  else if (2 ** (exponent + 1) <= magnitude) exponent += 1;
  let mantissa = roundHalfEven((magnitude / 2 ** exponent - 1) * 1024);
  if (mantissa === 1024) {
    mantissa = 0;
    exponent += 1;
  }
  return sign | ((exponent + 15) << 10) | mantissa;
}

/** The number an IEEE 754 binary16 bit pattern encodes (exactly; every half is a double). */
export function fromFloat16Bits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

// ---------------------------------------------------------------------------------------------
// Decoding request inputs
// ---------------------------------------------------------------------------------------------

function preview(value: unknown): string {
  let text: string;
  if (typeof value === 'number' || typeof value === 'bigint' || value === undefined) {
    text = String(value);
  } else {
    // Values here come from parsed JSON, so they always have a JSON text.
    text = JSON.stringify(value);
  }
  return text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS)}…` : text;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Row-major flat index -> multi-index, for messages. */
function unravel(index: number, shape: readonly number[]): number[] {
  const position: number[] = new Array<number>(shape.length).fill(0);
  let rest = index;
  for (let axis = shape.length - 1; axis >= 0; axis -= 1) {
    const dim = shape[axis] ?? 1;
    position[axis] = rest % dim;
    rest = Math.floor(rest / dim);
  }
  return position;
}

/** Context shared by the checks of one input. */
interface InputScope {
  name: string;
  datatype: Datatype;
  shape: number[];
}

function elementError(
  scope: InputScope,
  index: number,
  value: unknown,
  problem: string,
): InvalidParameterError {
  const where =
    scope.shape.length > 1
      ? `element ${index} ${formatShape(unravel(index, scope.shape))}`
      : `element ${index}`;
  return new InvalidParameterError(
    `Input '${scope.name}' ${where} is ${preview(value)}, ${problem}`,
    {
      input: scope.name,
      datatype: scope.datatype,
      shape: scope.shape,
      index,
      value: typeof value === 'string' ? value.slice(0, PREVIEW_CHARS) : value,
    },
  );
}

function notA(
  scope: InputScope,
  index: number,
  value: unknown,
  what: string,
): InvalidParameterError {
  if (Array.isArray(value)) {
    return elementError(
      scope,
      index,
      value,
      `an array where ${scope.datatype} needs ${what}: data is nested deeper than the shape ` +
        `${formatShape(scope.shape)}.`,
    );
  }
  return elementError(scope, index, value, `not ${what} as ${scope.datatype} requires.`);
}

function checkName(json: Record<string, unknown>): string {
  const name = json['name'];
  if (typeof name !== 'string' || name === '') {
    throw new InvalidParameterError(
      `An input has ${name === undefined ? 'no name' : `the name ${preview(name)}`}; every input ` +
        'needs a non-empty string name.',
      { input: name },
    );
  }
  return name;
}

function checkDatatype(name: string, datatype: unknown): Datatype {
  if (isDatatype(datatype)) return datatype;
  const hint =
    typeof datatype === 'string' && isDatatype(datatype.toUpperCase())
      ? ` (datatypes are case-sensitive: '${datatype.toUpperCase()}')`
      : '';
  throw new InvalidParameterError(
    datatype === undefined
      ? `Input '${name}' has no datatype; expected one of ${DATATYPES.join(', ')}.`
      : `Input '${name}' has unknown datatype ${preview(datatype)}${hint}; expected one of ` +
          `${DATATYPES.join(', ')}.`,
    { input: name, datatype },
  );
}

function checkShape(name: string, shape: unknown): number[] {
  const valid =
    Array.isArray(shape) &&
    shape.every((dim) => typeof dim === 'number' && Number.isSafeInteger(dim) && dim >= 0);
  if (!valid) {
    throw new InvalidParameterError(
      shape === undefined
        ? `Input '${name}' has no shape; it needs a list of non-negative integers.`
        : `Input '${name}' has shape ${preview(shape)}; a shape is a list of non-negative ` +
            'integers.',
      { input: name, shape },
    );
  }
  return [...(shape as number[])];
}

function checkSpec(scope: InputScope, spec: TensorSpec): void {
  if (spec.name !== scope.name) {
    throw new InvalidParameterError(
      `Input '${scope.name}' was checked against the model's input '${spec.name}'.`,
      { input: scope.name, expectedName: spec.name },
    );
  }
  if (spec.datatype !== scope.datatype) {
    throw new InvalidParameterError(
      `Input '${scope.name}' has datatype ${scope.datatype} but the model expects ${spec.datatype}`,
      { input: scope.name, datatype: scope.datatype, expectedDatatype: spec.datatype },
    );
  }
  if (!isShapeCompatible(scope.shape, spec.shape)) {
    throw new InvalidParameterError(
      `Input '${scope.name}' has shape ${formatShape(scope.shape)} but the model expects ` +
        formatShape(spec.shape),
      { input: scope.name, shape: scope.shape, expectedShape: spec.shape },
    );
  }
}

/** Refuses shapes over the ceiling, without overflowing on absurd ones. */
function checkSize(scope: InputScope, maxElements: number): number {
  let count = 1;
  for (const dim of scope.shape) count *= dim;
  if (count > maxElements) {
    throw new InvalidParameterError(
      `Input '${scope.name}' has shape ${formatShape(scope.shape)} (${count} elements), more ` +
        `than the ${maxElements} elements one tensor may have.`,
      { input: scope.name, shape: scope.shape, elements: count, maxElements },
    );
  }
  return count;
}

/**
 * The dimensions of (possibly nested) `data`, checked to be rectangular, then the flat
 * elements.
 */
function flattenData(scope: InputScope, data: unknown, count: number): unknown[] {
  if (!Array.isArray(data)) {
    throw new InvalidParameterError(
      data === undefined
        ? `Input '${scope.name}' has no data; JSON inputs carry their elements in 'data'.`
        : `Input '${scope.name}' has data ${preview(data)}; data is a list of elements.`,
      { input: scope.name, data: data === undefined ? undefined : preview(data) },
    );
  }
  // The nesting that the first elements show; every other branch must agree with it.
  const dims: number[] = [];
  let probe: unknown = data;
  while (Array.isArray(probe)) {
    dims.push(probe.length);
    probe = probe[0];
  }
  if (dims.length === 1) {
    if (data.length !== count) {
      throw new InvalidParameterError(
        `Input '${scope.name}' has ${data.length} elements in data but its shape ` +
          `${formatShape(scope.shape)} needs ${count}.`,
        { input: scope.name, shape: scope.shape, elements: data.length, expectedElements: count },
      );
    }
    return data;
  }
  checkRectangular(scope, data, dims, 0, 'data');
  if (dims.length !== scope.shape.length || dims.some((dim, i) => dim !== scope.shape[i])) {
    throw new InvalidParameterError(
      `Input '${scope.name}' has nested data of shape ${formatShape(dims)} but its shape is ` +
        `${formatShape(scope.shape)}; send data nested exactly as the shape, or flat.`,
      { input: scope.name, shape: scope.shape, dataShape: dims },
    );
  }
  // By hand: Array.prototype.flat is an order of magnitude slower in V8 (about 200 us against
  // 15 us for a 3 x 32 x 32 image), and this runs on the event loop for every request.
  const flat: unknown[] = [];
  const innermost = dims.length - 1;
  const collect = (array: unknown[], depth: number): void => {
    if (depth === innermost) {
      for (let i = 0; i < array.length; i += 1) flat.push(array[i]);
      return;
    }
    for (let i = 0; i < array.length; i += 1) collect(array[i] as unknown[], depth + 1);
  };
  collect(data, 0);
  return flat;
}

function checkRectangular(
  scope: InputScope,
  array: unknown[],
  dims: readonly number[],
  depth: number,
  path: string,
): void {
  if (array.length !== dims[depth]) {
    throw new InvalidParameterError(
      `Input '${scope.name}' has ragged nested data: ${path} has ${array.length} elements but ` +
        `its siblings have ${dims[depth]}.`,
      { input: scope.name, path, elements: array.length, expectedElements: dims[depth] },
    );
  }
  // The innermost lists hold elements; an array there is caught when elements are converted.
  if (depth === dims.length - 1) return;
  for (let i = 0; i < array.length; i += 1) {
    const child = array[i];
    if (!Array.isArray(child)) {
      throw new InvalidParameterError(
        `Input '${scope.name}' has ragged nested data: ${path}[${i}] is ${preview(child)} ` +
          'where a list was expected.',
        { input: scope.name, path: `${path}[${i}]`, value: preview(child) },
      );
    }
    checkRectangular(scope, child, dims, depth + 1, `${path}[${i}]`);
  }
}

function toFloat(scope: InputScope, index: number, value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string') {
    const special = NON_FINITE_STRINGS.get(value.toLowerCase());
    if (special !== undefined) return special;
  }
  throw notA(scope, index, value, 'a number (or "NaN", "Infinity", "-Infinity")');
}

function decodeFloats(
  scope: InputScope,
  flat: readonly unknown[],
  out: Float32Array | Float64Array,
  max: number,
): void {
  for (let i = 0; i < flat.length; i += 1) {
    const value = toFloat(scope, i, flat[i]);
    out[i] = value;
    if (Number.isFinite(value) && !Number.isFinite(out[i])) {
      throw elementError(scope, i, value, `outside ${scope.datatype}'s range (±${max}).`);
    }
  }
}

function decodeFloat16(scope: InputScope, flat: readonly unknown[], out: Uint16Array): void {
  for (let i = 0; i < flat.length; i += 1) {
    const value = toFloat(scope, i, flat[i]);
    const bits = toFloat16Bits(value);
    if (Number.isFinite(value) && (bits & 0x7c00) === 0x7c00) {
      throw elementError(scope, i, value, `outside FP16's range (±${FLOAT_MAX.FP16}).`);
    }
    out[i] = bits;
  }
}

function decodeSmallInts(
  scope: InputScope & { datatype: keyof typeof SMALL_INT_RANGE },
  flat: readonly unknown[],
  out: Uint8Array | Uint16Array | Uint32Array | Int8Array | Int16Array | Int32Array,
): void {
  const [min, max] = SMALL_INT_RANGE[scope.datatype];
  for (let i = 0; i < flat.length; i += 1) {
    const value = flat[i];
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      throw notA(scope, i, value, 'an integer');
    }
    if (value < min || value > max) {
      throw elementError(scope, i, value, `outside ${scope.datatype}'s range [${min}, ${max}].`);
    }
    out[i] = value;
  }
}

function decodeBigInts(
  scope: InputScope & { datatype: keyof typeof BIG_INT_RANGE },
  flat: readonly unknown[],
  out: BigInt64Array | BigUint64Array,
): void {
  const [min, max] = BIG_INT_RANGE[scope.datatype];
  for (let i = 0; i < flat.length; i += 1) {
    const value = flat[i];
    let big: bigint;
    if (typeof value === 'number' && Number.isInteger(value)) {
      if (!Number.isSafeInteger(value)) {
        throw elementError(
          scope,
          i,
          value,
          `beyond the integers a JSON number carries exactly (±${Number.MAX_SAFE_INTEGER}); ` +
            `send ${scope.datatype} values this large as decimal strings, e.g. "9007199254740993".`,
        );
      }
      big = BigInt(value);
    } else if (typeof value === 'string' && DECIMAL_INTEGER_RE.test(value)) {
      big = BigInt(value);
    } else {
      throw notA(scope, i, value, 'an integer (a JSON number or a decimal string)');
    }
    if (big < min || big > max) {
      throw elementError(scope, i, value, `outside ${scope.datatype}'s range [${min}, ${max}].`);
    }
    out[i] = big;
  }
}

function decodeBools(scope: InputScope, flat: readonly unknown[], out: Uint8Array): void {
  for (let i = 0; i < flat.length; i += 1) {
    const value = flat[i];
    if (typeof value !== 'boolean') throw notA(scope, i, value, 'true or false');
    out[i] = value ? 1 : 0;
  }
}

function decodeBytes(
  scope: InputScope,
  flat: readonly unknown[],
  base64: boolean,
): string[] | Uint8Array[] {
  const strings: string[] = [];
  for (let i = 0; i < flat.length; i += 1) {
    const value = flat[i];
    if (typeof value !== 'string') throw notA(scope, i, value, 'a string');
    strings.push(value);
  }
  if (!base64) return strings;
  return strings.map((text, i) => {
    if (!BASE64_RE.test(text)) {
      throw elementError(scope, i, text, 'not base64, as the content_type "base64" requires.');
    }
    return base64ToBytes(text);
  });
}

/** What every input shares, checked: name, datatype, shape (against the spec), size, params. */
interface CheckedHeader {
  json: Record<string, unknown>;
  scope: InputScope;
  count: number;
  parameters: TensorParameters | undefined;
}

function checkHeader(
  json: unknown,
  spec: TensorSpec | undefined,
  options: DecodeTensorOptions,
): CheckedHeader {
  if (!isPlainObject(json)) {
    throw new InvalidParameterError(
      `An input is ${preview(json)}; each input is an object with name, shape, datatype and data.`,
      { input: preview(json) },
    );
  }
  const name = checkName(json);
  const datatype = checkDatatype(name, json['datatype']);
  const shape = checkShape(name, json['shape']);
  const scope: InputScope = { name, datatype, shape };
  if (spec !== undefined) checkSpec(scope, spec);
  const count = checkSize(scope, options.maxElements ?? DEFAULT_MAX_TENSOR_ELEMENTS);
  const rawParameters = json['parameters'];
  if (rawParameters !== undefined && !isPlainObject(rawParameters)) {
    throw new InvalidParameterError(
      `Input '${name}' has parameters ${preview(rawParameters)}; parameters are an object.`,
      { input: name, parameters: preview(rawParameters) },
    );
  }
  const parameters = rawParameters === undefined ? undefined : { ...rawParameters };
  return { json, scope, count, parameters };
}

/**
 * Checks one input tensor of an inference request (the JSON `inputs[i]`) and converts it to a
 * typed {@link Tensor}. With a `spec`, also checks that the input is the one the model declares,
 * with its datatype and a compatible shape.
 *
 * @param json the parsed JSON object of the input (unchecked).
 * @param spec the model's declaration of this input, when known.
 * @throws InvalidParameterError naming the input and the offending value or shape when: the
 *   name, datatype, shape or data is missing or malformed; the shape has more than
 *   `options.maxElements` elements; nested data is ragged or disagrees with the shape; the
 *   element count differs from the shape's; an element is of the wrong kind or out of the
 *   datatype's range; the datatype or shape disagrees with `spec`.
 * @example
 * decodeRequestTensor(
 *   { name: 'features', datatype: 'FP32', shape: [1, 2], data: [[0.5, 1.5]] },
 *   { name: 'features', datatype: 'FP32', shape: [-1, 2] },
 * ).data; // Float32Array [0.5, 1.5]
 */
export function decodeRequestTensor(
  json: unknown,
  spec?: TensorSpec,
  options: DecodeTensorOptions = {},
): Tensor {
  const { json: object, scope, count, parameters } = checkHeader(json, spec, options);
  const { name, datatype, shape } = scope;
  const flat = flattenData(scope, object['data'], count);
  const base = { name, shape, ...(parameters === undefined ? {} : { parameters }) };

  switch (datatype) {
    case 'BOOL': {
      const data = new Uint8Array(count);
      decodeBools(scope, flat, data);
      return { ...base, datatype, data };
    }
    case 'UINT8': {
      const data = new Uint8Array(count);
      decodeSmallInts({ ...scope, datatype }, flat, data);
      return { ...base, datatype, data };
    }
    case 'UINT16': {
      const data = new Uint16Array(count);
      decodeSmallInts({ ...scope, datatype }, flat, data);
      return { ...base, datatype, data };
    }
    case 'UINT32': {
      const data = new Uint32Array(count);
      decodeSmallInts({ ...scope, datatype }, flat, data);
      return { ...base, datatype, data };
    }
    case 'INT8': {
      const data = new Int8Array(count);
      decodeSmallInts({ ...scope, datatype }, flat, data);
      return { ...base, datatype, data };
    }
    case 'INT16': {
      const data = new Int16Array(count);
      decodeSmallInts({ ...scope, datatype }, flat, data);
      return { ...base, datatype, data };
    }
    case 'INT32': {
      const data = new Int32Array(count);
      decodeSmallInts({ ...scope, datatype }, flat, data);
      return { ...base, datatype, data };
    }
    case 'UINT64': {
      const data = new BigUint64Array(count);
      decodeBigInts({ ...scope, datatype }, flat, data);
      return { ...base, datatype, data };
    }
    case 'INT64': {
      const data = new BigInt64Array(count);
      decodeBigInts({ ...scope, datatype }, flat, data);
      return { ...base, datatype, data };
    }
    case 'FP16': {
      const data = new Uint16Array(count);
      decodeFloat16(scope, flat, data);
      return { ...base, datatype, data };
    }
    case 'FP32': {
      const data = new Float32Array(count);
      decodeFloats(scope, flat, data, FLOAT_MAX.FP32);
      return { ...base, datatype, data };
    }
    case 'FP64': {
      const data = new Float64Array(count);
      decodeFloats(scope, flat, data, Number.MAX_VALUE);
      return { ...base, datatype, data };
    }
    case 'BYTES': {
      const data = decodeBytes(scope, flat, parameters?.['content_type'] === 'base64');
      return { ...base, datatype, data };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding response outputs
// ---------------------------------------------------------------------------------------------

function bytesToBase64(bytes: Uint8Array): string {
  let binary = '';
  // Chunked: String.fromCharCode takes its arguments on the stack.
  for (let offset = 0; offset < bytes.length; offset += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(offset, offset + 0x8000));
  }
  return btoa(binary);
}

function base64ToBytes(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function jsonFloat(value: number): number | string {
  if (Number.isFinite(value)) return value;
  if (Number.isNaN(value)) return 'NaN';
  return value > 0 ? 'Infinity' : '-Infinity';
}

function jsonBigInt(value: bigint): number | string {
  return value >= -Number.MAX_SAFE_INTEGER && value <= Number.MAX_SAFE_INTEGER
    ? Number(value)
    : value.toString();
}

/** True when `data` is the storage `datatype` uses. */
function storageMatches(datatype: Datatype, data: TensorData): boolean {
  if (Array.isArray(data)) {
    const items: readonly unknown[] = data;
    return (
      datatype === 'BYTES' &&
      (items.every((item) => typeof item === 'string') ||
        items.every((item) => item instanceof Uint8Array))
    );
  }
  if (datatype === 'BOOL') return data instanceof Uint8Array;
  if (datatype === 'FP16') return data instanceof Uint16Array;
  return datatypeOf(data) === datatype;
}

/** Refuses an output whose data is not its datatype's storage or not as long as its shape. */
function checkOutput(tensor: Tensor): void {
  const { name, datatype, shape } = tensor;
  if (!storageMatches(datatype, tensor.data)) {
    throw new InvalidParameterError(
      `Output '${name}' has datatype ${datatype} but its data is a ` +
        `${(tensor.data as object).constructor.name} of other elements.`,
      { output: name, datatype },
    );
  }
  const count = elementCount(shape);
  if (tensor.data.length !== count) {
    throw new InvalidParameterError(
      `Output '${name}' has ${tensor.data.length} elements but its shape ${formatShape(shape)} ` +
        `needs ${count}.`,
      { output: name, shape, elements: tensor.data.length, expectedElements: count },
    );
  }
}

/**
 * Converts a typed {@link Tensor} (a model output) to the protocol's JSON output: flat
 * row-major `data`; BOOL as booleans; FP16 as numbers; INT64/UINT64 as numbers when they are
 * safe integers, else decimal strings; non-finite floats as `"NaN"`, `"Infinity"`,
 * `"-Infinity"`; BYTES strings as they are, BYTES held as bytes as UTF-8 strings when all are
 * valid UTF-8 (and the tensor does not already ask for `content_type: "base64"`), else base64
 * with `parameters.content_type = "base64"`.
 *
 * @throws InvalidParameterError when the tensor is inconsistent: its data is not the storage of
 *   its datatype, or its length differs from the shape's element count.
 */
export function encodeResponseTensor(tensor: Tensor): JsonTensor {
  const { name, datatype, shape } = tensor;
  checkOutput(tensor);
  let parameters = tensor.parameters === undefined ? undefined : { ...tensor.parameters };
  let data: JsonTensorElement[];
  switch (tensor.datatype) {
    case 'BOOL':
      data = Array.from(tensor.data, (value) => value !== 0);
      break;
    case 'UINT8':
    case 'UINT16':
    case 'UINT32':
    case 'INT8':
    case 'INT16':
    case 'INT32':
      data = Array.from(tensor.data);
      break;
    case 'UINT64':
    case 'INT64':
      data = Array.from(tensor.data, jsonBigInt);
      break;
    case 'FP16':
      data = Array.from(tensor.data, (bits) => jsonFloat(fromFloat16Bits(bits)));
      break;
    case 'FP32':
    case 'FP64':
      data = Array.from(tensor.data, jsonFloat);
      break;
    case 'BYTES': {
      const items: readonly (string | Uint8Array)[] = tensor.data;
      const strings: string[] = [];
      let base64 = parameters?.['content_type'] === 'base64';
      for (const item of items) {
        if (base64) break;
        if (typeof item === 'string') {
          strings.push(item);
          continue;
        }
        try {
          strings.push(STRICT_UTF8.decode(item));
        } catch {
          base64 = true;
        }
      }
      if (base64) {
        data = items.map((item) =>
          bytesToBase64(typeof item === 'string' ? UTF8_ENCODER.encode(item) : item),
        );
        parameters = { ...parameters, content_type: 'base64' };
      } else {
        data = strings;
      }
      break;
    }
  }
  return {
    name,
    datatype,
    shape: [...shape],
    data,
    ...(parameters === undefined ? {} : { parameters }),
  };
}

// ---------------------------------------------------------------------------------------------
// Binary tensor data extension
// ---------------------------------------------------------------------------------------------

/**
 * The parameter that marks a tensor's data as sent in binary after the JSON body (Triton's
 * binary tensor data extension), giving its size in bytes.
 */
export const BINARY_DATA_SIZE = 'binary_data_size';

/** Bytes per element of the fixed-size datatypes. */
const ELEMENT_BYTES: Readonly<Record<Exclude<Datatype, 'BYTES'>, number>> = {
  BOOL: 1,
  UINT8: 1,
  UINT16: 2,
  UINT32: 4,
  UINT64: 8,
  INT8: 1,
  INT16: 2,
  INT32: 4,
  INT64: 8,
  FP16: 2,
  FP32: 4,
  FP64: 8,
};

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function requireLittleEndianHost(): void {
  // Typed arrays use the host's byte order and the extension's is little-endian.
  if (!LITTLE_ENDIAN_HOST) {
    throw new YardError(
      'NOT_IMPLEMENTED',
      'Binary tensor data needs a little-endian host; send tensors as JSON data instead.',
    );
  }
}

/** An output whose elements travel in binary: its JSON part, and the bytes that follow. */
export interface BinaryTensor {
  /** The JSON output, without `data`, with `parameters.binary_data_size` set. */
  json: Omit<JsonTensor, 'data'> & { parameters: TensorParameters };
  /**
   * The elements, row-major, little-endian; BYTES elements each as a 4-byte little-endian
   * length and then the bytes. May share memory with the tensor's data.
   */
  bytes: Uint8Array;
}

/**
 * Checks one input tensor whose elements came in binary after the JSON body (Triton's binary
 * tensor data extension; `tritonclient` sends inputs this way by default) and converts it to a
 * typed {@link Tensor}. Fixed-size datatypes are the raw little-endian elements (BOOL one byte,
 * 0 or 1; FP16 the half bits); BYTES elements are each a 4-byte little-endian length and the
 * bytes, decoded to `Uint8Array` elements (not strings: the bytes need not be text). The
 * result's parameters no longer hold `binary_data_size`.
 *
 * @param json the input's JSON object (no `data`; `parameters.binary_data_size` optional).
 * @param bytes this input's part of the binary body.
 * @throws InvalidParameterError for every header problem {@link decodeRequestTensor} reports,
 *   when the input also has JSON `data`, when `binary_data_size` is not the length of `bytes`,
 *   when the byte count does not fit the shape and datatype, for a BOOL byte other than 0 or
 *   1, and for BYTES elements that overrun the data or leave bytes over.
 */
export function decodeBinaryTensor(
  json: unknown,
  bytes: Uint8Array,
  spec?: TensorSpec,
  options: DecodeTensorOptions = {},
): Tensor {
  const { json: object, scope, count, parameters } = checkHeader(json, spec, options);
  const { name, datatype, shape } = scope;
  if (object['data'] !== undefined) {
    throw new InvalidParameterError(
      `Input '${name}' has both JSON data and binary data; send one of them.`,
      { input: name },
    );
  }
  const declared = parameters?.[BINARY_DATA_SIZE];
  if (declared !== undefined && declared !== bytes.length) {
    throw new InvalidParameterError(
      `Input '${name}' declares ${preview(declared)} bytes of binary data but has ${bytes.length}.`,
      { input: name, declared, bytes: bytes.length },
    );
  }
  requireLittleEndianHost();
  const rest = Object.fromEntries(
    Object.entries(parameters ?? {}).filter(([key]) => key !== BINARY_DATA_SIZE),
  );
  const base = { name, shape, ...(Object.keys(rest).length === 0 ? {} : { parameters: rest }) };

  if (datatype === 'BYTES')
    return { ...base, datatype, data: splitBytesElements(scope, bytes, count) };
  const size = ELEMENT_BYTES[datatype];
  if (bytes.length !== count * size) {
    throw new InvalidParameterError(
      `Input '${name}' has ${bytes.length} bytes of binary data but shape ${formatShape(shape)} ` +
        `of ${datatype} needs ${count * size}.`,
      { input: name, shape, datatype, bytes: bytes.length, expectedBytes: count * size },
    );
  }
  // A copy starts at offset 0, so every element type is aligned, and owns its memory. Called
  // through Uint8Array's own slice: a Node Buffer's slice() would share memory instead.
  const buffer = Uint8Array.prototype.slice.call(bytes).buffer;
  switch (datatype) {
    case 'BOOL': {
      const data = new Uint8Array(buffer);
      const bad = data.findIndex((value) => value > 1);
      if (bad !== -1) {
        throw elementError(scope, bad, data[bad], 'not 0 or 1 as a binary BOOL requires.');
      }
      return { ...base, datatype, data };
    }
    case 'UINT8':
      return { ...base, datatype, data: new Uint8Array(buffer) };
    case 'UINT16':
      return { ...base, datatype, data: new Uint16Array(buffer) };
    case 'UINT32':
      return { ...base, datatype, data: new Uint32Array(buffer) };
    case 'UINT64':
      return { ...base, datatype, data: new BigUint64Array(buffer) };
    case 'INT8':
      return { ...base, datatype, data: new Int8Array(buffer) };
    case 'INT16':
      return { ...base, datatype, data: new Int16Array(buffer) };
    case 'INT32':
      return { ...base, datatype, data: new Int32Array(buffer) };
    case 'INT64':
      return { ...base, datatype, data: new BigInt64Array(buffer) };
    case 'FP16':
      return { ...base, datatype, data: new Uint16Array(buffer) };
    case 'FP32':
      return { ...base, datatype, data: new Float32Array(buffer) };
    case 'FP64':
      return { ...base, datatype, data: new Float64Array(buffer) };
  }
}

function splitBytesElements(scope: InputScope, bytes: Uint8Array, count: number): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const elements: Uint8Array[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    if (offset + 4 > bytes.length || elements.length === count) break;
    const length = view.getUint32(offset, true);
    if (offset + 4 + length > bytes.length) {
      throw new InvalidParameterError(
        `Input '${scope.name}' BYTES element ${elements.length} declares ${length} bytes but ` +
          `only ${bytes.length - offset - 4} remain in its binary data.`,
        { input: scope.name, index: elements.length, length },
      );
    }
    elements.push(bytes.slice(offset + 4, offset + 4 + length));
    offset += 4 + length;
  }
  if (elements.length !== count || offset !== bytes.length) {
    throw new InvalidParameterError(
      `Input '${scope.name}' has binary BYTES data of ${bytes.length} bytes that does not hold ` +
        `exactly the ${count} elements its shape ${formatShape(scope.shape)} needs ` +
        `(each a 4-byte little-endian length and the bytes).`,
      { input: scope.name, shape: scope.shape, bytes: bytes.length, expectedElements: count },
    );
  }
  return elements;
}

/**
 * Converts a typed {@link Tensor} (a model output) to the binary tensor data extension's form:
 * the JSON output without `data` but with `parameters.binary_data_size`, and the bytes to
 * append to the response body (see {@link BinaryTensor}). BOOL elements are written as 0 or 1.
 *
 * @throws InvalidParameterError when the tensor is inconsistent (see
 *   {@link encodeResponseTensor}).
 */
export function encodeBinaryTensor(tensor: Tensor): BinaryTensor {
  checkOutput(tensor);
  requireLittleEndianHost();
  let bytes: Uint8Array;
  if (tensor.datatype === 'BYTES') {
    const items = (tensor.data as readonly (string | Uint8Array)[]).map((item) =>
      typeof item === 'string' ? UTF8_ENCODER.encode(item) : item,
    );
    bytes = new Uint8Array(items.reduce((sum, item) => sum + 4 + item.length, 0));
    const view = new DataView(bytes.buffer);
    let offset = 0;
    for (const item of items) {
      view.setUint32(offset, item.length, true);
      bytes.set(item, offset + 4);
      offset += 4 + item.length;
    }
  } else if (tensor.datatype === 'BOOL' && tensor.data.some((value) => value > 1)) {
    bytes = tensor.data.map((value) => (value === 0 ? 0 : 1));
  } else {
    const { data } = tensor;
    bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  return {
    json: {
      name: tensor.name,
      datatype: tensor.datatype,
      shape: [...tensor.shape],
      parameters: { ...tensor.parameters, [BINARY_DATA_SIZE]: bytes.length },
    },
    bytes,
  };
}
