import sqlite3 from 'sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_DB_KIND } from './helpers/db';
import { adminToken, http, startTestServer, type TestServer } from './helpers/server';

/**
 * SQLite has one writer. When another process holds the write lock, a write through the API waits
 * at most DATABASE_TIMEOUT_MS (for its turn in this process and for the lock) and then answers 503,
 * writing nothing; reads go on meanwhile (WAL), and writes succeed again once the lock is released.
 */
describe.runIf(TEST_DB_KIND === 'sqlite')('SQLite lock waits are bounded by DATABASE_TIMEOUT_MS', () => {
  const TIMEOUT_MS = 1000;
  let t: TestServer;
  let token: string;
  let holder: sqlite3.Database;

  const exec = (sql: string) =>
    new Promise<void>((resolve, reject) => holder.exec(sql, (error) => (error ? reject(error) : resolve())));
  const addDoctor = (name: string) =>
    http(t.url, 'POST', '/doctors', { token, body: { name, specialization: 'Locks' } });

  beforeAll(async () => {
    t = await startTestServer({ DATABASE_TIMEOUT_MS: String(TIMEOUT_MS) }, { kind: 'sqlite' });
    token = await adminToken(t);
    holder = new sqlite3.Database(t.target.url.slice('sqlite:'.length));
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => holder?.close(() => resolve()));
    await t?.close();
  });

  it('answers 503 within the deadline while another process holds the lock, then writes again', async () => {
    await exec('BEGIN IMMEDIATE');
    try {
      const started = performance.now();
      // Two writes at once: the second waits for its turn in this process as well.
      const [first, second] = await Promise.all([addDoctor('Dr. Locked 1'), addDoctor('Dr. Locked 2')]);
      const elapsed = performance.now() - started;
      expect(first.status).toBe(503);
      expect(second.status).toBe(503);
      expect(first.body).toEqual({ error: 'Database unavailable' });
      // Bounded by the deadline (1 s) with room for a loaded machine; the old wait was SQLite's 10 s.
      expect(elapsed).toBeLessThan(TIMEOUT_MS + 4000);
      // Reads are not blocked by a writer.
      expect((await http(t.url, 'GET', '/healthz')).status).toBe(200);
      expect((await http(t.url, 'GET', '/doctors', { token })).status).toBe(200);
    } finally {
      await exec('ROLLBACK');
    }
    const after = await addDoctor('Dr. Unlocked');
    expect(after.status).toBe(201);
    const names = (await http(t.url, 'GET', '/doctors?limit=1000', { token })).body.map(
      (d: { name: string }) => d.name,
    );
    expect(names).toContain('Dr. Unlocked');
    expect(names).not.toContain('Dr. Locked 1');
    expect(names).not.toContain('Dr. Locked 2');
  });
});
