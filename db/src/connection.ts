import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import {
  ConnectionError,
  ConnectionTimedOutError,
  type Options,
  Sequelize,
  TimeoutError,
  Transaction,
} from 'sequelize';
import { mysqlDriver, timeoutError } from './drivers/mysql';
import { type SqliteBusyMode, type SqliteCallGuard, type SqliteDriver, sqliteDriver } from './drivers/sqlite';
import { type CommitWatch, watchSqliteFile } from './drivers/sqliteWatch';
import { initModels, type Models } from './models/index';

/** Where the data lives, parsed from a `DATABASE_URL`. */
export type DatabaseTarget =
  | { dialect: 'sqlite'; storage: string }
  | { dialect: 'mysql'; url: URL; database: string };

/** Thrown for a `DATABASE_URL` that names no database we can open. */
export class DatabaseUrlError extends Error {}

/**
 * Thrown by `createDatabase` when the database a valid URL names cannot be opened: a SQLite path
 * that cannot be created or written, a MySQL server that cannot be reached. The message is one
 * line naming the file or the server (password as `***`); `cause` holds the underlying error.
 */
export class DatabaseOpenError extends Error {
  override name = 'DatabaseOpenError';
}

/**
 * Parses `sqlite:<file>`, `sqlite::memory:` or `mysql://user:pass@host:port/db`.
 * Relative SQLite paths resolve against `cwd`.
 */
export function parseDatabaseUrl(raw: string, cwd = process.cwd()): DatabaseTarget {
  if (raw.startsWith('sqlite:')) {
    const rest = raw.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (rest === ':memory:') return { dialect: 'sqlite', storage: ':memory:' };
    if (rest === '')
      throw new DatabaseUrlError('a sqlite: URL needs a file path, e.g. sqlite:data/hdms.sqlite');
    return { dialect: 'sqlite', storage: resolve(cwd, rest) };
  }
  if (raw.startsWith('mysql://') || raw.startsWith('mariadb://')) {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new DatabaseUrlError('not a valid mysql:// URL');
    }
    const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
    if (!/^[A-Za-z0-9_$-]{1,64}$/.test(database)) {
      throw new DatabaseUrlError(
        'a mysql:// URL must name a database, e.g. mysql://root@127.0.0.1:3306/hdms',
      );
    }
    return { dialect: 'mysql', url, database };
  }
  throw new DatabaseUrlError('must start with sqlite: or mysql://');
}

const QUERY_PASSWORD = /([?&;](?:password|passwd|pwd|pass)=)[^&;#\s]*/gi;

/** Splits `scheme://user:password@rest` at the last `@` (a password may hold `/ ? #`); null without one. */
function urlParts(url: string): { scheme: string; user: string; password?: string; rest: string } | null {
  const match = /^([a-z][a-z0-9+.-]*:\/\/)(.*)@([^@]*)$/is.exec(url);
  if (!match) return null;
  const [, scheme, userinfo, rest] = match as unknown as [string, string, string, string];
  const colon = userinfo.indexOf(':');
  if (colon < 0) return { scheme, user: userinfo, rest };
  return { scheme, user: userinfo.slice(0, colon), password: userinfo.slice(colon + 1), rest };
}

/** The password of a `scheme://user:password@…` URL as written (maybe percent-encoded), if any. */
export function urlPassword(url: string): string | undefined {
  return urlParts(url)?.password;
}

/**
 * `url` with any password replaced by `***` (`mysql://root:***@127.0.0.1:3306/hdms`), including a
 * `password=` query parameter, for log lines and error messages; also for text that is not a
 * valid URL. Text without one comes back as is.
 */
export function redactUrl(url: string): string {
  const withoutQueryPassword = url.replace(QUERY_PASSWORD, '$1***');
  const parts = urlParts(withoutQueryPassword);
  if (parts?.password === undefined) return withoutQueryPassword;
  return `${parts.scheme}${parts.user}:***@${parts.rest}`;
}

/** Driver and socket error codes that mean the database cannot be reached or did not answer. */
const UNAVAILABLE_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ESOCKET',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'PROTOCOL_ENQUEUE_AFTER_QUIT',
  'ER_CON_COUNT_ERROR',
  'ER_TOO_MANY_USER_CONNECTIONS',
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
  'ER_CLIENT_INTERACTION_TIMEOUT',
  // A deadlock or a Galera certification conflict (1213) that outlived the transaction's retries,
  // and a Galera node not ready for queries (1047, "WSREP has not yet prepared node"): busy, not broken.
  'ER_LOCK_DEADLOCK',
  'ER_UNKNOWN_COM_ERROR',
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_CANTOPEN',
  'SQLITE_IOERR',
  'SQLITE_FULL',
]);

/**
 * Messages of the same failures where no code is set (closed pools, closed connections). Anchored,
 * so that a message quoting user data (a duplicate value, say) can never match.
 */
const UNAVAILABLE_MESSAGES: readonly RegExp[] = [
  /^ConnectionManager\.getConnection was called after the connection manager was closed/,
  /^pool is draining/,
  /^Connection lost/,
  /^Can't add new command when connection is in closed state/,
  /^Can't write in closed state/,
];

/** Names of Sequelize's connection and timeout errors, should another copy of Sequelize throw them. */
const UNAVAILABLE_NAMES =
  /^(Sequelize(Connection\w*|ConnectionRefused|AccessDenied|HostNotFound|HostNotReachable|InvalidConnection|Timeout)Error|TimeoutError)$/;

/**
 * True when `error` means the database is unreachable, gone or did not answer in time (rather than
 * a fault of the query): connection refused, reset or lost, connect and query timeouts, a pool
 * acquire timeout, a closed pool, a locked SQLite file. Follows `parent`, `original` and `cause`.
 * Callers answer such failures with 503 / SERVICE_UNAVAILABLE.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current !== null && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    if (current instanceof ConnectionError || current instanceof TimeoutError) return true;
    const e = current as {
      code?: unknown;
      errno?: unknown;
      message?: unknown;
      name?: unknown;
      parent?: unknown;
      original?: unknown;
      cause?: unknown;
    };
    if (typeof e.name === 'string' && UNAVAILABLE_NAMES.test(e.name)) return true;
    if (typeof e.errno === 'string' && UNAVAILABLE_CODES.has(e.errno)) return true;
    if (typeof e.code === 'string') {
      if (UNAVAILABLE_CODES.has(e.code)) return true;
    } else if (typeof e.message === 'string') {
      const message = e.message;
      if (UNAVAILABLE_MESSAGES.some((pattern) => pattern.test(message))) return true;
    }
    current = e.parent ?? e.original ?? e.cause;
  }
  return false;
}

/**
 * Deadlines for MySQL calls, in milliseconds. SQLite is in-process and ignores them (it keeps its
 * busy timeout).
 */
export interface DatabaseTimeouts {
  /** Opening one connection, TCP connect to the end of the handshake (default 5,000). */
  connectTimeoutMs?: number;
  /** Waiting for a free connection of the pool (default 5,000). */
  acquireTimeoutMs?: number;
  /** One statement, from sending it to its last row (default 10,000). */
  queryTimeoutMs?: number;
  /**
   * One schema change (`ALTER`, `CREATE`, `DROP`, `RENAME`, `TRUNCATE` …), as migrations run: a
   * table copy may take minutes, and a client that gives up makes the server abort it
   * (default 1,800,000: 30 minutes).
   */
  schemaChangeTimeoutMs?: number;
}

/** Options of `createDatabase`. */
export interface DatabaseOptions extends DatabaseTimeouts {
  /** Receives every SQL statement (off by default). */
  logging?: (sql: string) => void;
  /**
   * SQLite: how a connection meets a database another connection has locked (`drivers/sqlite.ts`):
   * `wait` inside SQLite (default), or `yield` (busy timeout 0, retried from JavaScript).
   */
  sqliteBusy?: SqliteBusyMode;
  /** SQLite: told of every native call of this database's connections (`drivers/sqlite.ts`). */
  sqliteGuard?: SqliteCallGuard;
  /**
   * MySQL: how many times a transaction is tried again after a failure that proves it did not
   * commit (`TRANSACTION_RETRIES`, 5, by default; `runTransaction`).
   */
  transactionRetries?: number;
  /**
   * MySQL: a read replica (`DATABASE_READ_URLS`): never creates the database, connects on first
   * use (a replica down at start stops nothing), and refuses transactions (writes go to the primary).
   */
  readOnly?: boolean;
  /**
   * MySQL with read replicas: store commit positions for read-your-writes
   * (`positionsRepo.record`; off by default, when it does nothing).
   */
  recordPositions?: boolean;
}

/** The connection pool's counts (MySQL; SQLite has no pool). */
export interface PoolStats {
  /** Connections open or being opened. */
  size: number;
  /** Connections open and idle. */
  available: number;
  /** Connections handed out. */
  using: number;
  /** Requests waiting for a connection. */
  waiting: number;
}

const DEFAULT_TIMEOUTS: Required<DatabaseTimeouts> = {
  connectTimeoutMs: 5_000,
  acquireTimeoutMs: 5_000,
  queryTimeoutMs: 10_000,
  schemaChangeTimeoutMs: 30 * 60_000,
};

/** How long `ping()` waits by default before it reports the database unavailable. */
const PING_TIMEOUT_MS = 1_500;

/** An open database: the Sequelize instance, its models and a transaction helper. */
export interface Database {
  readonly sequelize: Sequelize;
  readonly models: Models;
  readonly dialect: 'sqlite' | 'mysql';
  /**
   * Runs `work` in one transaction: committed if it resolves, rolled back if it throws. Every
   * write path goes through here so that other rows (revisions, audit, events, jobs) can join
   * the same commit. On MySQL a try that certainly did not commit (a deadlock or Galera
   * certification conflict, a node not ready, a connection lost before COMMIT) runs `work` again
   * in a new transaction, up to `transactionRetries` times: `work` must do nothing outside the
   * database that cannot be done twice. `tx.afterCommit` callbacks run once, after the COMMIT
   * that succeeded. On SQLite, transactions are serialised in-process (SQLite has one writer).
   */
  transaction<T>(work: (tx: Transaction) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /**
   * Resolves when the database answers a trivial query within `timeoutMs` (default 1,500 ms);
   * otherwise rejects with an error `isDatabaseUnavailable` recognises, even when every pooled
   * connection is busy or stalled.
   */
  ping(timeoutMs?: number): Promise<void>;
  /** The connection pool's counts; null on SQLite. */
  poolStats(): PoolStats | null;
  /**
   * True when locking reads may say `FOR UPDATE SKIP LOCKED` (`skipLocked: true` in a query's
   * options): on MySQL (8.0.1+, MariaDB 10.6+), where `createDatabase` enables it.
   */
  readonly skipLocked: boolean;
  /**
   * The database this object is a view of: itself for one `createDatabase` opened; the opened one
   * for a view that adds behaviour (a request's, recording commit positions for read replicas).
   * State kept per database (group commits, queues) is keyed on it.
   */
  readonly base: Database;
  /** Whether commit positions are stored for read replicas' read-your-writes (`DatabaseOptions.recordPositions`). */
  readonly recordsPositions: boolean;
  /** SQLite: switches how this database's connections meet a locked database (no effect on MySQL). */
  setSqliteBusy(mode: SqliteBusyMode): void;
  /**
   * SQLite file: calls `onChange` on each write to the file by any process (`drivers/sqliteWatch.ts`
   * tells what that does and does not mean). Null on MySQL, for `:memory:`, and when the system
   * refuses a watch: poll instead.
   */
  watchCommits(onChange: () => void): CommitWatch | null;
  /** Closes every connection, once; later calls wait for the same close. */
  close(): Promise<void>;
}

/** Options of one transaction. */
export interface TransactionOptions {
  /** MySQL: READ COMMITTED instead of the server's default (REPEATABLE READ); SQLite ignores it. */
  readCommitted?: boolean;
}

/** Resolves or rejects as `work` does, or rejects with `onTimeout()` after `ms`, whichever is first. */
async function withDeadline<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** The parts of a column mysql2 hands to `typeCast`. */
interface TypeCastField {
  type: string;
  string(): string | null;
}

/**
 * How mysql2 converts the values it reads (`dialectOptions.typeCast`, which Sequelize spreads over
 * its own connection settings in place of its converter). Sequelize's converts three types of
 * MySQL: DATETIME, by looking the connection's time zone up in moment-timezone for every value;
 * DATE (DATEONLY), as its text; GEOMETRY (no model of ours has one). Our time zone is always UTC
 * (`timezone: '+00:00'`, which Sequelize gives mysql2 too), so mysql2's own conversion reads the
 * same Date for a DATETIME; DATE stays text, as Sequelize reads it; the rest is mysql2's.
 */
function typeCast(field: TypeCastField, next: () => unknown): unknown {
  return field.type === 'DATE' ? field.string() : next();
}

function mysqlOptions(
  target: Extract<DatabaseTarget, { dialect: 'mysql' }>,
  timeouts: Required<DatabaseTimeouts>,
): Options {
  return {
    dialect: 'mysql',
    host: target.url.hostname,
    port: target.url.port ? Number(target.url.port) : 3306,
    username: decodeURIComponent(target.url.username),
    password: decodeURIComponent(target.url.password),
    timezone: '+00:00',
    // The driver with our deadlines (`drivers/mysql.ts`), through Sequelize's public option.
    dialectModule: mysqlDriver(timeouts),
    dialectOptions: { charset: 'utf8mb4', connectTimeout: timeouts.connectTimeoutMs, typeCast },
    define: { charset: 'utf8mb4', collate: 'utf8mb4_unicode_ci' },
    // `validate` stays Sequelize's: a connection whose socket failed or timed out is evicted.
    // Idle connections are looked for every 10 s (`evict`), not every second: the reaper's timer
    // runs while any connection is pooled, so on a server that is used at all (the event feed
    // reads every second) it would otherwise wake the process every second for nothing.
    pool: { max: 10, min: 0, acquire: timeouts.acquireTimeoutMs, idle: 10_000, evict: 10_000 },
  };
}

/** A Sequelize instance on the MySQL server of `target`, with every deadline installed. */
function mysqlSequelize(
  target: Extract<DatabaseTarget, { dialect: 'mysql' }>,
  timeouts: Required<DatabaseTimeouts>,
  extra: Options,
): Sequelize {
  return new Sequelize({ ...mysqlOptions(target, timeouts), ...extra });
}

/** Creates the MySQL database named by the target if it does not exist yet (utf8mb4). */
async function ensureMysqlDatabase(
  target: Extract<DatabaseTarget, { dialect: 'mysql' }>,
  timeouts: Required<DatabaseTimeouts>,
): Promise<void> {
  const admin = mysqlSequelize(target, timeouts, { logging: false });
  try {
    await admin.query(
      `CREATE DATABASE IF NOT EXISTS \`${target.database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
    );
  } finally {
    await admin.close().catch(() => undefined);
  }
}

const FS_REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'not a directory',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'file name too long',
  EISDIR: 'is a directory',
};

/** A file-system error as short text: `permission denied (EACCES)`. */
function fsReason(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && FS_REASONS[code]) return `${FS_REASONS[code]} (${code})`;
  return oneLine(error);
}

/** The first line of an error's message. */
function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0]?.trim() || (error instanceof Error ? error.name : 'unknown error');
}

/** `statSync`, or undefined when nothing is at `path`; other failures are thrown. */
function statIfExists(path: string) {
  try {
    return statSync(path);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Checks the SQLite file's path and creates its folder, one level at a time. Node's recursive
 * `mkdir` loops forever where `mkdir` answers ENOENT under an existing parent (e.g. `/proc/x`),
 * so it is never used here; every problem throws a `DatabaseOpenError` naming the file.
 */
function prepareSqliteFile(file: string): void {
  const fail = (reason: string, cause?: unknown): never => {
    throw new DatabaseOpenError(`cannot open the SQLite database ${file}: ${reason}`, { cause });
  };
  try {
    const stats = statIfExists(file);
    if (stats) {
      if (stats.isDirectory()) fail('it is a directory');
      if (!stats.isFile()) fail('it is not a regular file');
      try {
        accessSync(file, constants.R_OK | constants.W_OK);
      } catch (error) {
        fail(`cannot read and write it: ${fsReason(error)}`, error);
      }
    }
  } catch (error) {
    if (error instanceof DatabaseOpenError) throw error;
    if ((error as { code?: unknown }).code !== 'ENOTDIR') fail(fsReason(error), error);
  }

  const folder = dirname(file);
  const missing: string[] = [];
  let current = folder;
  for (;;) {
    let stats: ReturnType<typeof statIfExists>;
    try {
      stats = statIfExists(current);
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'ENOTDIR') fail(`${current}: ${fsReason(error)}`, error);
      stats = undefined;
    }
    if (stats) {
      if (!stats.isDirectory()) fail(`${current} is not a directory`);
      break;
    }
    missing.unshift(current);
    const parent = dirname(current);
    if (parent === current) fail(`${current} does not exist`);
    current = parent;
  }
  for (const dir of missing) {
    try {
      mkdirSync(dir);
    } catch (error) {
      if ((error as { code?: unknown }).code === 'EEXIST' && statIfExists(dir)?.isDirectory()) continue;
      fail(`cannot create the directory ${dir}: ${fsReason(error)}`, error);
    }
  }
  try {
    accessSync(folder, constants.W_OK | constants.X_OK);
  } catch (error) {
    fail(`the directory ${folder} is not writable: ${fsReason(error)}`, error);
  }
}

/** Opens a SQLite database (file or `:memory:`); path problems fail at once, naming the file. */
async function openSqlite(
  storage: string,
  logging: Options['logging'],
  driver: SqliteDriver,
): Promise<Sequelize> {
  const inMemory = storage === ':memory:';
  if (!inMemory) prepareSqliteFile(storage);
  const sequelize = new Sequelize({
    dialect: 'sqlite',
    // The driver with positional binds, busy handling and the guard (`drivers/sqlite.ts`).
    dialectModule: driver.module,
    storage,
    logging,
    transactionType: 'IMMEDIATE' as Transaction.TYPES,
    // A locked database was already waited for, up to the statement deadline (the busy timeout);
    // Sequelize's default would try a locked statement five times, multiplying the wait.
    retry: { max: 1 },
  });
  try {
    if (!inMemory) await sequelize.query('PRAGMA journal_mode = WAL');
    await sequelize.authenticate();
  } catch (error) {
    await sequelize.close().catch(() => undefined);
    throw new DatabaseOpenError(`cannot open the SQLite database ${storage}: ${oneLine(error)}`, {
      cause: error,
    });
  }
  return sequelize;
}

/** Opens a MySQL database, creating it if missing; failures name the server, password as `***`. */
async function openMysql(
  databaseUrl: string,
  target: Extract<DatabaseTarget, { dialect: 'mysql' }>,
  timeouts: Required<DatabaseTimeouts>,
  logging: Options['logging'],
): Promise<Sequelize> {
  let sequelize: Sequelize | undefined;
  try {
    await ensureMysqlDatabase(target, timeouts);
    sequelize = mysqlSequelize(target, timeouts, { database: target.database, logging });
    await sequelize.authenticate();
    return sequelize;
  } catch (error) {
    await sequelize?.close().catch(() => undefined);
    throw new DatabaseOpenError(`cannot connect to MySQL at ${redactUrl(databaseUrl)}: ${oneLine(error)}`, {
      cause: error,
    });
  }
}

/**
 * The counts of Sequelize's connection pool. Read-only, and the one place HDMS reads past
 * Sequelize's public API: `connectionManager` is a public property, its `pool` (sequelize-pool's
 * `Pool`, whose `size`, `available`, `using` and `waiting` are public getters) is not documented.
 * Pinned by tests/db-drivers.test.ts against the installed Sequelize (6.37): should a release move
 * it, the metrics lose their pool gauges (null here) and that test fails.
 */
function poolStatsOf(sequelize: Sequelize): PoolStats | null {
  const pool = (sequelize.connectionManager as { pool?: Partial<PoolStats> }).pool;
  if (!pool || typeof pool.size !== 'number') return null;
  const { size, available, using, waiting } = pool;
  return { size, available: Number(available), using: Number(using), waiting: Number(waiting) };
}

/**
 * Lets this instance's MySQL queries say `FOR UPDATE SKIP LOCKED` (MySQL 8.0.1+, MariaDB 10.6+):
 * Sequelize v6 knows the clause (`skipLocked: true`) but enables it for PostgreSQL only, and has no
 * option for it. The one write past its public API: an own `supports` of this instance's dialect
 * (the dialect's shared defaults stay as they are). Pinned by tests/db-drivers.test.ts, which
 * checks that the clause reaches the SQL.
 */
function enableSkipLocked(sequelize: Sequelize): void {
  const { dialect } = sequelize as Sequelize & { dialect: { supports: Record<string, unknown> } };
  if (dialect.supports.skipLocked !== true) dialect.supports = { ...dialect.supports, skipLocked: true };
}

/**
 * How many times a MySQL transaction is tried again after a failure that proves it did not commit
 * (so 1 + 5 tries in all), waiting 25 ms before the first retry and twice as long before each next
 * one (up to 800 ms in all, each wait with up to half again of random jitter).
 */
export const TRANSACTION_RETRIES = 5;
const RETRY_BASE_MS = 25;

/** mysql2 codes after which a transaction that did not reach COMMIT can be run again. */
const RETRYABLE_BEFORE_COMMIT: ReadonlySet<string> = new Set([
  // A deadlock, or a Galera certification conflict with another node's commit.
  'ER_LOCK_DEADLOCK',
  // A Galera node that is not (yet, or any more) part of the primary component.
  'ER_UNKNOWN_COM_ERROR',
  // The connection was lost or refused: the server rolled the transaction back, or never saw it.
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'PROTOCOL_ENQUEUE_AFTER_QUIT',
  'ER_CONNECTION_KILLED',
  'ER_SERVER_SHUTDOWN',
]);

/** The driver's error code in `error`'s chain (`parent`, `original`, `cause`), if any. */
function driverCode(error: unknown): string | undefined {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current !== null && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    const e = current as { code?: unknown; parent?: unknown; original?: unknown; cause?: unknown };
    if (
      typeof e.code === 'string' &&
      (RETRYABLE_BEFORE_COMMIT.has(e.code) || /^(ER_|E[A-Z]+$|PROTOCOL_)/.test(e.code))
    )
      return e.code;
    current = e.parent ?? e.original ?? e.cause;
  }
  return undefined;
}

/** Which step of a transaction failed: its statements (BEGIN included) or its COMMIT. */
type FailedStep = 'work' | 'commit';

/**
 * True when a transaction that failed at `step` with `error` certainly did not commit and may be
 * run again: before COMMIT, a deadlock, a certification conflict, a node not ready or a lost
 * connection (the server rolls back what a lost connection left open); at COMMIT, only a deadlock
 * or certification conflict (1213: Galera refused the write set, nothing was applied). A lost
 * connection at COMMIT may have committed: never retried. A timeout is never retried either (the
 * statement deadline already spent the caller's patience).
 */
export function isRetryableTransactionFailure(error: unknown, step: FailedStep): boolean {
  const code = driverCode(error);
  if (code === undefined) return false;
  if (step === 'commit') return code === 'ER_LOCK_DEADLOCK';
  return RETRYABLE_BEFORE_COMMIT.has(code);
}

/** Marks where a transaction failed, for the retry decision. */
class TransactionStepError extends Error {
  constructor(
    readonly step: FailedStep,
    readonly failure: unknown,
  ) {
    super('transaction step failed');
  }
}

/**
 * Runs `work` in one transaction of `sequelize` (one try): committed if it resolves, rolled back if
 * it throws. Its `afterCommit` callbacks are held here and run only once COMMIT has succeeded
 * (Sequelize v6 runs them in a `finally`, after a failed COMMIT too). Failures are wrapped in a
 * `TransactionStepError` naming the step.
 */
async function runOnce<T>(
  sequelize: Sequelize,
  work: (tx: Transaction) => Promise<T>,
  hooks: ((tx: Transaction) => unknown)[],
  options: TransactionOptions,
): Promise<{ value: T; tx: Transaction }> {
  let tx: Transaction;
  try {
    tx = await sequelize.transaction(
      options.readCommitted ? { isolationLevel: Transaction.ISOLATION_LEVELS.READ_COMMITTED } : {},
    );
  } catch (error) {
    throw new TransactionStepError('work', error);
  }
  tx.afterCommit = (hook) => {
    hooks.push(hook);
  };
  let value: T;
  try {
    value = await work(tx);
  } catch (error) {
    await tx.rollback().catch(() => undefined);
    throw new TransactionStepError('work', error);
  }
  try {
    await tx.commit();
  } catch (error) {
    throw new TransactionStepError('commit', error);
  }
  return { value, tx };
}

/**
 * Runs `work` in a transaction, trying it again (up to `retries` times, with backoff) after a
 * failure that proves it did not commit (`isRetryableTransactionFailure`); `afterCommit` callbacks
 * of the one try that committed run after it, those of failed tries never. The last failure is
 * thrown as it came (a deadlock or a node not ready is then `isDatabaseUnavailable`: 503).
 */
export async function runTransaction<T>(
  sequelize: Sequelize,
  work: (tx: Transaction) => Promise<T>,
  retries: number,
  options: TransactionOptions = {},
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const hooks: ((tx: Transaction) => unknown)[] = [];
    try {
      const { value, tx } = await runOnce(sequelize, work, hooks, options);
      for (const hook of hooks) await hook(tx);
      return value;
    } catch (error) {
      if (!(error instanceof TransactionStepError)) throw error;
      if (attempt >= retries || !isRetryableTransactionFailure(error.failure, error.step))
        throw error.failure;
      const wait = RETRY_BASE_MS * 2 ** attempt;
      await new Promise((resolve) => setTimeout(resolve, wait + Math.random() * wait * 0.5));
    }
  }
}

/**
 * Opens the database a `DATABASE_URL` names. It does not migrate: see `migrateToLatest`. On MySQL
 * every connect, pool acquire and statement has a deadline (`options`); a failure for want of the
 * database is an error `isDatabaseUnavailable` recognises, and the pool heals by itself when the
 * server answers again. A database that cannot be opened at all is a `DatabaseOpenError`.
 */
export async function createDatabase(databaseUrl: string, options: DatabaseOptions = {}): Promise<Database> {
  const target = parseDatabaseUrl(databaseUrl);
  const logging = options.logging ?? false;
  const timeouts: Required<DatabaseTimeouts> = {
    connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_TIMEOUTS.connectTimeoutMs,
    acquireTimeoutMs: options.acquireTimeoutMs ?? DEFAULT_TIMEOUTS.acquireTimeoutMs,
    queryTimeoutMs: options.queryTimeoutMs ?? DEFAULT_TIMEOUTS.queryTimeoutMs,
    schemaChangeTimeoutMs: options.schemaChangeTimeoutMs ?? DEFAULT_TIMEOUTS.schemaChangeTimeoutMs,
  };
  let sqlite: SqliteDriver | undefined;
  let sequelize: Sequelize;
  if (target.dialect === 'sqlite') {
    sqlite = sqliteDriver({
      busy: options.sqliteBusy,
      guard: options.sqliteGuard,
      busyTimeoutMs: timeouts.queryTimeoutMs,
    });
    sequelize = await openSqlite(target.storage, logging, sqlite);
  } else if (options.readOnly) {
    sequelize = mysqlSequelize(target, timeouts, { database: target.database, logging });
  } else {
    sequelize = await openMysql(databaseUrl, target, timeouts, logging);
  }
  const models = initModels(sequelize);
  const skipLocked = target.dialect === 'mysql';
  if (skipLocked) enableSkipLocked(sequelize);

  const retries = options.transactionRetries ?? TRANSACTION_RETRIES;
  let queue: Promise<unknown> = Promise.resolve();
  let closing: Promise<void> | undefined;
  const transaction = <T>(
    work: (tx: Transaction) => Promise<T>,
    txOptions: TransactionOptions = {},
  ): Promise<T> => {
    if (options.readOnly) return Promise.reject(new Error('a read replica takes no transaction'));
    if (target.dialect !== 'sqlite') return runTransaction(sequelize, work, retries, txOptions);
    // SQLite has one writer: this process's transactions take turns here, then wait for other
    // processes' locks inside SQLite (the busy timeout, the statement deadline). The wait for a
    // turn is bounded by the same deadline: a transaction still waiting then fails as unavailable
    // (503) and never starts.
    const previous = queue;
    let abandoned = false;
    const run = previous.then(() => {
      if (abandoned) throw timeoutError('gave up waiting for the write lock');
      // SQLite is not retried: its one writer sees no deadlock, and a locked file was waited for.
      return runTransaction(sequelize, work, 0);
    });
    queue = run.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        abandoned = true;
        reject(
          new ConnectionTimedOutError(
            timeoutError(`the database stayed locked for ${timeouts.queryTimeoutMs} ms`),
          ),
        );
      }, timeouts.queryTimeoutMs);
      timer.unref();
    });
    void previous.then(() => clearTimeout(timer));
    return Promise.race([run, deadline]);
  };

  const database: Database = {
    get base() {
      return database;
    },
    sequelize,
    models,
    dialect: target.dialect,
    transaction,
    async ping(timeoutMs = PING_TIMEOUT_MS) {
      const answer = sequelize.query('SELECT 1');
      // When the deadline wins, the query may still fail later: that is no one's business.
      answer.catch(() => undefined);
      await withDeadline(
        answer,
        timeoutMs,
        () => new ConnectionTimedOutError(timeoutError(`the database did not answer within ${timeoutMs} ms`)),
      );
    },
    poolStats: () => (target.dialect === 'mysql' ? poolStatsOf(sequelize) : null),
    skipLocked,
    recordsPositions: target.dialect === 'mysql' && options.recordPositions === true,
    setSqliteBusy(mode) {
      sqlite?.setBusy(mode);
    },
    watchCommits: (onChange) =>
      target.dialect === 'sqlite' ? watchSqliteFile(target.storage, onChange) : null,
    close() {
      closing ??= queue.then(async () => {
        try {
          await sequelize.close();
        } catch (error) {
          // Closed already (e.g. by a test or a second shutdown signal): nothing left to close.
          if (!/closed/i.test((error as Error).message)) throw error;
        }
      });
      return closing;
    },
  };
  return database;
}
