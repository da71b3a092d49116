import {
  createDatabase,
  type Database,
  insertRows,
  isDatabaseUnavailable,
  migrateToLatest,
  type SqliteCallGuard,
  selectRows,
} from '@hdms/db';
import { QueryTypes } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PositionalValues, positionalValues } from '../db/src/drivers/sqlite';
import { freshDatabase, TEST_DB_KIND, type TestDatabase } from './helpers/db';
import { startTcpProxy } from './helpers/tcpProxy';

/** The drivers HDMS hands Sequelize (db/src/drivers): what they must keep doing. */

const BULK_TABLE = {
  sqlite: 'CREATE TABLE bulk_rows (id INTEGER PRIMARY KEY AUTOINCREMENT, a TEXT, b INTEGER, c TEXT)',
  mysql: 'CREATE TABLE bulk_rows (id INT AUTO_INCREMENT PRIMARY KEY, a TEXT, b INT, c TEXT)',
};

describe('hand-written statements (db/src/sql.ts)', () => {
  let target: TestDatabase;
  let db: Database;

  beforeAll(async () => {
    target = await freshDatabase();
    db = await createDatabase(target.url);
    await db.sequelize.query(BULK_TABLE[db.dialect]);
  });
  afterAll(async () => {
    await db?.close();
    await target?.drop();
  });

  it('bind every value in its place: a 2,000-row insert reads back as written, ids in order', async () => {
    const rows = Array.from({ length: 2_000 }, (_, i) => [`a-${i}`, i, i % 2 ? null : `c-${i}?$1`]);
    const ids = await insertRows(db, 'bulk_rows', ['a', 'b', 'c'], rows);
    expect(ids).toHaveLength(2_000);
    const read = await selectRows<{ id: number; a: string; b: number; c: string | null }>(
      db,
      'SELECT id, a, b, c FROM bulk_rows WHERE id >= ? AND id <= ? ORDER BY id',
      [ids[0], ids[1_999]],
    );
    expect(read.map((row) => [row.a, Number(row.b), row.c])).toEqual(rows);
    expect(read.map((row) => Number(row.id))).toEqual(ids);
  });

  it.skipIf(TEST_DB_KIND !== 'sqlite')(
    'bind by position on SQLite: a 2,000-row insert of 10 columns takes well under 100 ms',
    async () => {
      await db.sequelize.query(
        `CREATE TABLE wide_rows (id INTEGER PRIMARY KEY AUTOINCREMENT, ${Array.from({ length: 10 }, (_, i) => `v${i} TEXT`).join(', ')})`,
      );
      const columns = Array.from({ length: 10 }, (_, i) => `v${i}`);
      const rows = Array.from({ length: 2_000 }, (_, r) => columns.map((c) => `${c}-${r}`));
      await insertRows(db, 'wide_rows', columns, rows.slice(0, 10)); // warm up
      const times: number[] = [];
      for (let run = 0; run < 3; run += 1) {
        const started = performance.now();
        await insertRows(db, 'wide_rows', columns, rows);
        times.push(performance.now() - started);
      }
      // Named binding took seconds here (commit f97645c); positional takes some 20 ms.
      expect(Math.min(...times)).toBeLessThan(100);
    },
  );
});

describe('positionalValues', () => {
  it('binds the values of a PositionalValues handed over as the only value, in order', () => {
    expect(positionalValues({ $1: new PositionalValues([1, 'two', null]) })).toEqual([1, 'two', null]);
  });
  it("leaves Sequelize's own binds as they are", () => {
    const named = { $1: 1, $2: 2 };
    expect(positionalValues(named)).toBe(named);
    const mixed = { $1: new PositionalValues([1]), $2: 2 };
    expect(positionalValues(mixed)).toBe(mixed);
    expect(positionalValues([1])).toEqual([1]);
    expect(positionalValues(undefined)).toBeUndefined();
  });
});

describe.skipIf(TEST_DB_KIND !== 'sqlite')('SQLite connections', () => {
  let target: TestDatabase;

  beforeAll(async () => {
    target = await freshDatabase('sqlite');
    const db = await createDatabase(target.url);
    await migrateToLatest(db.sequelize);
    await db.close();
  });
  afterAll(async () => {
    await target?.drop();
  });

  it('report every native call to the guard, which can hold new ones back', async () => {
    let inFlight = 0;
    let calls = 0;
    let frozen = false;
    const guard: SqliteCallGuard = {
      enter() {
        if (frozen) return false;
        inFlight += 1;
        calls += 1;
        return true;
      },
      leave() {
        inFlight -= 1;
      },
    };
    const db = await createDatabase(target.url, { sqliteGuard: guard });
    await db.models.Doctor.count();
    await db.transaction((transaction) =>
      db.models.Doctor.create({ name: 'Dr. Guarded', specialization: 'Threads' }, { transaction }),
    );
    expect(calls).toBeGreaterThan(3);
    // The transaction's own connection closes after the commit: a native call too.
    await expect.poll(() => inFlight).toBe(0);
    frozen = true;
    const held = await Promise.race([
      db.models.Doctor.count().then(() => 'answered'),
      new Promise((resolve) => setTimeout(() => resolve('held'), 300)),
    ]);
    expect(held).toBe('held');
    expect(inFlight).toBe(0);
  });

  it("in 'yield' mode a write that finds the database locked is retried until the lock is gone", async () => {
    const holder = await createDatabase(target.url);
    const yielding = await createDatabase(target.url, { sqliteBusy: 'yield' });
    try {
      let release: () => void = () => undefined;
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      const holding = holder.transaction(async (transaction) => {
        await holder.models.Doctor.create({ name: 'Dr. Holder', specialization: 'Locks' }, { transaction });
        await released;
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      const write = yielding.models.Doctor.create({ name: 'Dr. Yield', specialization: 'Waiting' });
      await new Promise((resolve) => setTimeout(resolve, 200));
      release();
      await holding;
      const doctor = await write;
      expect(doctor.id).toBeGreaterThan(0);
    } finally {
      await holder.close();
      await yielding.close();
    }
  });

  it('have no pool to report and no SKIP LOCKED', async () => {
    const db = await createDatabase(target.url);
    expect(db.poolStats()).toBeNull();
    expect(db.skipLocked).toBe(false);
    await db.close();
  });
});

describe.skipIf(TEST_DB_KIND !== 'mysql')('MySQL connections', () => {
  let target: TestDatabase;
  let db: Database;
  const statements: string[] = [];

  beforeAll(async () => {
    target = await freshDatabase('mysql');
    const migrating = await createDatabase(target.url);
    await migrateToLatest(migrating.sequelize);
    await migrating.close();
    db = await createDatabase(target.url, { queryTimeoutMs: 1_000, logging: (sql) => statements.push(sql) });
  });
  afterAll(async () => {
    await db?.close();
    await target?.drop();
  });

  it('fail a statement at its deadline, as unavailable, and the next statement runs at once', async () => {
    const started = performance.now();
    const outcome = await db.sequelize.query('SELECT SLEEP(5)', { type: QueryTypes.SELECT }).then(
      () => null,
      (error: unknown) => error,
    );
    expect(outcome).not.toBeNull();
    expect(isDatabaseUnavailable(outcome)).toBe(true);
    expect(performance.now() - started).toBeLessThan(2_000);
    const next = performance.now();
    await db.sequelize.query('SELECT 1');
    expect(performance.now() - next).toBeLessThan(500);
  });

  it('read DATETIME columns as the Dates written (UTC)', async () => {
    const when = new Date('2024-02-29T23:59:58.000Z');
    const doctor = await db.models.Doctor.create({ name: 'Dr. Time', specialization: 'Clocks' });
    await db.models.Doctor.update({ createdAt: when }, { where: { id: doctor.id }, silent: true });
    const read = await db.models.Doctor.findByPk(doctor.id);
    expect(read?.createdAt.toISOString()).toBe(when.toISOString());
  });

  it("report the pool's counts (pinned: Sequelize's pool is read, not changed)", async () => {
    await Promise.all([db.sequelize.query('SELECT 1'), db.sequelize.query('SELECT 1')]);
    const stats = db.poolStats();
    expect(stats).not.toBeNull();
    expect(stats!.size).toBeGreaterThan(0);
    expect(stats!.available + stats!.using).toBeLessThanOrEqual(stats!.size);
    expect(stats!.waiting).toBe(0);
  });

  it('say FOR UPDATE SKIP LOCKED when asked (pinned: enabled by createDatabase)', async () => {
    expect(db.skipLocked).toBe(true);
    statements.length = 0;
    await db.sequelize.transaction((transaction) =>
      db.models.Doctor.findAll({
        where: { id: 1 },
        lock: transaction.LOCK.UPDATE,
        skipLocked: true,
        transaction,
      }),
    );
    expect(statements.some((sql) => sql.includes('FOR UPDATE SKIP LOCKED'))).toBe(true);
  });

  it('close within a few seconds while the server is stalled (QUIT is never answered)', async () => {
    const server = new URL(target.url);
    const proxy = await startTcpProxy({ host: server.hostname, port: Number(server.port || 3306) });
    try {
      const stalled = await createDatabase(proxy.rewrite(target.url), { queryTimeoutMs: 1_000 });
      await Promise.all([stalled.sequelize.query('SELECT 1'), stalled.sequelize.query('SELECT 1')]);
      // Every connection open and idle (none still connecting: a close waits for a connect's deadline).
      await expect.poll(() => stalled.poolStats()?.available).toBe(stalled.poolStats()?.size);
      proxy.stall();
      const started = performance.now();
      await stalled.close();
      // At most a second per connection for QUIT; a hung close would never end.
      expect(performance.now() - started).toBeLessThan(3_500);
    } finally {
      proxy.resume();
      await proxy.close();
    }
  });
});
