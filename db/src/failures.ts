import { ForeignKeyConstraintError, UniqueConstraintError, ValidationError } from 'sequelize';
import { isDatabaseUnavailable } from './connection';

/** What a failed database call means for its caller, in words that name no driver or ORM class. */
export type DatabaseFailure = 'unavailable' | 'duplicate' | 'reference' | 'invalid';

/**
 * Classifies an error thrown by a database call: `unavailable` (unreachable, stalled, locked),
 * `duplicate` (a unique key), `reference` (a foreign key names no row), `invalid` (a model
 * validation); null for anything else (a fault of ours). Server code maps these to the contract's
 * errors without importing Sequelize.
 */
export function databaseFailureOf(error: unknown): DatabaseFailure | null {
  if (isDatabaseUnavailable(error)) return 'unavailable';
  if (error instanceof UniqueConstraintError) return 'duplicate';
  if (error instanceof ForeignKeyConstraintError) return 'reference';
  if (error instanceof ValidationError) return 'invalid';
  return null;
}
