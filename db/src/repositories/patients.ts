import { type Attributes, type CreationAttributes, Op, type WhereOptions } from 'sequelize';
import type { Database } from '../connection';
import type { Patient } from '../models/Patient';
import type { FieldChanges, PatientRevision } from '../models/PatientRevision';
import { findPlain, insertPlain, toDate } from '../plain';
import { quoteName, selectRows } from '../sql';
import { type PageRequest, readPage } from './page';
import { type PatientScope, patientScopeWhere, reachesNoPatient } from './scope';
import { type Lock, lockOf, type Tx } from './tx';

/**
 * Patients' records and their revisions. Every read takes the caller's `PatientScope` and applies
 * it in the query itself, so no read can forget it: a patient outside the scope is simply not
 * there (null, or absent from a list). The hot reads (`read`, `list`) are written-out statements
 * (`sql.ts`), the fast path; locked reads and writes go through the model.
 */

/** A patient's record as plain data. */
export type PatientRow = Attributes<Patient>;
/** A field of a patient's record. */
export type PatientColumn = keyof PatientRow;
/** A new patient: every field but the id and timestamps. */
export type NewPatient = Omit<PatientRow, 'id' | 'createdAt' | 'updatedAt'>;
/** A revision of a patient's record as plain data. */
export type RevisionRow = Attributes<PatientRevision>;

/** The table, quoted as written-out statements name it. */
const TABLE = quoteName('patients');

const COLUMNS: Record<PatientColumn, string> = {
  id: 'id',
  name: 'name',
  age: 'age',
  gender: 'gender',
  doctorId: 'doctor_id',
  roomNumber: 'room_number',
  bedNumber: 'bed_number',
  diagnosis: 'diagnosis',
  prescribedMedicine: 'prescribed_medicine',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
};

/** `SELECT` list and condition of a written-out read in `scope`; null when the scope reaches nobody. */
function scopedSelect(
  scope: PatientScope,
  columns: readonly PatientColumn[],
): { select: string; conditions: string[]; values: unknown[] } | null {
  if (reachesNoPatient(scope)) return null;
  const select = columns.map((c) => `${quoteName(COLUMNS[c])} AS ${quoteName(c)}`).join(', ');
  if (scope === 'all') return { select, conditions: [], values: [] };
  const either: string[] = [];
  const values: unknown[] = [];
  if (scope.doctorIds.length) {
    either.push(`doctor_id IN (${scope.doctorIds.map(() => '?').join(',')})`);
    values.push(...scope.doctorIds);
  }
  if (scope.patientIds.length) {
    either.push(`id IN (${scope.patientIds.map(() => '?').join(',')})`);
    values.push(...scope.patientIds);
  }
  return { select, conditions: [`(${either.join(' OR ')})`], values };
}

function plainPatient(row: Record<string, unknown>): PatientRow {
  if ('createdAt' in row) row.createdAt = toDate(row.createdAt);
  if ('updatedAt' in row) row.updatedAt = toDate(row.updatedAt);
  return row as unknown as PatientRow;
}

/** One patient in `scope` (the given columns), or null: absent and out of scope look alike. */
export async function read(
  db: Database,
  scope: PatientScope,
  id: number,
  columns: readonly PatientColumn[],
): Promise<PatientRow | null> {
  const query = scopedSelect(scope, columns);
  if (!query) return null;
  const where = ['id = ?', ...query.conditions].join(' AND ');
  const rows = await selectRows<Record<string, unknown>>(
    db,
    `SELECT ${query.select} FROM ${TABLE} WHERE ${where} LIMIT 1`,
    [id, ...query.values],
  );
  return rows[0] ? plainPatient(rows[0]) : null;
}

/** Filters of a page of patients. */
export interface PatientFilter {
  doctorId?: number;
  /** Case-insensitive substring of the name. */
  search?: string;
}

/** A keyset page (by id) of the patients in `scope` matching `filter`: `limit + 1` rows. */
export async function list(
  db: Database,
  scope: PatientScope,
  page: PageRequest,
  filter: PatientFilter,
  columns: readonly PatientColumn[],
): Promise<PatientRow[]> {
  const query = scopedSelect(scope, columns);
  if (!query) return [];
  const { conditions, values } = query;
  filterConditions(filter, conditions, values);
  if (page.cursor) {
    conditions.push('id > ?');
    values.push(page.cursor);
  }
  const where = conditions.length ? ` WHERE ${conditions.join(' AND ')}` : '';
  const rows = await selectRows<Record<string, unknown>>(
    db,
    `SELECT ${query.select} FROM ${TABLE}${where} ORDER BY id ASC LIMIT ${Math.trunc(page.limit) + 1}`,
    values,
  );
  return rows.map(plainPatient);
}

/** Adds `filter`'s conditions (its doctor, a name search) to a statement's WHERE parts. */
function filterConditions(filter: PatientFilter, conditions: string[], values: unknown[]): void {
  if (filter.doctorId !== undefined) {
    conditions.push('doctor_id = ?');
    values.push(filter.doctorId);
  }
  if (filter.search) {
    conditions.push('instr(lower(name), ?) > 0');
    values.push(filter.search.toLowerCase());
  }
}

/** How many patients in `scope` match `filter` (the total of a search). */
export async function count(db: Database, scope: PatientScope, filter: PatientFilter): Promise<number> {
  const query = scopedSelect(scope, ['id']);
  if (!query) return 0;
  const { conditions, values } = query;
  filterConditions(filter, conditions, values);
  const where = conditions.length ? ` WHERE ${conditions.join(' AND ')}` : '';
  const rows = await selectRows<{ n: number | string }>(
    db,
    `SELECT COUNT(*) AS n FROM ${TABLE}${where}`,
    values,
  );
  return Number(rows[0]?.n ?? 0);
}

/**
 * One patient in `scope` inside a transaction, optionally locked (`update` before a write, `share`
 * so it stays while rows that name it are written); null when absent or out of scope.
 */
export async function findForWrite(
  db: Database,
  scope: PatientScope,
  id: number,
  options: { tx: Tx; lock?: Lock; columns?: readonly PatientColumn[] },
): Promise<PatientRow | null> {
  if (reachesNoPatient(scope)) return null;
  const rows = await findPlain(db.models.Patient, {
    attributes: options.columns as PatientColumn[] | undefined,
    where: inScope(scope, id),
    transaction: options.tx,
    lock: lockOf(options.tx, options.lock),
    limit: 1,
  });
  return rows[0] ?? null;
}

/** `patientScopeWhere` and an id condition together, never a spread: a patient's own scope is an `id`. */
function inScope(scope: PatientScope, ids: number | number[]): WhereOptions<PatientRow> {
  return { [Op.and]: [patientScopeWhere(scope), { id: ids }] } as WhereOptions<PatientRow>;
}

/**
 * The doctor and room of each of `ids` that is a patient in `scope` (one query), optionally
 * locked in the transaction: where a check-up recorded now took place.
 */
export async function placesInScope(
  db: Database,
  scope: PatientScope,
  ids: readonly number[],
  options: { tx?: Tx; lock?: Lock } = {},
): Promise<Map<number, { doctorId: number | null; roomNumber: string | null }>> {
  if (reachesNoPatient(scope) || ids.length === 0) return new Map();
  const rows = await findPlain(db.models.Patient, {
    attributes: ['id', 'doctorId', 'roomNumber'],
    where: inScope(scope, [...new Set(ids)]),
    transaction: options.tx,
    lock: options.tx ? lockOf(options.tx, options.lock) : undefined,
  });
  return new Map(rows.map((p) => [p.id, { doctorId: p.doctorId ?? null, roomNumber: p.roomNumber ?? null }]));
}

/** Admits patients in one multi-row INSERT (input already validated): their whole rows. */
export async function insertMany(
  db: Database,
  patients: readonly NewPatient[],
  tx: Tx,
): Promise<PatientRow[]> {
  const { ids, at } = await insertPlain(db.models.Patient, patients as CreationAttributes<Patient>[], {
    transaction: tx,
  });
  return patients.map((p, i) => ({ ...p, id: ids[i]!, createdAt: at, updatedAt: at }));
}

/** Changes fields of one patient (validated by the model) and returns the new `updatedAt`. */
export async function update(db: Database, id: number, values: Partial<NewPatient>, tx: Tx): Promise<Date> {
  const updatedAt = new Date();
  // `silent`: Sequelize keeps the updatedAt given here, so the caller's view shows what is stored.
  await db.models.Patient.update({ ...values, updatedAt }, { where: { id }, transaction: tx, silent: true });
  return updatedAt;
}

/** Records one revision of a patient's record ({ field: { old, new } }). */
export async function insertRevision(
  db: Database,
  revision: {
    patientId: number;
    actorType: string;
    actorId: number | null;
    actorName: string;
    changes: FieldChanges;
  },
  tx: Tx,
): Promise<void> {
  await db.models.PatientRevision.create(revision, { transaction: tx });
}

/** A keyset page of one patient's revisions, newest first: `limit + 1` rows. */
export function listRevisions(
  db: Database,
  patientId: number,
  page: PageRequest,
  direction: 'asc' | 'desc' = 'desc',
): Promise<RevisionRow[]> {
  return readPage(db.models.PatientRevision, page, [{ patientId }], { direction });
}

/**
 * The revisions of the patients `ids` (callers establish the scope first), oldest first: when
 * each was made and which fields it changed (not their values).
 */
export async function revisionFieldsOf(
  db: Database,
  ids: readonly number[],
): Promise<{ patientId: number; createdAt: Date; fields: string[] }[]> {
  if (ids.length === 0) return [];
  const rows = await findPlain(db.models.PatientRevision, {
    attributes: ['patientId', 'createdAt', 'changes'],
    where: { patientId: [...new Set(ids)] },
    order: [['id', 'ASC']],
  });
  return rows.map((r) => ({
    patientId: r.patientId,
    createdAt: r.createdAt,
    fields: Object.keys((r.changes ?? {}) as FieldChanges),
  }));
}

/** How many revisions the patient's record has. */
export function countRevisions(db: Database, patientId: number): Promise<number> {
  return db.models.PatientRevision.count({ where: { patientId } });
}

/** Every field of a patient's record. */
export const ALL_COLUMNS = Object.keys(COLUMNS) as PatientColumn[];
