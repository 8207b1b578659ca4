import { InvalidParameterError } from '@modelyard/core';
import type { Tag } from '@modelyard/core';
import { readDouble } from './json.js';

const API_DOCS_HINT = 'See the API docs for more information about request parameters.';

function describe(value: unknown): string {
  const text = value === undefined ? 'undefined' : JSON.stringify(value);
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'list';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  if (typeof value === 'string') return 'str';
  if (typeof value === 'boolean') return 'bool';
  return 'dict';
}

/** The error MLflow answers for a missing required field. */
export function missingParameter(name: string): InvalidParameterError {
  return new InvalidParameterError(
    `Missing value for required parameter '${name}'. ${API_DOCS_HINT}`,
    { parameter: name },
  );
}

/** The error MLflow answers for a field of the wrong type or form. */
export function invalidParameter(
  name: string,
  value: unknown,
  expected?: string,
): InvalidParameterError {
  const want = expected === undefined ? '' : ` Expected ${expected}.`;
  return new InvalidParameterError(
    `Invalid value ${describe(value)} for parameter '${name}' supplied. Hint: Value was of type '${typeName(value)}'.${want} ${API_DOCS_HINT}`,
    { parameter: name, value },
  );
}

/**
 * Reads the fields of an MLflow request (a JSON body, or a query string for GET) with MLflow's
 * leniency: int64 as numbers or numeric strings, booleans as JSON or 'true'/'false', repeated
 * query parameters as lists. Every failure is an `InvalidParameterError` naming the field and
 * the value, in MLflow's words.
 */
export class RequestReader {
  constructor(private readonly data: Record<string, unknown>) {}

  /** Wraps a parsed body or query object; anything that is not an object reads as empty. */
  static of(raw: unknown): RequestReader {
    return new RequestReader(
      typeof raw === 'object' && raw !== null && !Array.isArray(raw)
        ? (raw as Record<string, unknown>)
        : {},
    );
  }

  raw(name: string): unknown {
    const value = this.data[name];
    return value === null ? undefined : value;
  }

  has(name: string): boolean {
    return this.raw(name) !== undefined;
  }

  /** A string field, or undefined. Numbers are accepted and turned into strings (as protobuf does). */
  optString(name: string): string | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    if (typeof value === 'string') return value;
    if (typeof value === 'number' && Number.isFinite(value)) return String(value);
    if (Array.isArray(value) && value.length === 1 && typeof value[0] === 'string') return value[0];
    throw invalidParameter(name, value, 'a string');
  }

  string(name: string): string {
    const value = this.optString(name);
    if (value === undefined || value === '') throw missingParameter(name);
    return value;
  }

  /** An int64 field (number or numeric string), or undefined. */
  optInt(name: string): number | undefined {
    const value = this.raw(name);
    if (value === undefined || value === '') return undefined;
    const n =
      typeof value === 'number' ? value : typeof value === 'string' ? Number(value.trim()) : NaN;
    if (!Number.isSafeInteger(n)) throw invalidParameter(name, value, 'an integer');
    return n;
  }

  int(name: string): number {
    const value = this.optInt(name);
    if (value === undefined) throw missingParameter(name);
    return value;
  }

  /** A double field: a number or a numeric string, "NaN" and "±Infinity" included. */
  double(name: string): number {
    const value = this.raw(name);
    if (value === undefined) throw missingParameter(name);
    const n = readDouble(value);
    if (n === undefined) throw invalidParameter(name, value, 'a number');
    return n;
  }

  optBool(name: string): boolean | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    if (typeof value === 'boolean') return value;
    if (value === 'true' || value === 'True') return true;
    if (value === 'false' || value === 'False') return false;
    throw invalidParameter(name, value, 'true or false');
  }

  /** A repeated string field: a JSON array, one query value, or repeated query values. */
  stringList(name: string): string[] {
    const value = this.raw(name);
    if (value === undefined) return [];
    const list = Array.isArray(value) ? value : [value];
    return list.map((item) => {
      if (typeof item === 'string') return item;
      if (typeof item === 'number' && Number.isFinite(item)) return String(item);
      throw invalidParameter(name, value, 'a list of strings');
    });
  }

  /** A repeated message field: a JSON array of objects. */
  objectList(name: string): Record<string, unknown>[] {
    const value = this.raw(name);
    if (value === undefined) return [];
    if (!Array.isArray(value)) throw invalidParameter(name, value, 'a list');
    for (const item of value) {
      if (typeof item !== 'object' || item === null || Array.isArray(item)) {
        throw invalidParameter(name, value, 'a list of objects');
      }
    }
    return value as Record<string, unknown>[];
  }

  /** A repeated key/value field such as `tags` or `params`. */
  keyValues(name: string): Tag[] {
    return this.objectList(name).map((item) => {
      const r = new RequestReader(item);
      const key = r.optString('key');
      if (key === undefined) throw missingParameter(`${name}.key`);
      return { key, value: r.optString('value') ?? '' };
    });
  }

  /** `run_id`, or MLflow's older `run_uuid`. */
  runId(): string {
    const id = this.optString('run_id') ?? this.optString('run_uuid');
    if (id === undefined || id === '') throw missingParameter('run_id');
    return id;
  }
}
