import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidParameterError } from '@modelyard/core';
import { createMetadataStore } from './index.js';
import { CONTRACT_ARTIFACT_ROOT, runMetadataStoreContract } from './metadata-store.contract.js';

runMetadataStoreContract('sqlite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'modelyard-sqlite-'));
  // A nested folder that does not exist yet: the store creates it.
  const uri = `sqlite:///${join(dir, 'nested', 'mlflow.db')}`;
  const open = () => createMetadataStore(uri, { defaultArtifactRoot: CONTRACT_ARTIFACT_ROOT });
  const store = await open();
  return {
    store,
    openAnother: open,
    async cleanup() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe('createMetadataStore with SQLite', () => {
  it('accepts a plain .db path and reports its dialect', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'modelyard-sqlite-'));
    try {
      const store = await createMetadataStore(join(dir, 'plain.db'), {
        defaultArtifactRoot: join(dir, 'artifacts'),
      });
      expect(store.dialect).toBe('sqlite');
      await store.migrate();
      expect((await store.getExperiment('0')).artifactLocation).toBe(`${join(dir, 'artifacts')}/0`);
      await store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects a URI it does not understand, naming the accepted forms', async () => {
    const attempt = createMetadataStore('mysql://localhost/db', { defaultArtifactRoot: '/tmp/a' });
    await expect(attempt).rejects.toBeInstanceOf(InvalidParameterError);
    await expect(attempt).rejects.toThrow(/mysql:\/\/localhost\/db.*sqlite:\/\/\//);
  });
});
