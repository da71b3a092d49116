/** @hdms/db: the connection factory, models and migrations of HDMS. */
export {
  createDatabase,
  parseDatabaseUrl,
  isDatabaseUnavailable,
  isRetryableTransactionFailure,
  TRANSACTION_RETRIES,
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
export { type DatabaseFailure, databaseFailureOf } from './failures';
export type { SqliteBusyMode, SqliteCallGuard } from './drivers/sqlite';
export { type CommitWatch, watchSqliteFile } from './drivers/sqliteWatch';
export { appliedMigrations, createMigrator, migrateToLatest, migrateDown } from './migrator';
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
// Repositories: every query of the server goes through one of these (see docs/architecture.md).
export { type PatientScope, NO_PATIENTS, patientInScope, reachesNoPatient } from './repositories/scope';
export type { Lock, Tx } from './repositories/tx';
export type { PageRequest } from './repositories/page';
export * as patientsRepo from './repositories/patients';
export * as doctorsRepo from './repositories/doctors';
export * as checkHistoryRepo from './repositories/checkHistory';
export * as notesRepo from './repositories/notes';
export type { NewPatient, PatientColumn, PatientRow, RevisionRow } from './repositories/patients';
export type { DoctorRow, NewDoctor } from './repositories/doctors';
export type { CheckRow } from './repositories/checkHistory';
export type { NoteRow } from './repositories/notes';
export * as auditRepo from './repositories/audit';
export * as eventsRepo from './repositories/events';
export * as jobsRepo from './repositories/jobs';
export * as jobFilesRepo from './repositories/jobFiles';
export * as usersRepo from './repositories/users';
export * as sessionsRepo from './repositories/sessions';
export * as serviceTokensRepo from './repositories/serviceTokens';
export * as throttleRepo from './repositories/throttle';
export * as accessRepo from './repositories/access';
export * as consentsRepo from './repositories/consents';
export * as emergencyRepo from './repositories/emergencyAccess';
export * as mfaRepo from './repositories/mfa';
export * as positionsRepo from './repositories/positions';
export { covers, isPositionText, latestOf, parsePosition, type Position } from './positions';
export {
  DEFAULT_WAIT_MS,
  PRIMARY,
  PRIMARY_SAMPLE_MS,
  type ReadChoice,
  type ReadReplicaOptions,
  ReadReplicas,
  REPLICA_RETRY_MS,
} from './replicas';
