import sqlite3 from 'sqlite3';

/**
 * The `sqlite3` module as HDMS hands it to Sequelize (its public `dialectModule` option): the
 * driver itself, with a `Database` subclass that
 * - binds the values of hand-written statements (`db/src/sql.ts`, anonymous `?` placeholders) by
 *   position. Given an array `bind`, Sequelize builds `{ $1: …, $2: … }` (twice) and the driver
 *   binds each name, which SQLite looks up among the statement's parameters one by one: quadratic,
 *   a second for a multi-row INSERT of a few thousand values. So sql.ts hands Sequelize a single
 *   bind value, a `PositionalValues` holding the statement's values, which Sequelize passes on
 *   untouched as `$1`; this driver binds the values it holds in order. Sequelize's own statements
 *   keep their named binding;
 * - sets every connection's busy timeout as it opens, and in `yield` mode (busy timeout 0) retries
 *   a statement that found the database locked from JavaScript, after a short growing delay;
 * - reports every native call (open, statement, close) to an optional `SqliteCallGuard`, which
 *   may also hold new calls back (worker threads, see server/src/jobs/sqlite.ts);
 * - calls back at once when closing a handle that failed to open (closing such a handle never
 *   calls back, so `sequelize.close()` would wait forever).
 * Sequelize's own classes stay as they are.
 */

/**
 * Told of every native call of a connection: opening it, each statement, closing it. node-sqlite3
 * calls back into JavaScript when such a call completes, which must not happen while the thread
 * is being terminated.
 */
export interface SqliteCallGuard {
  /** Before a native call starts; false holds the call back: it never starts and never calls back. */
  enter(): boolean;
  /** Once a call that `enter` let start has called back. */
  leave(): void;
}

/**
 * How a connection meets a database another connection has locked: `wait` inside SQLite (busy
 * timeout 10 s, holding one of libuv's threads meanwhile), or `yield`: busy timeout 0, and the
 * statement is retried from JavaScript (~16 s in all), holding no thread while it waits.
 */
export type SqliteBusyMode = 'wait' | 'yield';

/** Options of `sqliteDriver`. */
export interface SqliteDriverOptions {
  busy?: SqliteBusyMode;
  /** How long `wait` mode waits for another connection's lock (the statement deadline; default 10 s). */
  busyTimeoutMs?: number;
  guard?: SqliteCallGuard;
}

/** The driver module Sequelize is given, and a switch of its busy mode. */
export interface SqliteDriver {
  /** What Sequelize's `dialectModule` option takes. */
  readonly module: typeof sqlite3;
  /** Switches the busy mode of every connection of this driver, from its next statement on. */
  setBusy(mode: SqliteBusyMode): void;
}

/** The busy timeout of `wait` mode unless the database's statement deadline says otherwise. */
export const SQLITE_BUSY_TIMEOUT_MS = 10_000;

/** The retries of `yield` mode: 5 ms × 1.25ⁿ plus up to 5 ms of jitter, 30 times (~16 s in all). */
const BUSY_RETRY = { max: 30, baseMs: 5, exponent: 1.25, jitterMs: 5 };

type Callback = (this: unknown, error: Error | null, ...results: unknown[]) => void;
type NativeMethod = (this: sqlite3.Database, sql: string, ...rest: unknown[]) => sqlite3.Database;

/**
 * The values of a statement written with anonymous `?` placeholders, bound in this order: pass
 * `bind: [new PositionalValues(values)]` to `sequelize.query` (see the top of this file).
 */
export class PositionalValues {
  constructor(readonly values: readonly unknown[]) {}
}

/**
 * The array to bind for parameters as Sequelize hands them to the driver: the values of a
 * `PositionalValues` given as the only bind value; otherwise `params` unchanged.
 */
export function positionalValues(params: unknown): unknown {
  if (params === null || typeof params !== 'object' || Array.isArray(params)) return params;
  const first = (params as { $1?: unknown }).$1;
  if (!(first instanceof PositionalValues) || '$2' in params) return params;
  return first.values;
}

const isBusy = (error: Error | null): boolean => (error as { code?: unknown } | null)?.code === 'SQLITE_BUSY';

/** A `sqlite3` module whose connections follow `options` (see the top of this file). */
export function sqliteDriver(options: SqliteDriverOptions = {}): SqliteDriver {
  let busy: SqliteBusyMode = options.busy ?? 'wait';
  const guard = options.guard;
  const busyTimeoutMs = options.busyTimeoutMs ?? SQLITE_BUSY_TIMEOUT_MS;
  const timeoutOf = (mode: SqliteBusyMode) => (mode === 'yield' ? 0 : busyTimeoutMs);

  /** Runs one native call counted by the guard; `start` gets the callback that ends it. */
  const counted = (start: (done: () => void) => void): boolean => {
    if (guard && !guard.enter()) return false;
    let ended = false;
    start(() => {
      if (ended) return;
      ended = true;
      guard?.leave();
    });
    return true;
  };

  const base = sqlite3.Database.prototype as unknown as Record<'run' | 'all' | 'get' | 'exec', NativeMethod>;

  /** A connection of this driver; opened by `Database` below, once the guard let the open start. */
  class GuardedDatabase extends sqlite3.Database {
    /** The busy timeout this handle has; -1 until it opened. */
    private busyTimeout = -1;
    private openFailed = false;

    constructor(filename: string, mode: number, callback?: (error: Error | null) => void) {
      super(filename, mode, function (this: GuardedDatabase, error: Error | null) {
        if (error) this.openFailed = true;
        else this.configureBusy();
        guard?.leave();
        callback?.call(this, error);
      });
    }

    /** Gives the handle the busy timeout of the current mode, if it has another. */
    private configureBusy(): void {
      const timeout = timeoutOf(busy);
      if (this.busyTimeout === timeout) return;
      this.configure('busyTimeout', timeout);
      this.busyTimeout = timeout;
    }

    /**
     * One statement through the driver's `method`: values bound by position where they can be,
     * counted by the guard, retried while the database is locked in `yield` mode.
     */
    private statement(method: NativeMethod, args: unknown[]): this {
      const sql = args[0] as string;
      let callback: Callback | undefined;
      if (typeof args[args.length - 1] === 'function') callback = args.pop() as Callback;
      const rest = args.slice(1);
      const owner = this;
      if (rest.length === 1) rest[0] = positionalValues(rest[0]);
      const attempt = (retry: number) => {
        if (this.busyTimeout !== -1) this.configureBusy();
        counted((done) => {
          method.call(
            this,
            sql,
            ...rest,
            function (this: unknown, error: Error | null, ...results: unknown[]) {
              done();
              if (isBusy(error) && busy === 'yield') {
                if (retry < BUSY_RETRY.max) {
                  const delay =
                    BUSY_RETRY.baseMs * BUSY_RETRY.exponent ** retry + Math.random() * BUSY_RETRY.jitterMs;
                  setTimeout(() => attempt(retry + 1), delay);
                  return;
                }
                // Retried enough: Sequelize's own retry, which matches the driver's exact message,
                // must not start over. The code stays SQLITE_BUSY.
                (error as Error).message += ` (still locked after ${BUSY_RETRY.max} retries)`;
              }
              if (callback) callback.call(this, error, ...results);
              else if (error) owner.emit('error', error);
            },
          );
        });
      };
      attempt(0);
      return this;
    }

    /**
     * Sequelize's SQLite query starts every statement with `const errForStack = new Error()` inside
     * `serialize`'s callback and reads its `stack` even when the statement succeeds. Formatting a
     * stack goes through the source maps (`tsx`, `--enable-source-maps`): about a millisecond and
     * most of an idle server's CPU (its background looks). That stack holds Sequelize's own frames
     * after an async hop, useless for finding a caller, so it is made with no frames: the limit is
     * 0 while the callback runs synchronously (up to its first `await`) and restored after.
     */
    override serialize(callback?: () => void): void {
      if (!callback) {
        super.serialize();
        return;
      }
      super.serialize(() => {
        const limit = Error.stackTraceLimit;
        Error.stackTraceLimit = 0;
        try {
          callback();
        } finally {
          Error.stackTraceLimit = limit;
        }
      });
    }

    override run(...args: unknown[]): this {
      return this.statement(base.run, args);
    }
    override all(...args: unknown[]): this {
      return this.statement(base.all, args);
    }
    override get(...args: unknown[]): this {
      return this.statement(base.get, args);
    }
    override exec(...args: unknown[]): this {
      return this.statement(base.exec, args);
    }

    override close(callback?: (error: Error | null) => void): void {
      if (this.openFailed) {
        if (callback) setImmediate(() => callback(null));
        return;
      }
      const close = sqlite3.Database.prototype.close;
      counted((done) => {
        close.call(this, (error) => {
          done();
          if (callback) callback(error);
          else if (error) this.emit('error', error);
        });
      });
    }
  }

  /**
   * What Sequelize constructs (`new Database(file, mode, callback)`): a connection, or, once the
   * guard holds calls back, an inert handle that never opens and never calls back.
   */
  function Database(
    filename: string,
    mode?: number | ((error: Error | null) => void),
    callback?: (error: Error | null) => void,
  ): GuardedDatabase {
    const done = typeof mode === 'function' ? mode : callback;
    const flags = typeof mode === 'number' ? mode : sqlite3.OPEN_READWRITE | sqlite3.OPEN_CREATE;
    if (guard && !guard.enter()) return Object.create(GuardedDatabase.prototype) as GuardedDatabase;
    return new GuardedDatabase(filename, flags, done);
  }
  Database.prototype = GuardedDatabase.prototype;

  const module = Object.assign(Object.create(sqlite3) as typeof sqlite3, { Database });
  return {
    module,
    setBusy(mode) {
      busy = mode;
    },
  };
}
