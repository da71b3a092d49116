import { Op } from 'sequelize';
import type { Database } from '../connection';
import type { Role } from '../models/User';
import { toDate } from '../plain';
import type { WriteOptions } from './tx';
import { latestOf } from '../positions';
import { selectRows } from '../sql';
import { SCOPE_OWNER } from './positions';

/**
 * Sign-in sessions (`sessions`). A session's `id` is the SHA-256 hex digest of its token: callers
 * hash the token; nothing here sees it.
 */

/** A session as stored. */
export interface SessionRow {
  /** The SHA-256 hex digest of the session token. */
  id: string;
  userId: number;
  expiresAt: Date;
  createdAt: Date;
}

/** The account fields every request's actor carries: read with the session, in one statement. */
export const SESSION_USER_FIELDS = [
  'role',
  'username',
  'email',
  'doctorId',
  'patientId',
  'mfaEnabled',
] as const;

/** The account of a session as a request needs it (never the password hash). */
export interface SessionUserRow {
  id: number;
  role: Role;
  username: string;
  email: string;
  doctorId: number | null;
  patientId: number | null;
  /** Whether the account signs in with a confirmed second factor (MFA). */
  mfaEnabled: boolean;
  disabledAt: Date | null;
}

/** A session and its account: `user` null when the account no longer exists. */
export interface SessionWithUser {
  session: Omit<SessionRow, 'id'>;
  user: SessionUserRow | null;
  /**
   * With `positions`: the position the account's reads on a replica must wait for (its last
   * commit's and the last assignment change's, `positionsRepo`); null when there is none.
   */
  readAfter: string | null;
}

/** One row of `SESSION_AND_USER` (the user's columns null if the account is gone). */
interface JoinedRow {
  userId: number;
  expiresAt: Date | string;
  createdAt: Date | string;
  id: number | null;
  disabledAt: Date | string | null;
  role: Role | null;
  username: string | null;
  email: string | null;
  doctorId: number | null;
  patientId: number | null;
  mfaEnabledAt: Date | string | null;
  ownPosition?: string | null;
  scopePosition?: string | null;
}

/**
 * The session by its token's hash, and the fields of its user a request needs (never the password
 * hash), with whether the user's second factor is on (read on every request, so that a change
 * applies to open sessions at once).
 */
const SESSION_AND_USER =
  'SELECT s.user_id AS userId, s.expires_at AS expiresAt, s.created_at AS createdAt, u.id AS id, ' +
  'u.disabled_at AS disabledAt, u.role AS role, u.username AS username, u.email AS email, ' +
  'u.doctor_id AS doctorId, u.patient_id AS patientId, f.enabled_at AS mfaEnabledAt ' +
  'FROM sessions s LEFT JOIN users u ON u.id = s.user_id ' +
  'LEFT JOIN mfa_factors f ON f.user_id = s.user_id WHERE s.id = ?';

/**
 * The same, with the commit positions read-your-writes waits for (two primary-key joins on
 * `commit_positions`): the account's own and the scope facts' (`SCOPE_OWNER`, 0).
 */
const SESSION_USER_AND_POSITIONS = SESSION_AND_USER.replace(
  ' FROM sessions s ',
  ', pa.position AS ownPosition, ps.position AS scopePosition FROM sessions s ',
).replace(
  ' WHERE s.id = ?',
  ' LEFT JOIN commit_positions pa ON pa.owner_id = s.user_id' +
    ` LEFT JOIN commit_positions ps ON ps.owner_id = ${SCOPE_OWNER} WHERE s.id = ?`,
);

/**
 * The session whose id is `id` (the token's hash) and its account, in one written-out statement
 * that builds no model instance: every request runs it. Null when there is no such session.
 */
export async function findWithUser(
  db: Database,
  id: string,
  options: { positions?: boolean } = {},
): Promise<SessionWithUser | null> {
  const [row] = await selectRows<JoinedRow>(
    db,
    options.positions ? SESSION_USER_AND_POSITIONS : SESSION_AND_USER,
    [id],
  );
  if (!row) return null;
  const session = {
    userId: row.userId,
    expiresAt: toDate(row.expiresAt) as Date,
    createdAt: toDate(row.createdAt) as Date,
  };
  const readAfter = options.positions ? latestOf([row.ownPosition, row.scopePosition]) : null;
  if (row.id === null) return { session, user: null, readAfter };
  return {
    session,
    readAfter,
    user: {
      id: row.id,
      role: row.role as Role,
      username: row.username as string,
      email: row.email as string,
      doctorId: row.doctorId ?? null,
      patientId: row.patientId ?? null,
      mfaEnabled: row.mfaEnabledAt !== null && row.mfaEnabledAt !== undefined,
      disabledAt: row.disabledAt === null ? null : (toDate(row.disabledAt) as Date),
    },
  };
}

/** Every session of an account. */
export async function listByUser(db: Database, userId: number): Promise<SessionRow[]> {
  const rows = await db.models.Session.findAll({ where: { userId } });
  return rows.map((row) => ({
    id: row.id,
    userId: row.userId,
    expiresAt: row.expiresAt,
    createdAt: row.createdAt,
  }));
}

/** Stores a new session. */
export async function insert(db: Database, row: SessionRow, options: WriteOptions = {}): Promise<void> {
  await db.models.Session.create(row, { transaction: options.tx });
}

/** Moves a session's idle deadline. */
export async function setExpiry(db: Database, id: string, expiresAt: Date): Promise<void> {
  await db.models.Session.update({ expiresAt }, { where: { id } });
}

/** Deletes one session. */
export async function deleteById(db: Database, id: string): Promise<void> {
  await db.models.Session.destroy({ where: { id } });
}

/** Deletes every session of an account (password change or reset, disabled account). */
export async function deleteByUser(db: Database, userId: number, options: WriteOptions = {}): Promise<void> {
  await db.models.Session.destroy({ where: { userId }, transaction: options.tx });
}

/**
 * Deletes every session of an account but the one whose id is `keepId` (the caller's own, when an
 * account's security changes from one of its sessions).
 */
export async function deleteByUserExcept(
  db: Database,
  userId: number,
  keepId: string | null,
  options: WriteOptions = {},
): Promise<void> {
  await db.models.Session.destroy({
    where: keepId === null ? { userId } : { userId, id: { [Op.ne]: keepId } },
    transaction: options.tx,
  });
}

/**
 * Deletes sessions whose idle deadline is at or before `now`, and, given `createdBefore`, those
 * begun at or before it (past their absolute lifetime). How many were deleted.
 */
export function deleteExpired(
  db: Database,
  limits: { now: Date; createdBefore?: Date },
  options: WriteOptions = {},
): Promise<number> {
  const expired = { expiresAt: { [Op.lte]: limits.now } };
  return db.models.Session.destroy({
    where: limits.createdBefore
      ? { [Op.or]: [expired, { createdAt: { [Op.lte]: limits.createdBefore } }] }
      : expired,
    transaction: options.tx,
  });
}
