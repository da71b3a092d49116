import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Sequelize, type Transaction } from 'sequelize';
import { initModels, type Models } from './models/index';

/** Where the data lives, parsed from a `DATABASE_URL`. */
export type DatabaseTarget =
  | { dialect: 'sqlite'; storage: string }
  | { dialect: 'mysql'; url: URL; database: string };

/** Thrown for a `DATABASE_URL` that names no database we can open. */
export class DatabaseUrlError extends Error {}

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
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>;
  /** Closes every connection, once; later calls wait for the same close. */
  close(): Promise<void>;
}

interface SqliteConnection {
  configure(option: 'busyTimeout', value: number): void;
}

const SQLITE_BUSY_TIMEOUT_MS = 10_000;

function mysqlOptions(target: Extract<DatabaseTarget, { dialect: 'mysql' }>) {
  return {
    dialect: 'mysql' as const,
    host: target.url.hostname,
    port: target.url.port ? Number(target.url.port) : 3306,
    username: decodeURIComponent(target.url.username),
    password: decodeURIComponent(target.url.password),
    timezone: '+00:00',
    dialectOptions: { charset: 'utf8mb4', connectTimeout: 5_000 },
    define: { charset: 'utf8mb4', collate: 'utf8mb4_unicode_ci' },
    pool: { max: 10, min: 0, acquire: 10_000, idle: 10_000 },
  };
}

/** Creates the MySQL database named by the target if it does not exist yet (utf8mb4). */
async function ensureMysqlDatabase(target: Extract<DatabaseTarget, { dialect: 'mysql' }>): Promise<void> {
  const admin = new Sequelize({ ...mysqlOptions(target), logging: false });
  try {
    await admin.query(
      `CREATE DATABASE IF NOT EXISTS \`${target.database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
    );
  } finally {
    await admin.close();
  }
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

/** Opens the database a `DATABASE_URL` names. It does not migrate: see `migrateToLatest`. */
export async function createDatabase(
  databaseUrl: string,
  options: { logging?: (sql: string) => void } = {},
): Promise<Database> {
  const target = parseDatabaseUrl(databaseUrl);
  const logging = options.logging ?? false;
  let sequelize: Sequelize;
  if (target.dialect === 'sqlite') {
    if (target.storage !== ':memory:') mkdirSync(dirname(target.storage), { recursive: true });
    sequelize = new Sequelize({
      dialect: 'sqlite',
      storage: target.storage,
      logging,
      transactionType: 'IMMEDIATE' as Transaction.TYPES,
    });
    configureSqliteConnections(sequelize);
    if (target.storage !== ':memory:') await sequelize.query('PRAGMA journal_mode = WAL');
  } else {
    await ensureMysqlDatabase(target);
    sequelize = new Sequelize({ ...mysqlOptions(target), database: target.database, logging });
  }
  await sequelize.authenticate();
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
    async ping() {
      await sequelize.query('SELECT 1');
    },
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
}
