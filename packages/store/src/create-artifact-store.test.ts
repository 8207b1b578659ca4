import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InvalidParameterError } from '@modelyard/core';
import { describe, expect, it } from 'vitest';
import { createArtifactStore } from './create-artifact-store.js';
import { LocalArtifactStore } from './local-artifact-store.js';
import { S3ArtifactStore } from './s3-artifact-store.js';

describe('createArtifactStore', () => {
  const absolute = join(tmpdir(), 'modelyard-artifacts');

  it.each([
    ['./mlartifacts', resolve('mlartifacts')],
    ['mlartifacts', resolve('mlartifacts')],
    ['../elsewhere/artifacts', resolve('../elsewhere/artifacts')],
    [absolute, absolute],
    [`${absolute}/`, absolute],
    [pathToFileURL(absolute).href, absolute],
    [`file://localhost${absolute}`, absolute],
    ['file:///tmp/with%20space', '/tmp/with space'],
  ])('opens %j as a local folder at %j', (destination, root) => {
    const store = createArtifactStore(destination);
    expect(store).toBeInstanceOf(LocalArtifactStore);
    expect(store).toMatchObject({ root });
  });

  it('opens s3:// destinations as S3 stores with bucket and prefix', async () => {
    const store = createArtifactStore('s3://ml-artifacts/team/a/', {});
    expect(store).toBeInstanceOf(S3ArtifactStore);
    expect(store).toMatchObject({ bucket: 'ml-artifacts', prefix: 'team/a' });
    await store.close();
  });

  it.each([
    '',
    '   ',
    'http://example.com/artifacts',
    'https://bucket.s3.amazonaws.com/x',
    'gs://bucket/x',
    'wasbs://container@account.blob.core.windows.net/x',
    'mlflow-artifacts:/x',
    'ftp://host/x',
    'file://remote-host/share/x',
    'file:relative/x',
    's3://',
    's3://bucket/../x',
    'C:\\artifacts',
    'dir\0x',
  ])('refuses %j, listing the accepted forms', (destination) => {
    let caught: unknown;
    try {
      createArtifactStore(destination, {});
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidParameterError);
    const message = (caught as Error).message;
    if (!destination.startsWith('s3:')) {
      for (const form of ['./relative/dir', '/absolute/dir', 'file:///absolute/dir', 's3://']) {
        expect(message).toContain(form);
      }
    }
  });
});
