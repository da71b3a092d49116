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
} from './connection';
export { type DatabaseFailure, databaseFailureOf } from './failures';
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
export * as usersRepo from './repositories/users';
export * as sessionsRepo from './repositories/sessions';
export * as serviceTokensRepo from './repositories/serviceTokens';
export * as throttleRepo from './repositories/throttle';
