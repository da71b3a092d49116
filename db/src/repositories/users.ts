import { type Attributes, Op, type Transaction, type WhereOptions } from 'sequelize';
import type { Database } from '../connection';
import type { Role, User } from '../models/User';
import { findPlain } from '../plain';
import { containsText } from './search';

/** Sign-in accounts (`users`). Every function answers plain rows, never model instances. */

/** Options of a read: inside the caller's transaction, optionally locking the rows read. */
export interface ReadOptions {
  tx?: Transaction;
  lock?: 'update' | 'share';
}

/** Options of a write that joins the caller's transaction. */
export interface WriteOptions {
  tx?: Transaction;
}

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

/** The account fields a job's actor is rebuilt from (never the password hash). */
export type UserProfile = Pick<
  UserRow,
  'id' | 'role' | 'username' | 'email' | 'doctorId' | 'patientId' | 'disabledAt'
>;

/** One page of accounts by id, and the cursor of the next (null on the last). */
export interface UserPage {
  items: UserRow[];
  nextCursor: number | null;
}

/** A stored row as a `UserRow` (attributes an instance never set are null). */
function toRow(values: Attributes<User>): UserRow {
  return {
    ...values,
    doctorId: values.doctorId ?? null,
    patientId: values.patientId ?? null,
    disabledAt: values.disabledAt ?? null,
  } as UserRow;
}

/** The Sequelize lock of `options.lock` inside `options.tx`. */
function lockOf(options: ReadOptions) {
  if (!options.lock || !options.tx) return undefined;
  return options.lock === 'update' ? options.tx.LOCK.UPDATE : options.tx.LOCK.SHARE;
}

/** The first account matching `where`, or null. */
async function findOne(
  db: Database,
  where: WhereOptions<Attributes<User>>,
  options: ReadOptions,
): Promise<UserRow | null> {
  const [row] = await findPlain(db.models.User, {
    where,
    limit: 1,
    transaction: options.tx,
    lock: lockOf(options),
  });
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

/** The fields of account `id` a job's actor needs, or null when it no longer exists. */
export async function findProfile(
  db: Database,
  id: number,
  options: ReadOptions = {},
): Promise<UserProfile | null> {
  const [row] = await findPlain(db.models.User, {
    where: { id },
    attributes: ['id', 'role', 'username', 'email', 'doctorId', 'patientId', 'disabledAt'],
    limit: 1,
    transaction: options.tx,
  });
  if (!row) return null;
  return {
    id: row.id,
    role: row.role,
    username: row.username,
    email: row.email,
    doctorId: row.doctorId ?? null,
    patientId: row.patientId ?? null,
    disabledAt: row.disabledAt ?? null,
  };
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
 * One page of accounts by id (after `cursor`): those with `role`, if given, whose username or
 * email contains `search`, if given (ignoring case).
 */
export async function listPage(
  db: Database,
  input: { limit: number; cursor?: number | null; role?: Role; search?: string },
): Promise<UserPage> {
  const conditions: WhereOptions[] = [
    input.role ? { role: input.role } : {},
    input.search ? containsText(['username', 'email'], input.search) : {},
  ];
  if (input.cursor) conditions.push({ id: { [Op.gt]: input.cursor } });
  const rows = await findPlain(db.models.User, {
    where: { [Op.and]: conditions } as WhereOptions<Attributes<User>>,
    order: [['id', 'ASC']],
    limit: input.limit + 1,
  });
  const items = rows.slice(0, input.limit).map(toRow);
  return {
    items,
    nextCursor: rows.length > input.limit ? (items[items.length - 1]?.id ?? null) : null,
  };
}
