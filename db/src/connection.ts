import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import {
  ConnectionError,
  ConnectionTimedOutError,
  type Options,
  Sequelize,
  TimeoutError,
  type Transaction,
} from 'sequelize';
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
}

const DEFAULT_TIMEOUTS: Required<DatabaseTimeouts> = {
  connectTimeoutMs: 5_000,
  acquireTimeoutMs: 5_000,
  queryTimeoutMs: 10_000,
  schemaChangeTimeoutMs: 30 * 60_000,
};

/** Statements that change tables (not whole databases): they get `schemaChangeTimeoutMs`. */
const SCHEMA_CHANGE = /^\s*(ALTER|CREATE|DROP|RENAME|TRUNCATE|OPTIMIZE)\s+(?!DATABASE\b|SCHEMA\b)/i;

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
   * the same commit. On SQLite, transactions are serialised in-process (SQLite has one writer).
   */
  transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T>;
  /**
   * Resolves when the database answers a trivial query within `timeoutMs` (default 1,500 ms);
   * otherwise rejects with an error `isDatabaseUnavailable` recognises, even when every pooled
   * connection is busy or stalled.
   */
  ping(timeoutMs?: number): Promise<void>;
  /** Closes every connection, once; later calls wait for the same close. */
  close(): Promise<void>;
}

interface SqliteConnection {
  configure(option: 'busyTimeout', value: number): void;
}

const SQLITE_BUSY_TIMEOUT_MS = 10_000;

/** An error carrying a code that `isDatabaseUnavailable` and Sequelize's error mapping know. */
function timeoutError(message: string): Error & { code: string; errno: string; fatal: boolean } {
  return Object.assign(new Error(message), { code: 'ETIMEDOUT', errno: 'ETIMEDOUT', fatal: true });
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

/** The parts of a mysql2 connection the deadlines below rely on. */
interface MysqlDriverConnection {
  query(...args: unknown[]): unknown;
  execute(...args: unknown[]): unknown;
  end(callback: (error?: Error | null) => void): unknown;
  destroy(): void;
  stream: { destroyed: boolean; destroy(error?: Error): void };
  _command?: unknown;
  _closing?: boolean;
  _fatalError?: Error | null;
  _protocolError?: Error | null;
}

/** The parts of Sequelize's MySQL connection manager the deadlines below replace. */
interface MysqlConnectionManager {
  lib: { createConnection(config: unknown): MysqlDriverConnection };
  /** sequelize-pool's pool: `_factory.create` opens a connection for the waiting acquires. */
  pool: { _factory: { create(): Promise<unknown> }; _pendingAcquires: unknown[] };
  connect(config: unknown): Promise<MysqlDriverConnection>;
  disconnect(connection: MysqlDriverConnection): Promise<void>;
}

type QueryClass = new (
  ...args: unknown[]
) => {
  formatError(error: Error, stack?: string): Error;
};

/**
 * Gives every statement on `connection` (Sequelize's queries and prepared statements, and its
 * `SET time_zone` at connect) a deadline: `queryTimeoutMs`, or `schemaChangeTimeoutMs` for DDL.
 * mysql2's own `timeout` leaves the timed-out command waiting on the socket, so the next statement
 * on that connection would queue behind it; here the socket is destroyed instead: the statement
 * fails at once, the connection is marked fatal and the pool's `validate` evicts it, and later
 * statements get fresh connections.
 */
function guardStatements(
  connection: MysqlDriverConnection,
  timeouts: Required<DatabaseTimeouts>,
): MysqlDriverConnection {
  for (const method of ['query', 'execute'] as const) {
    const original = connection[method];
    connection[method] = (...args: unknown[]) => {
      const last = args.length - 1;
      const callback = args[last];
      if (typeof callback !== 'function') return original.apply(connection, args);
      const first = args[0];
      const sql = typeof first === 'string' ? first : (first as { sql?: unknown } | null)?.sql;
      const timeoutMs =
        typeof sql === 'string' && SCHEMA_CHANGE.test(sql)
          ? timeouts.schemaChangeTimeoutMs
          : timeouts.queryTimeoutMs;
      let settled = false;
      const settle = (...results: unknown[]) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        callback(...results);
      };
      const timer = setTimeout(() => {
        const error = timeoutError(`the database did not answer within ${timeoutMs} ms`);
        connection.stream.destroy(error);
        // mysql2 reports the destroyed socket to the command; this covers a socket closed already.
        setImmediate(() => settle(error));
      }, timeoutMs);
      timer.unref();
      args[last] = settle;
      try {
        return original.apply(connection, args);
      } catch (error) {
        settled = true;
        clearTimeout(timer);
        throw error;
      }
    };
  }
  return connection;
}

/**
 * Installs the MySQL deadlines on one Sequelize instance: statement deadlines on every connection,
 * a hard deadline on opening one, a bounded disconnect (a stalled server never answers QUIT), and
 * lost or timed-out connections reported as Sequelize `ConnectionError`s.
 */
function installMysqlDeadlines(sequelize: Sequelize, timeouts: Required<DatabaseTimeouts>): void {
  const manager = sequelize.connectionManager as unknown as MysqlConnectionManager;
  const lib = manager.lib;
  manager.lib = Object.assign(Object.create(lib) as typeof lib, {
    createConnection: (config: unknown) => guardStatements(lib.createConnection(config), timeouts),
  });

  const connect = manager.connect.bind(manager);
  manager.connect = (config) => {
    let timedOut = false;
    const attempt = connect(config);
    // A connection that arrives after its deadline is nobody's: close it.
    attempt.then(
      (connection) => {
        if (timedOut) connection.stream.destroy();
      },
      () => undefined,
    );
    return withDeadline(attempt, timeouts.connectTimeoutMs, () => {
      timedOut = true;
      return new ConnectionTimedOutError(
        timeoutError(`connect ETIMEDOUT (no answer within ${timeouts.connectTimeoutMs} ms)`),
      );
    });
  };

  // sequelize-pool hands a failed connect to whichever acquire waits first, even one that came
  // after the connect started: a connect that timed out during an outage would fail a request made
  // after the database came back. Such a request gets a connect attempt of its own instead.
  const pool = manager.pool;
  const create = pool._factory.create;
  pool._factory.create = async () => {
    for (;;) {
      const waiting = new Set(pool._pendingAcquires);
      try {
        return await create();
      } catch (error) {
        const next = pool._pendingAcquires[0];
        if (next === undefined || waiting.has(next)) throw error;
      }
    }
  };

  const disconnect = manager.disconnect.bind(manager);
  manager.disconnect = async (connection) => {
    const broken =
      connection._fatalError ||
      connection._protocolError ||
      connection.stream.destroyed ||
      connection._command;
    if (broken) {
      connection.stream.destroy();
      return;
    }
    try {
      await withDeadline(disconnect(connection), 1_000, () => timeoutError('QUIT was not answered'));
    } catch {
      connection.stream.destroy();
    }
  };

  const { dialect } = sequelize as unknown as { dialect: { Query: QueryClass } };
  const BaseQuery = dialect.Query;
  dialect.Query = class DeadlineQuery extends BaseQuery {
    override formatError(error: Error, stack?: string): Error {
      if (!isDatabaseUnavailable(error)) return super.formatError(error, stack);
      const code = (error as { code?: unknown }).code;
      const wrapped = code === 'ETIMEDOUT' ? new ConnectionTimedOutError(error) : new ConnectionError(error);
      if (stack) wrapped.stack = stack;
      return wrapped;
    }
  };
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
    dialectOptions: { charset: 'utf8mb4', connectTimeout: timeouts.connectTimeoutMs },
    define: { charset: 'utf8mb4', collate: 'utf8mb4_unicode_ci' },
    // `validate` stays Sequelize's: a connection whose socket failed or timed out is evicted.
    pool: { max: 10, min: 0, acquire: timeouts.acquireTimeoutMs, idle: 10_000, evict: 1_000 },
  };
}

/** A Sequelize instance on the MySQL server of `target`, with every deadline installed. */
function mysqlSequelize(
  target: Extract<DatabaseTarget, { dialect: 'mysql' }>,
  timeouts: Required<DatabaseTimeouts>,
  extra: Options,
): Sequelize {
  const sequelize = new Sequelize({ ...mysqlOptions(target, timeouts), ...extra });
  installMysqlDeadlines(sequelize, timeouts);
  installDatetimeParser(sequelize);
  return sequelize;
}

interface TypeCastField {
  type: string;
}

/**
 * DATETIME values read by mysql2 itself. Sequelize's parser looks the connection's time zone up
 * in moment-timezone for every value; ours is always UTC (`timezone: '+00:00'`, which mysql2 is
 * given too), so mysql2's own conversion reads the same Date. Every other type is still Sequelize's.
 */
function installDatetimeParser(sequelize: Sequelize): void {
  const manager = sequelize.connectionManager as unknown as {
    constructor: { _typecast: Function };
    // The connection manager's own copy of the configuration, which it connects with.
    config: { dialectOptions?: Record<string, unknown> };
  };
  const sequelizeCast = manager.constructor._typecast.bind(manager) as (
    field: TypeCastField,
    next: () => unknown,
  ) => unknown;
  const config = manager.config;
  config.dialectOptions = {
    ...config.dialectOptions,
    typeCast(field: TypeCastField, next: () => unknown) {
      return field.type === 'DATETIME' || field.type === 'TIMESTAMP' ? next() : sequelizeCast(field, next);
    },
  };
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

/**
 * Bound values handed to SQLite by position. Sequelize writes `$1`, `$2`, … and hands the values
 * over as an object keyed by those names; SQLite looks every named parameter up among the ones
 * before it while preparing, and the driver binds each name the same way: quadratic, a second for
 * a multi-row INSERT of a few thousand values. Statements written with anonymous `?` placeholders
 * (`db/src/sql.ts`) get their values as an array, bound by position. Sequelize's own statements
 * keep its way.
 */
function bindSqliteValuesByPosition(sequelize: Sequelize): void {
  type Format = (sql: string, values: unknown, dialect: string) => [string, unknown];
  const dialect = (sequelize as unknown as { dialect: { Query: { formatBindParameters: Format } } }).dialect;
  const BaseQuery = dialect.Query as unknown as (new (
    ...args: never[]
  ) => object) & { formatBindParameters: Format };
  dialect.Query = class PositionalQuery extends BaseQuery {
    static override formatBindParameters(
      sql: string,
      values: unknown,
      dialectName: string,
    ): [string, unknown] {
      if (Array.isArray(values) && !/\$\w/.test(sql)) return [sql, values];
      return BaseQuery.formatBindParameters(sql, values, dialectName);
    }
  } as unknown as typeof dialect.Query;
}

/** Makes every new SQLite connection wait for a lock instead of failing with SQLITE_BUSY. */
function configureSqliteConnections(sequelize: Sequelize): void {
  const manager = sequelize.connectionManager as unknown as {
    getConnection(options?: unknown): Promise<SqliteConnection>;
  };
  const getConnection = manager.getConnection.bind(manager);
  const configured = new WeakSet<SqliteConnection>();
  manager.getConnection = async (options) => {
    const connection = await getConnection(options);
    if (!configured.has(connection)) {
      connection.configure('busyTimeout', SQLITE_BUSY_TIMEOUT_MS);
      configured.add(connection);
    }
    return connection;
  };
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

/**
 * Forgets SQLite handles that failed to open: Sequelize keeps them, and closing one never calls
 * back, so `sequelize.close()` would wait forever.
 */
function dropFailedSqliteHandles(sequelize: Sequelize): void {
  const manager = sequelize.connectionManager as unknown as {
    connections?: Record<string, { open?: boolean }>;
  };
  const connections = manager.connections ?? {};
  for (const [key, connection] of Object.entries(connections)) {
    if (connection.open === false) delete connections[key];
  }
}

/** Opens a SQLite database (file or `:memory:`); path problems fail at once, naming the file. */
async function openSqlite(storage: string, logging: Options['logging']): Promise<Sequelize> {
  const inMemory = storage === ':memory:';
  if (!inMemory) prepareSqliteFile(storage);
  const sequelize = new Sequelize({
    dialect: 'sqlite',
    storage,
    logging,
    transactionType: 'IMMEDIATE' as Transaction.TYPES,
  });
  configureSqliteConnections(sequelize);
  bindSqliteValuesByPosition(sequelize);
  try {
    if (!inMemory) await sequelize.query('PRAGMA journal_mode = WAL');
    await sequelize.authenticate();
  } catch (error) {
    dropFailedSqliteHandles(sequelize);
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
  const sequelize =
    target.dialect === 'sqlite'
      ? await openSqlite(target.storage, logging)
      : await openMysql(databaseUrl, target, timeouts, logging);
  const models = initModels(sequelize);

  let queue: Promise<unknown> = Promise.resolve();
  let closing: Promise<void> | undefined;
  const transaction = <T>(work: (tx: Transaction) => Promise<T>): Promise<T> => {
    if (target.dialect !== 'sqlite') return sequelize.transaction(work);
    const run = queue.then(() => sequelize.transaction(work));
    queue = run.catch(() => undefined);
    return run;
  };

  return {
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
    close() {
      closing ??= queue.then(async () => {
        if (target.dialect === 'sqlite') dropFailedSqliteHandles(sequelize);
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
}
