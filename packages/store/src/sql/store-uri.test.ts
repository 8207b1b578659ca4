import { describe, expect, it } from 'vitest';
import { InvalidParameterError } from '@modelyard/core';
import { parseStoreUri } from './store-uri.js';

describe('parseStoreUri', () => {
  it('reads sqlite:/// as relative and sqlite://// as absolute, as MLflow does', () => {
    expect(parseStoreUri('sqlite:///mlruns.db', '/srv/app')).toEqual({
      kind: 'sqlite',
      path: '/srv/app/mlruns.db',
    });
    expect(parseStoreUri('sqlite:///data/x.db', '/srv')).toEqual({
      kind: 'sqlite',
      path: '/srv/data/x.db',
    });
    expect(parseStoreUri('sqlite:////var/lib/yard/x.db', '/srv')).toEqual({
      kind: 'sqlite',
      path: '/var/lib/yard/x.db',
    });
    expect(parseStoreUri('sqlite:///:memory:')).toEqual({ kind: 'sqlite', path: ':memory:' });
  });

  it('accepts a plain database file path', () => {
    expect(parseStoreUri('store/meta.db', '/srv')).toEqual({
      kind: 'sqlite',
      path: '/srv/store/meta.db',
    });
    expect(parseStoreUri('/abs/meta.sqlite')).toEqual({ kind: 'sqlite', path: '/abs/meta.sqlite' });
  });

  it('normalises the PostgreSQL schemes', () => {
    for (const scheme of ['postgresql', 'postgres', 'postgresql+psycopg2']) {
      expect(parseStoreUri(`${scheme}://u:p@db:5432/yard?sslmode=disable`)).toEqual({
        kind: 'postgres',
        connectionString: 'postgresql://u:p@db:5432/yard?sslmode=disable',
      });
    }
  });

  it('rejects other URIs, naming the URI and the accepted forms', () => {
    for (const uri of [
      'mysql://db/yard',
      'sqlite://',
      'sqlite:relative.db',
      'file:///x.db',
      'x.txt',
    ]) {
      expect(() => parseStoreUri(uri)).toThrow(InvalidParameterError);
    }
    expect(() => parseStoreUri('mysql://db/yard')).toThrow(
      /'mysql:\/\/db\/yard'.*sqlite:\/\/\/relative.*postgresql:\/\//,
    );
  });
});
