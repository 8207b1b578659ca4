/**
 * The platform's one error table: every error code, its HTTP status and whether a client may
 * retry. Codes are MLflow's `ErrorCode` names so the MLflow-compatible routes can answer them
 * unchanged; the native API uses the same codes.
 */
export const ERROR_CODES = {
  INVALID_PARAMETER_VALUE: { status: 400, retryable: false },
  BAD_REQUEST: { status: 400, retryable: false },
  MALFORMED_REQUEST: { status: 400, retryable: false },
  REQUEST_TOO_LARGE: { status: 413, retryable: false },
  INVALID_STATE: { status: 400, retryable: false },
  RESOURCE_ALREADY_EXISTS: { status: 400, retryable: false },
  RESOURCE_DOES_NOT_EXIST: { status: 404, retryable: false },
  ENDPOINT_NOT_FOUND: { status: 404, retryable: false },
  UNAUTHENTICATED: { status: 401, retryable: false },
  PERMISSION_DENIED: { status: 403, retryable: false },
  REQUEST_LIMIT_EXCEEDED: { status: 429, retryable: true },
  RESOURCE_EXHAUSTED: { status: 429, retryable: true },
  ABORTED: { status: 409, retryable: true },
  NOT_IMPLEMENTED: { status: 501, retryable: false },
  INTERNAL_ERROR: { status: 500, retryable: true },
  TEMPORARILY_UNAVAILABLE: { status: 503, retryable: true },
} as const satisfies Record<string, { status: number; retryable: boolean }>;

/** One of the platform's error codes (MLflow's `ErrorCode` names). */
export type ErrorCode = keyof typeof ERROR_CODES;

/** True when `value` is one of the platform's error codes. */
export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(ERROR_CODES, value);
}

/**
 * Base class of every error the platform throws on purpose. The HTTP layer turns it into a
 * response with the code's status; anything else becomes `INTERNAL_ERROR`.
 */
export class YardError extends Error {
  override readonly name: string = 'YardError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly context: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
  }

  /** The HTTP status that `code` maps to. */
  get status(): number {
    return ERROR_CODES[this.code].status;
  }
}

/** Thrown when a request names a field with a value that is not allowed. */
export class InvalidParameterError extends YardError {
  override readonly name = 'InvalidParameterError';
  constructor(message: string, context: Readonly<Record<string, unknown>> = {}) {
    super('INVALID_PARAMETER_VALUE', message, context);
  }
}

/** Thrown when a named resource (experiment, run, model, …) does not exist. */
export class NotFoundError extends YardError {
  override readonly name = 'NotFoundError';
  constructor(message: string, context: Readonly<Record<string, unknown>> = {}) {
    super('RESOURCE_DOES_NOT_EXIST', message, context);
  }
}

/** Thrown when creating a resource whose unique name or key is already taken. */
export class AlreadyExistsError extends YardError {
  override readonly name = 'AlreadyExistsError';
  constructor(message: string, context: Readonly<Record<string, unknown>> = {}) {
    super('RESOURCE_ALREADY_EXISTS', message, context);
  }
}

/**
 * Thrown when an operation is not allowed in the resource's current state (e.g. writing to a
 * deleted run). Its code is `INVALID_PARAMETER_VALUE`, because that is what MLflow answers in
 * these cases and its clients check for it.
 */
export class InvalidStateError extends YardError {
  override readonly name = 'InvalidStateError';
  constructor(message: string, context: Readonly<Record<string, unknown>> = {}) {
    super('INVALID_PARAMETER_VALUE', message, context);
  }
}
