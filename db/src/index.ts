/** @hdms/db: the connection factory, models and migrations of HDMS. */
export {
  createDatabase,
  parseDatabaseUrl,
  DatabaseUrlError,
  type Database,
  type DatabaseTarget,
} from './connection';
export { createMigrator, migrateToLatest, migrateDown } from './migrator';
export { migrations, type Migration } from './migrations/index';
export * from './models/index';
export type { Transaction } from 'sequelize';
export {
  Op,
  UniqueConstraintError,
  ValidationError as SequelizeValidationError,
  ConnectionError,
} from 'sequelize';
