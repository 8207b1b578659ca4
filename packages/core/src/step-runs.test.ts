import { describe, expect, it } from 'vitest';
import {
  InvalidParameterError,
  STEP_RUN_OUTPUTS_BATCH_MAX,
  STEP_RUN_OUTPUT_INLINE_MAX,
  STEP_RUN_RECORDS_MAX,
  validateStepRunRecords,
} from '@modelyard/core';

const RUN_ID = '0123456789abcdef0123456789abcdef';
const HEX = 'ab'.repeat(32);

function record(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    runId: RUN_ID,
    experimentId: '1',
    runName: 'train',
    startTime: 1_700_000_000_000,
    status: 'RUNNING',
    ...overrides,
  };
}

function refusal(input: unknown): InvalidParameterError {
  try {
    validateStepRunRecords(input);
  } catch (error) {
    if (error instanceof InvalidParameterError) return error;
    throw error;
  }
  throw new Error('validateStepRunRecords accepted the input');
}

describe('validateStepRunRecords', () => {
  it('fills in defaults: no tags, no end time, cache metadata {} and no scope', () => {
    const [checked] = validateStepRunRecords([
      record({
        cache: {
          key: HEX,
          outputDigest: `sha256:${HEX}`,
          pipelineRunId: 'p1',
          stepName: 'train',
        },
      }),
    ]);
    expect(checked).toEqual({
      runId: RUN_ID,
      experimentId: '1',
      runName: 'train',
      startTime: 1_700_000_000_000,
      endTime: null,
      status: 'RUNNING',
      tags: [],
      cache: {
        key: HEX,
        outputDigest: `sha256:${HEX}`,
        metadata: {},
        pipelineRunId: 'p1',
        stepName: 'train',
        scope: null,
      },
    });
  });

  it('accepts the same run id twice: a RUNNING record, then the FINISHED one', () => {
    const checked = validateStepRunRecords([
      record({ tags: [{ key: 'a', value: '1' }] }),
      record({ status: 'FINISHED', endTime: 1_700_000_000_005, tags: [{ key: 'b', value: '2' }] }),
    ]);
    expect(checked.map((r) => r.status)).toEqual(['RUNNING', 'FINISHED']);
    expect(checked[1]?.endTime).toBe(1_700_000_000_005);
  });

  it.each([
    ['runId', 'ABCDEF0123456789ABCDEF0123456789', ['records[1].runId', "'ABCDEF0123"]],
    ['runId', `${RUN_ID}0`, ['records[1].runId', `'${RUN_ID}0'`]],
    ['status', 'SCHEDULED', ['records[1].status', "'SCHEDULED'", 'RUNNING, FINISHED']],
    ['status', 'DONE', ['records[1].status', "'DONE'"]],
    ['startTime', -1, ['records[1].startTime', '-1']],
    ['endTime', 1.5, ['records[1].endTime', '1.5']],
    ['runName', '', ['records[1].runName', "''"]],
    ['experimentId', '../x', ['records[1]', '../x']],
    ['tags', [{ key: '../x', value: 'v' }], ['records[1].tags[0].key', '../x']],
    ['tags', [{ key: 'k', value: 5 }], ['records[1].tags[0].value', '5']],
    ['cache', { key: 'nope', outputDigest: `sha256:${HEX}` }, ['records[1].cache.key', "'nope'"]],
    [
      'cache',
      { key: HEX, outputDigest: 'md5:x', pipelineRunId: 'p', stepName: 's' },
      ['records[1]', "'md5:x'"],
    ],
  ])(
    'refuses a record whose %s is %j, naming its index, field and value',
    (field, value, parts) => {
      const error = refusal([record(), record({ [field]: value })]);
      for (const part of parts) expect(error.message).toContain(part);
      expect(error.code).toBe('INVALID_PARAMETER_VALUE');
    },
  );

  it('refuses a run name that disagrees with the mlflow.runName tag', () => {
    expect(
      refusal([record({ tags: [{ key: 'mlflow.runName', value: 'other' }] })]).message,
    ).toMatch(/records\[0\].*'train'.*'other'/);
  });

  it('refuses one run id in two experiments, naming both records', () => {
    expect(refusal([record(), record({ experimentId: '2' })]).message).toMatch(
      /records\[0\] and records\[1\].*'1' and '2'/,
    );
  });

  it(`refuses an empty batch, a batch over ${STEP_RUN_RECORDS_MAX} and a non-array`, () => {
    expect(refusal([]).message).toMatch(/0 records.*1 to 1000/);
    expect(
      refusal(Array.from({ length: STEP_RUN_RECORDS_MAX + 1 }, () => record())).message,
    ).toMatch(/1001 records.*1 to 1000/);
    expect(refusal({ records: [] }).message).toMatch(/expected an array/);
    expect(refusal(['x']).message).toMatch(/records\[0\]/);
  });

  it('keeps a small output carried inline and refuses bad digests, base64 and sizes', () => {
    const data = Buffer.from('{"x":1}').toString('base64');
    const output = { digest: `sha256:${HEX}`, data };
    expect(validateStepRunRecords([record({ output })])[0]?.output).toEqual(output);
    expect(refusal([record({ output: 'x' })]).message).toMatch(
      /records\[0\]\.output.*\{digest, data\}/,
    );
    expect(refusal([record({ output: { ...output, digest: HEX } })]).message).toMatch(
      /records\[0\]\.output\.digest/,
    );
    for (const bad of ['abc', 'a b=', '====', 42]) {
      expect(refusal([record({ output: { ...output, data: bad } })]).message).toMatch(
        /records\[0\]\.output\.data.*base64/,
      );
    }
    const tooBig = Buffer.alloc(STEP_RUN_OUTPUT_INLINE_MAX + 1).toString('base64');
    expect(refusal([record({ output: { ...output, data: tooBig } })]).message).toMatch(
      new RegExp(`${STEP_RUN_OUTPUT_INLINE_MAX + 1} bytes.*at most ${STEP_RUN_OUTPUT_INLINE_MAX}`),
    );
    const full = Buffer.alloc(STEP_RUN_OUTPUT_INLINE_MAX).toString('base64');
    const count = Math.floor(STEP_RUN_OUTPUTS_BATCH_MAX / STEP_RUN_OUTPUT_INLINE_MAX) + 1;
    const many = Array.from({ length: count }, (_, i) =>
      record({ runId: i.toString(16).padStart(32, '0'), output: { ...output, data: full } }),
    );
    expect(refusal(many).message).toMatch(/bytes of outputs inline.*split the batch/);
  });
});
