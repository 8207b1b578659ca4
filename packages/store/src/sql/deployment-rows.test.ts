import { describe, expect, it } from 'vitest';
import { InvalidParameterError, YardError } from '@modelyard/core';
import type { DeploymentVariant } from '@modelyard/core';
import {
  checkVariants,
  decodeVariants,
  encodeDetails,
  encodeVariants,
  toDeployment,
  toDeploymentEvent,
} from './deployment-rows.js';

const variant: DeploymentVariant = {
  name: 'primary',
  modelUri: 'models:/churn@champion',
  modelName: 'churn',
  modelVersion: '3',
  role: 'primary',
  weight: 100,
  replicas: 2,
  maxConcurrency: 4,
  batching: { maxBatchSize: 8, maxLatencyMs: 2 },
  status: 'ready',
  statusReason: 'Serving churn version 3.',
};

const row = {
  name: 'd',
  description: '',
  status: 'ready',
  status_reason: '',
  variants: encodeVariants([variant]),
  rollout: null,
  created_at: 1,
  updated_at: 2,
};

describe('deployment rows', () => {
  it('round-trips variants through their stored JSON', () => {
    const plain = { ...variant, name: 'b', batching: null };
    expect(decodeVariants('d', encodeVariants([variant, plain]))).toEqual([variant, plain]);
  });

  it('refuses stored variants of the wrong shape, naming the deployment and the field', () => {
    expect(() => decodeVariants('d', '{')).toThrow(/'d'.*not JSON/);
    expect(() => decodeVariants('d', '{}')).toThrow(/not a JSON array/);
    const noWeight = JSON.stringify([{ ...variant, weight: '100' }]);
    expect(() => decodeVariants('d', noWeight)).toThrow(/item 0 has no number 'weight'/);
    const badRole = JSON.stringify([{ ...variant, role: 'boss' }]);
    expect(() => decodeVariants('d', badRole)).toThrow(/unknown role 'boss'/);
    const badBatching = JSON.stringify([{ ...variant, batching: { maxBatchSize: 1 } }]);
    expect(() => decodeVariants('d', badBatching)).toThrow(/'maxLatencyMs'/);
    const missing = JSON.stringify([{ ...variant, batching: undefined }]);
    expect(() => decodeVariants('d', missing)).toThrow(YardError);
  });

  it('refuses an unknown stored status', () => {
    expect(toDeployment(row).status).toBe('ready');
    expect(() => toDeployment({ ...row, status: 'sleeping' })).toThrow(/'sleeping'/);
  });

  it('refuses stored event details that are not a JSON object', () => {
    const event = {
      deployment_name: 'd',
      sequence: 3,
      at: 5,
      actor: 'a',
      action: 'x',
      reason: '',
      details: '{"k":1}',
    };
    expect(toDeploymentEvent(event).details).toEqual({ k: 1 });
    expect(() => toDeploymentEvent({ ...event, details: '[1]' })).toThrow(/event 3 of .*'d'/);
    expect(() => toDeploymentEvent({ ...event, details: 'nope' })).toThrow(YardError);
  });

  it('names the duplicated variants and refuses an empty list', () => {
    expect(() => {
      checkVariants('d', []);
    }).toThrow(InvalidParameterError);
    expect(() => {
      checkVariants('d', [variant, variant, { ...variant, name: 'x' }]);
    }).toThrow(/'primary' appears more than once/);
    expect(() => {
      checkVariants('d', [variant, { ...variant, name: 'x' }]);
    }).not.toThrow();
    expect(() => encodeDetails({ big: 1n })).toThrow(InvalidParameterError);
  });
});
