import { type Attributes, Op, type WhereOptions } from 'sequelize';
import type { Database } from '../connection';
import type { Role, User } from '../models/User';
import { findPlain, toDate } from '../plain';
import { selectRows } from '../sql';
import { containsText } from './search';
import { type PageRequest, readOne, readPage } from './page';
import type { ReadOptions, WriteOptions } from './tx';

/** Sign-in accounts (`users`). Every function answers plain rows, never model instances. */

/** An account as stored, password hash included (views pick their fields). */
export interface UserRow {
  id: number;
  role: Role;
  username: string;
  /** The lower-cased username (case-insensitive uniqueness). */
  usernameKey: string;
  email: string;
  passwordHash: string;
  doctorId: number | null;
  patientId: number | null;
  disabledAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

/** The fields of an account that may change after it is created. */
export type UserChanges = Partial<Pick<UserRow, 'passwordHash' | 'doctorId' | 'patientId' | 'disabledAt'>>;

/** The account fields a job's actor is rebuilt from (never the password hash), and whether its MFA is on. */
export type UserProfile = Pick<
  UserRow,
  'id' | 'role' | 'username' | 'email' | 'doctorId' | 'patientId' | 'disabledAt'
> & { mfaEnabled: boolean };

/** A stored row as a `UserRow` (attributes an instance never set are null). */
function toRow(values: Attributes<User>): UserRow {
  return {
    ...values,
    doctorId: values.doctorId ?? null,
    patientId: values.patientId ?? null,
    disabledAt: values.disabledAt ?? null,
  } as UserRow;
}

/** The first account matching `where`, or null. */
async function findOne(
  db: Database,
  where: WhereOptions<Attributes<User>>,
  options: ReadOptions,
): Promise<UserRow | null> {
  const row = await readOne(db.models.User, where, options);
  return row ? toRow(row) : null;
}

/** The account with this id, or null. */
export function findById(db: Database, id: number, options: ReadOptions = {}): Promise<UserRow | null> {
  return findOne(db, { id }, options);
}

/** The account whose lower-cased username is `usernameKey`, or null. */
export function findByUsernameKey(
  db: Database,
  usernameKey: string,
  options: ReadOptions = {},
): Promise<UserRow | null> {
  return findOne(db, { usernameKey }, options);
}

/** The account with this (lower-cased) email, or null. */
export function findByEmail(db: Database, email: string, options: ReadOptions = {}): Promise<UserRow | null> {
  return findOne(db, { email }, options);
}

/** Some account with `role`, or null (e.g. whether any admin exists). */
export function findAnyWithRole(
  db: Database,
  role: Role,
  options: ReadOptions = {},
): Promise<UserRow | null> {
  return findOne(db, { role }, options);
}

/** The account linked to this Doctor (`doctorId`) or Patient (`patientId`) record, or null. */
export async function findLinkHolder(
  db: Database,
  link: { doctorId: number } | { patientId: number },
  options: ReadOptions = {},
): Promise<{ id: number } | null> {
  const [row] = await findPlain(db.models.User, {
    where: link,
    attributes: ['id'],
    limit: 1,
    transaction: options.tx,
  });
  return row ? { id: row.id } : null;
}

/** `findProfile`'s statement: the account and whether its second factor is on, in one read. */
const PROFILE =
  'SELECT u.id AS id, u.role AS role, u.username AS username, u.email AS email, ' +
  'u.doctor_id AS doctorId, u.patient_id AS patientId, u.disabled_at AS disabledAt, ' +
  'f.enabled_at AS mfaEnabledAt FROM users u LEFT JOIN mfa_factors f ON f.user_id = u.id WHERE u.id = ?';

/** The fields of account `id` a job's actor needs, or null when it no longer exists (one statement). */
export async function findProfile(
  db: Database,
  id: number,
  options: ReadOptions = {},
): Promise<UserProfile | null> {
  const [row] = await selectRows<
    Omit<UserProfile, 'mfaEnabled' | 'disabledAt'> & {
      disabledAt: Date | string | null;
      mfaEnabledAt: Date | string | null;
    }
  >(db, PROFILE, [id], options.tx);
  if (!row) return null;
  return {
    id: Number(row.id),
    role: row.role,
    username: row.username,
    email: row.email,
    doctorId: row.doctorId ?? null,
    patientId: row.patientId ?? null,
    disabledAt:
      row.disabledAt === null || row.disabledAt === undefined ? null : (toDate(row.disabledAt) as Date),
    mfaEnabled: row.mfaEnabledAt !== null && row.mfaEnabledAt !== undefined,
  };
}

/** Which of these accounts have their second factor (MFA) on (one statement). */
export async function mfaEnabledAmong(
  db: Database,
  ids: readonly number[],
  options: ReadOptions = {},
): Promise<Set<number>> {
  if (ids.length === 0) return new Set();
  const rows = await findPlain(db.models.MfaFactor, {
    where: { userId: [...ids], enabledAt: { [Op.ne]: null } },
    attributes: ['userId'],
    transaction: options.tx,
  });
  return new Set(rows.map((row) => row.userId));
}

/** The id and username of each of these accounts that exists (one statement). */
export async function findUsernames(
  db: Database,
  ids: readonly number[],
): Promise<{ id: number; username: string }[]> {
  if (ids.length === 0) return [];
  const rows = await findPlain(db.models.User, {
    where: { id: [...ids] },
    attributes: ['id', 'username'],
  });
  return rows.map((row) => ({ id: row.id, username: row.username }));
}

/** Whether the Doctor or Patient record an account would be linked to exists. */
export async function linkTargetExists(
  db: Database,
  target: { kind: 'doctor' | 'patient'; id: number },
  options: ReadOptions = {},
): Promise<boolean> {
  const model = target.kind === 'doctor' ? db.models.Doctor : db.models.Patient;
  const [row] = await findPlain(model as typeof db.models.Doctor, {
    where: { id: target.id },
    attributes: ['id'],
    limit: 1,
    transaction: options.tx,
  });
  return row !== undefined;
}

/**
 * Inserts an account; the stored row. A username key or email already taken fails as the
 * database reports it (`databaseFailureOf(error) === 'duplicate'`).
 */
export async function insert(
  db: Database,
  values: Pick<UserRow, 'role' | 'username' | 'usernameKey' | 'email' | 'passwordHash'>,
  options: WriteOptions = {},
): Promise<UserRow> {
  const created = await db.models.User.create(values, { transaction: options.tx });
  return toRow(created.get({ plain: true }));
}

/** Changes account `id` (its `updatedAt` too). */
export async function update(
  db: Database,
  id: number,
  changes: UserChanges,
  options: WriteOptions = {},
): Promise<void> {
  await db.models.User.update(changes, { where: { id }, transaction: options.tx });
}

/**
 * A keyset page of accounts by id (`limit + 1` rows: see `readPage`), optionally of one role and
 * matching `search` in username or email.
 */
export async function listPage(
  db: Database,
  page: PageRequest,
  filter: { role?: Role; search?: string },
): Promise<UserRow[]> {
  const conditions: WhereOptions[] = [];
  if (filter.role) conditions.push({ role: filter.role });
  if (filter.search) conditions.push(containsText(['username', 'email'], filter.search));
  return (await readPage(db.models.User, page, conditions)).map(toRow);
}
