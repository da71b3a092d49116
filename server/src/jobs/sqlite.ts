import { setTimeout as sleep } from 'node:timers/promises';
import type { Database } from '@hdms/db';

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
 * about to go) and the calls in flight are allowed to finish first.
 *
 * The array's slots: `IN_FLIGHT` native calls running, `FROZEN` 1 once no new call may start.
 */
const IN_FLIGHT = 0;
const FROZEN = 1;

/** The longest a quiesce waits for calls in flight (a statement waits at most the 10 s busy timeout). */
const QUIESCE_MAX_MS = 15_000;

/** How a job connection retries a statement that found the database locked: ~16 s in all. */
const BUSY_RETRY = {
  max: 30,
  match: [/SQLITE_BUSY/],
  backoffBase: 5,
  backoffExponent: 1.25,
  backoffJitter: 5,
};

/**
 * Makes `db`'s connections yield instead of waiting inside SQLite for a lock (see above): busy
 * timeout 0, and statements that found the database locked retried from JavaScript (Sequelize's
 * own retry, which a transaction's `BEGIN IMMEDIATE` goes through too). No effect on MySQL.
 */
export function yieldOnBusy(db: Database): void {
  if (db.dialect !== 'sqlite') return;
  const manager = db.sequelize.connectionManager as unknown as {
    getConnection(options?: unknown): Promise<{ configure(option: 'busyTimeout', value: number): void }>;
  };
  const getConnection = manager.getConnection.bind(manager);
  manager.getConnection = async (options) => {
    const connection = await getConnection(options);
    connection.configure('busyTimeout', 0);
    return connection;
  };
  const options = (db.sequelize as unknown as { options: { retry?: object } }).options;
  options.retry = { ...options.retry, ...BUSY_RETRY };
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
 * Counts every native SQLite call of `db` (connection opens and closes, statements) in `guard`,
 * and holds back new ones once the guard is frozen. Installed by the worker thread on its own
 * database.
 */
export function installGuard(db: Database, guard: Int32Array): void {
  if (db.dialect !== 'sqlite') return;
  const never = new Promise<never>(() => undefined);
  const track = <T>(start: () => Promise<T>): Promise<T> => {
    if (isFrozen(guard)) return never;
    Atomics.add(guard, IN_FLIGHT, 1);
    let settled = false;
    const done = () => {
      if (settled) return;
      settled = true;
      Atomics.sub(guard, IN_FLIGHT, 1);
    };
    let running: Promise<T>;
    try {
      running = start();
    } catch (error) {
      done();
      throw error;
    }
    running.then(done, done);
    return running;
  };

  interface SqliteHandle {
    uuid?: string;
    filename?: string;
    close(callback: (error: Error | null) => void): void;
  }
  const manager = db.sequelize.connectionManager as unknown as {
    connections: Record<string, SqliteHandle>;
    getConnection(options?: unknown): Promise<SqliteHandle>;
    releaseConnection(connection: SqliteHandle, force?: boolean): unknown;
  };
  const getConnection = manager.getConnection.bind(manager);
  manager.getConnection = (options) => track(() => getConnection(options));
  const releaseConnection = manager.releaseConnection.bind(manager);
  manager.releaseConnection = (connection, force) => {
    // A transaction's own connection is closed on release: counted like any other native call.
    if (!connection.uuid || (connection.filename === ':memory:' && force !== true)) {
      return releaseConnection(connection, force);
    }
    delete manager.connections[connection.uuid];
    return track(() => new Promise<void>((resolve) => connection.close(() => resolve())));
  };

  const dialect = (db.sequelize as unknown as { dialect: { Query: new (...args: unknown[]) => object } })
    .dialect;
  const BaseQuery = dialect.Query as new (
    ...args: unknown[]
  ) => { run(sql: string, parameters?: unknown): Promise<unknown> };
  dialect.Query = class GuardedQuery extends BaseQuery {
    override run(sql: string, parameters?: unknown): Promise<unknown> {
      return track(() => super.run(sql, parameters));
    }
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
