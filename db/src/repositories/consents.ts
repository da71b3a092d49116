import type { Attributes } from 'sequelize';
import type { Database } from '../connection';
import type { ConsentGrant } from '../models/ConsentGrant';
import { toDate } from '../plain';
import { quoteName, selectRows } from '../sql';
import type { PageRequest } from './page';
import { readOne } from './page';
import type { Lock, Tx } from './tx';

/**
 * Patients' consent grants (`consent_grants`): a patient opens their record to a doctor who is not
 * their assigned doctor, until a time or until revoked. Grants are never deleted: a revoked or
 * expired grant stays as the record of what was granted. What is in force for a doctor is read by
 * `access.ts`'s `openGrantsOf`.
 */

/** A consent grant as stored. */
export type ConsentRow = Attributes<ConsentGrant>;

/** A grant with the names of its patient and doctor, as lists show it. */
export interface ConsentListRow extends ConsentRow {
  patientName: string;
  doctorName: string;
}

/** A grant's state at a moment: in force, past its end, or revoked (revocation wins). */
export type ConsentState = 'active' | 'expired' | 'revoked';

/** Records a grant in the caller's transaction; the stored row. */
export async function insert(
  db: Database,
  values: Pick<ConsentRow, 'patientId' | 'doctorId' | 'expiresAt' | 'createdByUserId'>,
  tx: Tx,
): Promise<ConsentRow> {
  const row = await db.models.ConsentGrant.create({ ...values, revokedAt: null }, { transaction: tx });
  return row.get({ plain: true });
}

/** Grant `id` given by patient `patientId`, or null (another patient's grant is absent alike). */
export function findOfPatient(
  db: Database,
  patientId: number,
  id: number,
  options: { tx?: Tx; lock?: Lock } = {},
): Promise<ConsentRow | null> {
  return readOne(db.models.ConsentGrant, { id, patientId }, options);
}

/** The grant of patient `patientId` to doctor `doctorId` in force at `now`, if any. */
export async function activeBetween(
  db: Database,
  patientId: number,
  doctorId: number,
  now: Date,
  tx?: Tx,
): Promise<ConsentRow | null> {
  const [row] = await selectRows<Record<string, unknown>>(
    db,
    `SELECT id, patient_id AS patientId, doctor_id AS doctorId, expires_at AS expiresAt,
            revoked_at AS revokedAt, created_by_user_id AS createdByUserId, created_at AS createdAt
       FROM consent_grants
      WHERE patient_id = ? AND doctor_id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
      ORDER BY id DESC LIMIT 1`,
    [patientId, doctorId, now],
    tx,
  );
  return row ? plain<ConsentRow>(row) : null;
}

/** Marks grant `id` revoked at `at`, in the caller's transaction. */
export async function setRevoked(db: Database, id: number, at: Date, tx: Tx): Promise<void> {
  await db.models.ConsentGrant.update({ revokedAt: at }, { where: { id }, transaction: tx });
}

/** What a page of grants is filtered by: one patient's or one doctor's, optionally a state and a name. */
export interface ConsentFilter {
  patientId?: number;
  doctorId?: number;
  state?: ConsentState;
  /** Case-insensitive substring of the doctor's or the patient's name. */
  search?: string;
  now: Date;
}

/**
 * A keyset page of grants, newest first (by id, before the cursor), with the names of their patient
 * and doctor: `limit + 1` rows. Served by the `(patient_id, id)` and `(doctor_id, id)` indexes.
 */
export async function listPage(
  db: Database,
  filter: ConsentFilter,
  page: PageRequest,
): Promise<ConsentListRow[]> {
  const conditions: string[] = [];
  const values: unknown[] = [];
  if (filter.patientId !== undefined) {
    conditions.push('g.patient_id = ?');
    values.push(filter.patientId);
  }
  if (filter.doctorId !== undefined) {
    conditions.push('g.doctor_id = ?');
    values.push(filter.doctorId);
  }
  if (filter.state === 'revoked') conditions.push('g.revoked_at IS NOT NULL');
  if (filter.state === 'expired') {
    conditions.push('g.revoked_at IS NULL AND g.expires_at <= ?');
    values.push(filter.now);
  }
  if (filter.state === 'active') {
    conditions.push('g.revoked_at IS NULL AND (g.expires_at IS NULL OR g.expires_at > ?)');
    values.push(filter.now);
  }
  if (filter.search) {
    conditions.push('(instr(lower(d.name), ?) > 0 OR instr(lower(p.name), ?) > 0)');
    values.push(filter.search.toLowerCase(), filter.search.toLowerCase());
  }
  if (page.cursor) {
    conditions.push('g.id < ?');
    values.push(page.cursor);
  }
  const where = conditions.length ? `WHERE ${conditions.join(' AND ')}` : '';
  const rows = await selectRows<Record<string, unknown>>(
    db,
    `SELECT g.id AS id, g.patient_id AS patientId, p.name AS patientName, g.doctor_id AS doctorId,
            d.name AS doctorName, g.expires_at AS expiresAt, g.revoked_at AS revokedAt,
            g.created_by_user_id AS createdByUserId, g.created_at AS createdAt
       FROM ${quoteName('consent_grants')} g
       JOIN ${quoteName('patients')} p ON p.id = g.patient_id
       JOIN ${quoteName('doctors')} d ON d.id = g.doctor_id
      ${where}
      ORDER BY g.id DESC LIMIT ${Math.trunc(page.limit) + 1}`,
    values,
  );
  return rows.map((row) => plain<ConsentListRow>(row));
}

/** A written-out row's dates as Dates (SQLite answers text). */
function plain<T>(row: Record<string, unknown>): T {
  for (const key of ['expiresAt', 'revokedAt', 'createdAt']) {
    if (row[key] !== null && row[key] !== undefined) row[key] = toDate(row[key]);
  }
  return row as unknown as T;
}
