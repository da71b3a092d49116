import { createDatabase, type Database, isDatabaseUnavailable, migrateToLatest } from '@hdms/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toTRPCError, restError, retryAfterOf } from '../server/src/errors';
import { freshDatabase, TEST_DB_KIND, type TestDatabase } from './helpers/db';
import { startTcpProxy, type TcpProxy } from './helpers/tcpProxy';
import { pause } from './helpers/wait';

/**
 * `Database.transaction` on a cluster's failures: a try that certainly did not commit runs again
 * (a deadlock — what a Galera certification conflict reports —, a connection lost before COMMIT),
 * a failure at COMMIT that may have committed never does, and `afterCommit` callbacks run once,
 * after the COMMIT that succeeded. Deadlocks are provoked on plain InnoDB with two transactions
 * locking two rows in opposite orders.
 */

/** Resolves once `count` parties have arrived. */
function barrier(count: number): () => Promise<void> {
  let arrived = 0;
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return () => {
    arrived += 1;
    if (arrived === count) open();
    return opened;
  };
}

describe('transactions: afterCommit callbacks', () => {
  let target: TestDatabase;
  let db: Database;
  beforeAll(async () => {
    target = await freshDatabase();
    db = await createDatabase(target.url);
    await migrateToLatest(db);
  });
  afterAll(async () => {
    await db.close();
    await target.drop();
  });

  it('run after the commit, never for a transaction that rolled back', async () => {
    const fired: string[] = [];
    await db.transaction(async (tx) => {
      tx.afterCommit(() => {
        fired.push('committed');
      });
      await db.models.Doctor.create({ name: 'Dr. Hook', specialization: 'x' }, { transaction: tx });
      expect(fired).toEqual([]);
    });
    expect(fired).toEqual(['committed']);

    await expect(
      db.transaction(async (tx) => {
        tx.afterCommit(() => {
          fired.push('rolled back');
        });
        await db.models.Doctor.create({ name: 'Dr. Gone', specialization: 'x' }, { transaction: tx });
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(fired).toEqual(['committed']);
    expect(await db.models.Doctor.count({ where: { name: 'Dr. Gone' } })).toBe(0);
  });
});

describe.skipIf(TEST_DB_KIND !== 'mysql')('transactions on MySQL: retries', () => {
  let target: TestDatabase;
  let proxy: TcpProxy;
  let db: Database;
  let once: Database;
  let ids: [number, number];

  beforeAll(async () => {
    target = await freshDatabase('mysql');
    const server = new URL(target.url);
    proxy = await startTcpProxy({ host: server.hostname, port: Number(server.port || 3306) });
    db = await createDatabase(proxy.rewrite(target.url), { queryTimeoutMs: 3_000 });
    once = await createDatabase(target.url, { transactionRetries: 0 });
    await migrateToLatest(db);
    const rows = await db.models.Doctor.bulkCreate([
      { name: 'Row A', specialization: '0' },
      { name: 'Row B', specialization: '0' },
    ]);
    ids = [rows[0]!.id, rows[1]!.id];
  });
  afterAll(async () => {
    await db.close();
    await once.close();
    await proxy.close();
    await target.drop();
  });

  /**
   * Two transactions of `on` that lock the two rows in opposite orders on their first try: InnoDB
   * kills one (1213). Returns how each ended and how often each ran its work.
   */
  async function deadlock(on: Database) {
    const bothLocked = barrier(2);
    const runs = [0, 0];
    const fired = [0, 0];
    const bump = (index: 0 | 1) =>
      on.transaction(async (tx) => {
        runs[index]! += 1;
        tx.afterCommit(() => {
          fired[index]! += 1;
        });
        const [first, second] = index === 0 ? ids : [ids[1], ids[0]];
        await on.models.Doctor.update(
          { specialization: `locked ${index}` },
          { where: { id: first }, transaction: tx },
        );
        if (runs[index] === 1) await bothLocked();
        await on.models.Doctor.update(
          { specialization: `bumped ${index}` },
          { where: { id: second }, transaction: tx },
        );
        return index;
      });
    const outcomes = await Promise.allSettled([bump(0), bump(1)]);
    return { outcomes, runs, fired };
  }

  it('a deadlock victim runs again and commits; its failed try fires no callback', async () => {
    const { outcomes, runs, fired } = await deadlock(db);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled']);
    // One of the two ran twice (the victim), the other once.
    expect([...runs].sort()).toEqual([1, 2]);
    expect(fired).toEqual([1, 1]);
  });

  it('a deadlock past the retries is "unavailable": 503 with Retry-After, never 500', async () => {
    const { outcomes, runs } = await deadlock(once);
    const failed = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    expect(failed).toHaveLength(1);
    expect(runs).toEqual([1, 1]);
    const error = failed[0]!.reason;
    expect(isDatabaseUnavailable(error)).toBe(true);
    const answer = restError(toTRPCError(error));
    expect(answer.status).toBe(503);
    expect(answer.body).toEqual({ error: 'Database unavailable' });
    expect(retryAfterOf(toTRPCError(error))).toBe(1);
  });

  it('a connection lost before COMMIT runs the work again, which commits once', async () => {
    let runs = 0;
    const name = `Dr. Reconnected ${Date.now()}`;
    await db.transaction(async (tx) => {
      runs += 1;
      await db.models.Doctor.create({ name, specialization: `try ${runs}` }, { transaction: tx });
      if (runs === 1) proxy.cut();
      await db.models.Doctor.count({ transaction: tx });
    });
    expect(runs).toBe(2);
    const stored = await db.models.Doctor.findAll({ where: { name }, raw: true });
    expect(stored.map((d) => d.specialization)).toEqual(['try 2']);
  });

  it('a connection lost during COMMIT is never replayed (the commit may have happened)', async () => {
    let runs = 0;
    let fired = 0;
    const name = `Dr. Uncertain ${Date.now()}`;
    const outcome = db
      .transaction(async (tx) => {
        runs += 1;
        tx.afterCommit(() => {
          fired += 1;
        });
        await db.models.Doctor.create({ name, specialization: 'x' }, { transaction: tx });
        // COMMIT goes out into a stalled link, which is then cut.
        proxy.stall();
      })
      .then(
        () => null,
        (error: unknown) => error,
      );
    await pause(300, 'COMMIT is sent into the stalled link');
    proxy.cut();
    proxy.resume();
    const error = await outcome;
    expect(error, 'the commit should have failed').not.toBeNull();
    expect(isDatabaseUnavailable(error)).toBe(true);
    expect(runs).toBe(1);
    expect(fired).toBe(0);
  });
});
