import {
  ConnectionError,
  createDatabase,
  type Database,
  DatabaseOpenError,
  isDatabaseUnavailable,
  migrateToLatest,
  redactUrl,
  UniqueConstraintError,
} from '@hdms/db';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, TEST_DB_KIND, type TestDatabase } from './helpers/db';
import { startTcpProxy, type TcpProxy } from './helpers/tcpProxy';

/** Deadlines small enough for tests; the defaults are seconds. */
const DEADLINES = { connectTimeoutMs: 1_000, acquireTimeoutMs: 1_000, queryTimeoutMs: 1_000 };

/** Runs `work` and reports how it ended and how long it took. */
async function timed(work: () => Promise<unknown>): Promise<{ ms: number; error: unknown; ok: boolean }> {
  const started = performance.now();
  try {
    await work();
    return { ms: performance.now() - started, error: undefined, ok: true };
  } catch (error) {
    return { ms: performance.now() - started, error, ok: false };
  }
}

/** Asserts that `work` fails as "database unavailable" within `withinMs`. */
async function expectUnavailable(work: () => Promise<unknown>, withinMs: number): Promise<void> {
  const outcome = await timed(work);
  expect(outcome.ok, 'the call should have failed').toBe(false);
  expect(isDatabaseUnavailable(outcome.error), String(outcome.error)).toBe(true);
  expect(outcome.ms).toBeLessThan(withinMs);
}

/** Waits until the database answers again (it heals by itself; nothing is reopened). */
async function recovered(db: Database): Promise<void> {
  await expect
    .poll(async () => (await timed(() => db.models.Doctor.count())).ok, { timeout: 10_000, interval: 100 })
    .toBe(true);
}

describe.skipIf(TEST_DB_KIND !== 'mysql')('MySQL behind a faulty network', () => {
  let target: TestDatabase;
  let proxy: TcpProxy;
  let db: Database;

  beforeAll(async () => {
    target = await freshDatabase('mysql');
    const server = new URL(target.url);
    proxy = await startTcpProxy({ host: server.hostname, port: Number(server.port || 3306) });
    db = await createDatabase(proxy.rewrite(target.url), DEADLINES);
    await migrateToLatest(db.sequelize);
  });
  afterEach(async () => {
    proxy.resume();
    proxy.refuse(false);
    await recovered(db);
  });
  afterAll(async () => {
    await db?.close();
    await proxy?.close();
    await target?.drop();
  });

  it('a stalled server makes ping reject within 2 s and queries and transactions within the query deadline', async () => {
    await db.models.Doctor.count();
    proxy.stall();
    await expectUnavailable(() => db.ping(), 2_000);
    await expectUnavailable(() => db.models.Doctor.count(), 2_000);
    await expectUnavailable(
      () =>
        db.transaction((transaction) =>
          db.models.Doctor.create({ name: 'Dr. Stalled', specialization: 'Waiting' }, { transaction }),
        ),
      // One deadline for the statement, and at most one more to open a fresh connection for BEGIN.
      3_000,
    );
  });

  it('a statement running past the query deadline fails as unavailable and leaves no poisoned connection', async () => {
    await expectUnavailable(() => db.sequelize.query('SELECT SLEEP(3)'), 2_000);
    for (let i = 0; i < 5; i += 1) {
      const outcome = await timed(() => db.sequelize.query('SELECT 1'));
      expect(outcome.ok).toBe(true);
      expect(outcome.ms).toBeLessThan(1_000);
    }
  });

  it('a schema change may run longer than the query deadline', async () => {
    await db.sequelize.query('CREATE TABLE slow_schema_change AS SELECT SLEEP(1.5) AS slept');
    await db.sequelize.query('DROP TABLE slow_schema_change');
  });

  it('queries succeed again after the server resumes, without reopening the database', async () => {
    proxy.stall();
    await expectUnavailable(() => db.models.Doctor.count(), 2_000);
    proxy.resume();
    const doctor = await db.models.Doctor.create({ name: 'Dr. Resumed', specialization: 'Recovery' });
    expect((await db.models.Doctor.findByPk(doctor.id))?.name).toBe('Dr. Resumed');
    await db.ping();
  });

  it('after every connection is cut, the next query fails as unavailable or runs on a fresh connection, and later ones succeed', async () => {
    await Promise.all(Array.from({ length: 3 }, () => db.sequelize.query('SELECT SLEEP(0.05)')));
    expect(proxy.connections).toBeGreaterThan(0);
    proxy.cut();
    const next = await timed(() => db.models.Doctor.count());
    if (!next.ok) expect(isDatabaseUnavailable(next.error), String(next.error)).toBe(true);
    expect(next.ms).toBeLessThan(2_000);
    await recovered(db);
    expect(await db.models.Doctor.count()).toBeGreaterThanOrEqual(0);
  });

  it('refused connections fail calls fast as unavailable, and calls recover once connections are accepted', async () => {
    proxy.refuse(true);
    proxy.cut();
    await expectUnavailable(() => db.models.Doctor.count(), 1_000);
    await expectUnavailable(() => db.ping(), 1_000);
    proxy.refuse(false);
    await recovered(db);
    await db.ping();
  });

  it('ping keeps its deadline while every pooled connection is stalled in a long statement', async () => {
    // A second database whose statements may take long: the pool stays full for the whole stall.
    const slowDb = await createDatabase(proxy.rewrite(target.url), {
      connectTimeoutMs: 5_000,
      acquireTimeoutMs: 10_000,
      queryTimeoutMs: 10_000,
    });
    try {
      const poolSize = 10;
      await Promise.all(Array.from({ length: poolSize }, () => slowDb.sequelize.query('SELECT SLEEP(0.1)')));
      proxy.stall();
      const busy = Array.from({ length: poolSize }, () => timed(() => slowDb.sequelize.query('SELECT 1')));
      await expectUnavailable(() => slowDb.ping(500), 1_000);
      await expectUnavailable(() => slowDb.ping(), 2_000);
      proxy.resume();
      const outcomes = await Promise.all(busy);
      expect(outcomes.every((o) => o.ok)).toBe(true);
      await slowDb.ping();
    } finally {
      await slowDb.close();
    }
  });

  it('opening through a stalled server fails within the connect deadline, naming the server', async () => {
    proxy.stall();
    const outcome = await timed(() => createDatabase(proxy.rewrite(target.url), DEADLINES));
    expect(outcome.ok).toBe(false);
    expect(outcome.error).toBeInstanceOf(DatabaseOpenError);
    expect((outcome.error as Error).message).toContain(
      `cannot connect to MySQL at ${proxy.rewrite(target.url)}`,
    );
    expect(isDatabaseUnavailable(outcome.error)).toBe(true);
    expect(outcome.ms).toBeLessThan(2_000);
  });

  it('opening with connections refused fails at once with one line naming the server, password hidden', async () => {
    proxy.refuse(true);
    const url = new URL(proxy.rewrite(target.url));
    url.username = 'root';
    url.password = 's3cret-pass';
    const outcome = await timed(() => createDatabase(url.toString(), DEADLINES));
    expect(outcome.error).toBeInstanceOf(DatabaseOpenError);
    const message = (outcome.error as Error).message;
    expect(message).toMatch(
      new RegExp(`^cannot connect to MySQL at mysql://root:\\*\\*\\*@127\\.0\\.0\\.1:${proxy.port}/\\S+: .+`),
    );
    expect(message).not.toContain('s3cret-pass');
    expect(message).not.toContain('\n');
    expect(outcome.ms).toBeLessThan(1_000);
  });
});

describe('isDatabaseUnavailable', () => {
  const coded = (code: string, message = code) => Object.assign(new Error(message), { code });

  it('is true for lost, refused, reset and timed-out connections, closed pools and busy files', () => {
    for (const code of [
      'PROTOCOL_CONNECTION_LOST',
      'ECONNRESET',
      'ECONNREFUSED',
      'EPIPE',
      'ETIMEDOUT',
      'PROTOCOL_SEQUENCE_TIMEOUT',
      'SQLITE_BUSY',
    ]) {
      expect(isDatabaseUnavailable(coded(code)), code).toBe(true);
    }
    expect(isDatabaseUnavailable(new ConnectionError(coded('ECONNREFUSED')))).toBe(true);
    expect(
      isDatabaseUnavailable(
        new Error('ConnectionManager.getConnection was called after the connection manager was closed!'),
      ),
    ).toBe(true);
    expect(isDatabaseUnavailable(new Error('Connection lost: The server closed the connection.'))).toBe(true);
    expect(isDatabaseUnavailable(new Error("Can't add new command when connection is in closed state"))).toBe(
      true,
    );
    expect(isDatabaseUnavailable(new Error('wrapped', { cause: coded('ECONNRESET') }))).toBe(true);
  });

  it('is false for query faults, even when their message quotes such words', () => {
    expect(isDatabaseUnavailable(new Error('boom'))).toBe(false);
    expect(isDatabaseUnavailable(undefined)).toBe(false);
    expect(isDatabaseUnavailable('ECONNRESET')).toBe(false);
    expect(isDatabaseUnavailable(coded('ER_PARSE_ERROR', 'You have an error in your SQL syntax'))).toBe(
      false,
    );
    const duplicate = Object.assign(
      coded('ER_DUP_ENTRY', "Duplicate entry 'Connection lost' for key 'users_email'"),
      { sql: 'INSERT INTO users …' },
    );
    expect(isDatabaseUnavailable(duplicate)).toBe(false);
    expect(isDatabaseUnavailable(new UniqueConstraintError({ parent: duplicate }))).toBe(false);
  });
});

describe('redactUrl', () => {
  it('replaces the password of a URL with ***, keeping the rest', () => {
    expect(redactUrl('mysql://root:hunter2@127.0.0.1:3399/hdms')).toBe(
      'mysql://root:***@127.0.0.1:3399/hdms',
    );
    expect(redactUrl('mysql://u%40x:p%40ss@db/hdms?ssl=true')).toBe('mysql://u%40x:***@db/hdms?ssl=true');
    expect(redactUrl('mysql://root:a@b@db/hdms')).toBe('mysql://root:***@db/hdms');
    expect(redactUrl('mysql://root@db/hdms?password=x&ssl=1')).toBe(
      'mysql://root@db/hdms?password=***&ssl=1',
    );
  });

  it('leaves URLs without a password unchanged', () => {
    expect(redactUrl('mysql://root@127.0.0.1:3306/hdms')).toBe('mysql://root@127.0.0.1:3306/hdms');
    expect(redactUrl('sqlite:data/hdms.sqlite')).toBe('sqlite:data/hdms.sqlite');
  });
});
