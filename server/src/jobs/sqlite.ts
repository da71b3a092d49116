import { setTimeout as sleep } from 'node:timers/promises';
import type { Database, SqliteCallGuard } from '@hdms/db';

/**
 * SQLite in several threads of one process (the job framework's side of it). node-sqlite3 runs
 * every call on libuv's threadpool, which all threads of a process share (4 threads by default).
 *
 * Waiting for the write lock: SQLite's busy timeout waits inside the call, holding a pool thread;
 * a few connections waiting at once can occupy every pool thread, and the connection that holds
 * the lock then cannot run its next statement: nothing moves until the waits time out. So the job
 * framework's connections (the dispatcher's and each worker thread's) never wait inside SQLite:
 * `yieldOnBusy` sets their busy timeout to 0 and retries a statement that found the database
 * locked from JavaScript, after a short, growing delay, holding no pool thread meanwhile.
 *
 * Terminating a thread: worker threads that use SQLite are made safe to terminate. node-sqlite3 calls back into JavaScript
 * when a native call (opening or closing a connection, a statement) completes; if its thread is
 * being terminated at that moment, the call back fails and aborts the whole process
 * ("FATAL ERROR: Error::ThrowAsJavaScriptException napi_throw"). So every native call of a
 * worker's Sequelize is counted in a small shared array, and before a thread is terminated the
 * main thread `quiesce`s it: no new call may start (one that tries waits forever; the thread is
 * about to go) and the calls in flight are allowed to finish first. The counting is done by the
 * database's driver (`db/src/drivers/sqlite.ts`), told by `callGuard`.
 *
 * The array's slots: `IN_FLIGHT` native calls running, `FROZEN` 1 once no new call may start.
 */
const IN_FLIGHT = 0;
const FROZEN = 1;

/** The longest a quiesce waits for calls in flight (a statement waits at most the 10 s busy timeout). */
const QUIESCE_MAX_MS = 15_000;

/**
 * Makes `db`'s connections yield instead of waiting inside SQLite for a lock (see above): busy
 * timeout 0, and statements that found the database locked retried from JavaScript, by the
 * database's driver (`sqliteBusy: 'yield'` of `createDatabase`, which a database opened for the
 * job framework may be given at once). No effect on MySQL.
 */
export function yieldOnBusy(db: Database): void {
  db.setSqliteBusy('yield');
}

/** A worker thread's guard: shared with the main thread, which quiesces it before terminating it. */
export function createGuard(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(8));
}

/** True once the thread was quiesced: it must not take more work. */
export function isFrozen(guard: Int32Array): boolean {
  return Atomics.load(guard, FROZEN) === 1;
}

/**
 * The guard of a worker thread's database (`sqliteGuard` of `createDatabase`): counts every native
 * SQLite call (connection opens and closes, statements) in `guard`, and holds back new ones once
 * the guard is frozen. A call counts itself before it checks the freeze, so that `quiesce`, which
 * freezes first and then waits for the count, either sees it or is seen by it.
 */
export function callGuard(guard: Int32Array): SqliteCallGuard {
  return {
    enter() {
      Atomics.add(guard, IN_FLIGHT, 1);
      if (!isFrozen(guard)) return true;
      Atomics.sub(guard, IN_FLIGHT, 1);
      return false;
    },
    leave() {
      Atomics.sub(guard, IN_FLIGHT, 1);
    },
  };
}

/**
 * Freezes a worker thread's guard and waits until its native calls in flight have finished (at
 * most 15 s): after this the thread can be terminated without taking the process down. The
 * thread must then be terminated, never reused.
 */
export async function quiesce(guard: Int32Array): Promise<void> {
  Atomics.store(guard, FROZEN, 1);
  const deadline = Date.now() + QUIESCE_MAX_MS;
  while (Atomics.load(guard, IN_FLIGHT) > 0 && Date.now() < deadline) await sleep(10);
}
