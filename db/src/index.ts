/** @hdms/db: the connection factory, models and migrations of HDMS. */
export {
  createDatabase,
  parseDatabaseUrl,
  isDatabaseUnavailable,
  redactUrl,
  urlPassword,
  DatabaseUrlError,
  DatabaseOpenError,
  type Database,
  type DatabaseOptions,
  type DatabaseTarget,
  type DatabaseTimeouts,
  type PoolStats,
} from './connection';
export type { SqliteBusyMode, SqliteCallGuard } from './drivers/sqlite';
export { createMigrator, migrateToLatest, migrateDown } from './migrator';
export { migrations, type Migration } from './migrations/index';
export * from './models/index';
export { findPlain, insertPlain, toDate } from './plain';
export { insertRows, selectRows, type SqlTarget } from './sql';
export type { Transaction } from 'sequelize';
export {
  Op,
  UniqueConstraintError,
  ValidationError as SequelizeValidationError,
  ConnectionError,
} from 'sequelize';
