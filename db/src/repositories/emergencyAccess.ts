import type { Attributes } from 'sequelize';
import type { Database } from '../connection';
import type { EmergencyAccess } from '../models/EmergencyAccess';
import { toDate } from '../plain';
import { quoteName, selectRows } from '../sql';
import type { PageRequest } from './page';
import type { Tx } from './tx';

/**
 * Emergency ("break-the-glass") accesses (`emergency_accesses`): a doctor opens a patient's record
 * outside their care, with a reason, for a time. Never deleted: a closed access stays as the record
 * of what was opened and why. What is open for a doctor is read by `access.ts`'s `openGrantsOf`.
 */

/** An emergency access as stored. */
export type EmergencyRow = Attributes<EmergencyAccess>;

/** An emergency access with the names of its patient, doctor and the account that opened it. */
export interface EmergencyListRow extends EmergencyRow {
  patientName: string;
  doctorName: string;
  openedByUsername: string;
}

/** An access's state at a moment: open, past its end, or ended early. */
export type EmergencyState = 'open' | 'expired' | 'ended';

const COLUMNS = `e.id AS id, e.patient_id AS patientId, e.doctor_id AS doctorId, e.reason AS reason,
  e.created_by_user_id AS createdByUserId, e.created_at AS createdAt, e.expires_at AS expiresAt,
  e.ended_at AS endedAt`;

/** Records an emergency access in the caller's transaction; the stored row. */
export async function insert(
  db: Database,
  values: Pick<
    EmergencyRow,
    'patientId' | 'doctorId' | 'reason' | 'createdByUserId' | 'createdAt' | 'expiresAt'
  >,
  tx: Tx,
): Promise<EmergencyRow> {
  const row = await db.models.EmergencyAccess.create({ ...values, endedAt: null }, { transaction: tx });
  return row.get({ plain: true });
}

/** Doctor `doctorId`'s emergency access to patient `patientId` open at `now`, if any (locked in `tx`). */
export async function openOf(
  db: Database,
  doctorId: number,
  patientId: number,
  now: Date,
  tx: Tx,
): Promise<EmergencyRow | null> {
  const lock = db.dialect === 'mysql' ? ' FOR UPDATE' : '';
  const [row] = await selectRows<Record<string, unknown>>(
    db,
    `SELECT ${COLUMNS} FROM ${quoteName('emergency_accesses')} e
      WHERE e.doctor_id = ? AND e.ended_at IS NULL AND e.expires_at > ? AND e.patient_id = ?
      ORDER BY e.id DESC LIMIT 1${lock}`,
    [doctorId, now, patientId],
    tx,
  );
  return row ? plain<EmergencyRow>(row) : null;
}

/** Marks access `id` ended at `at`, in the caller's transaction. */
export async function setEnded(db: Database, id: number, at: Date, tx: Tx): Promise<void> {
  await db.models.EmergencyAccess.update({ endedAt: at }, { where: { id }, transaction: tx });
}

/** What a page of emergency accesses is filtered by (all and-ed). */
export interface EmergencyFilter {
  patientId?: number;
  doctorId?: number;
  state?: EmergencyState;
  /** Case-insensitive substring of the doctor's or the patient's name, or of the reason. */
  search?: string;
  now: Date;
}

/**
 * A keyset page of emergency accesses, newest first (by id, before the cursor), with the names of
 * the patient, the doctor and the opening account: `limit + 1` rows.
 */
export async function listPage(
  db: Database,
  filter: EmergencyFilter,
  page: PageRequest,
): Promise<EmergencyListRow[]> {
  const conditions: string[] = [];
  const values: unknown[] = [];
  if (filter.patientId !== undefined) {
    conditions.push('e.patient_id = ?');
    values.push(filter.patientId);
  }
  if (filter.doctorId !== undefined) {
    conditions.push('e.doctor_id = ?');
    values.push(filter.doctorId);
  }
  if (filter.state === 'ended') conditions.push('e.ended_at IS NOT NULL');
  if (filter.state === 'expired') {
    conditions.push('e.ended_at IS NULL AND e.expires_at <= ?');
    values.push(filter.now);
  }
  if (filter.state === 'open') {
    conditions.push('e.ended_at IS NULL AND e.expires_at > ?');
    values.push(filter.now);
  }
  if (filter.search) {
    const needle = filter.search.toLowerCase();
    conditions.push(
      '(instr(lower(d.name), ?) > 0 OR instr(lower(p.name), ?) > 0 OR instr(lower(e.reason), ?) > 0)',
    );
    values.push(needle, needle, needle);
  }
  if (page.cursor) {
    conditions.push('e.id < ?');
    values.push(page.cursor);
  }
  const where = conditions.length ? `WHERE ${conditions.join(' AND ')}` : '';
  const rows = await selectRows<Record<string, unknown>>(
    db,
    `SELECT ${COLUMNS}, p.name AS patientName, d.name AS doctorName, u.username AS openedByUsername
       FROM ${quoteName('emergency_accesses')} e
       JOIN ${quoteName('patients')} p ON p.id = e.patient_id
       JOIN ${quoteName('doctors')} d ON d.id = e.doctor_id
       JOIN ${quoteName('users')} u ON u.id = e.created_by_user_id
      ${where}
      ORDER BY e.id DESC LIMIT ${Math.trunc(page.limit) + 1}`,
    values,
  );
  return rows.map((row) => plain<EmergencyListRow>(row));
}

/** A written-out row's dates as Dates (SQLite answers text). */
function plain<T>(row: Record<string, unknown>): T {
  for (const key of ['createdAt', 'expiresAt', 'endedAt']) {
    if (row[key] !== null && row[key] !== undefined) row[key] = toDate(row[key]);
  }
  return row as unknown as T;
}
