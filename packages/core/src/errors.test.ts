import { describe, expect, it } from 'vitest';
import { ERROR_CODES, InvalidParameterError, isErrorCode, NotFoundError } from '@modelyard/core';

describe('error table', () => {
  it('maps MLflow codes to MLflow statuses', () => {
    expect(new InvalidParameterError('bad').status).toBe(400);
    expect(new NotFoundError('gone').status).toBe(404);
    expect(ERROR_CODES.RESOURCE_ALREADY_EXISTS.status).toBe(400);
  });
  it('recognises only known codes', () => {
    expect(isErrorCode('INVALID_PARAMETER_VALUE')).toBe(true);
    expect(isErrorCode('toString')).toBe(false);
  });
});
