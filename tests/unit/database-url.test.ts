import { DatabaseUrlError, parseDatabaseUrl } from '@hdms/db';
import { describe, expect, it } from 'vitest';

describe('DATABASE_URL parsing', () => {
  it('resolves a relative SQLite file against the working directory', () => {
    expect(parseDatabaseUrl('sqlite:data/hdms.sqlite', '/srv/hdms')).toEqual({
      dialect: 'sqlite',
      storage: '/srv/hdms/data/hdms.sqlite',
    });
  });

  it('accepts an absolute SQLite path and memory', () => {
    expect(parseDatabaseUrl('sqlite:/var/lib/hdms.sqlite')).toEqual({
      dialect: 'sqlite',
      storage: '/var/lib/hdms.sqlite',
    });
    expect(parseDatabaseUrl('sqlite::memory:')).toEqual({ dialect: 'sqlite', storage: ':memory:' });
  });

  it('reads a MySQL URL with its database', () => {
    const target = parseDatabaseUrl('mysql://root:p%40ss@db.local:3307/hdms_prod');
    expect(target.dialect).toBe('mysql');
    if (target.dialect !== 'mysql') return;
    expect(target.database).toBe('hdms_prod');
    expect(target.url.port).toBe('3307');
    expect(decodeURIComponent(target.url.password)).toBe('p@ss');
  });

  it('rejects other schemes and a MySQL URL with no database', () => {
    expect(() => parseDatabaseUrl('postgres://x/y')).toThrow(DatabaseUrlError);
    expect(() => parseDatabaseUrl('mysql://root@localhost')).toThrow(/must name a database/);
  });
});
