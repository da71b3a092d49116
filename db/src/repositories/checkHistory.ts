import { type Attributes, Op, type WhereOptions } from 'sequelize';
import type { Database } from '../connection';
import type { CheckHistory } from '../models/CheckHistory';
import { findPlain, insertPlain } from '../plain';
import { type PageRequest, readOne, readPage } from './page';
import type { Tx } from './tx';

/**
 * Check-ups of patients. Callers establish first that the patient is in the caller's scope
 * (`patients.findForWrite` / `patients.read`): every function here is about one patient's rows.
 */

/** A check-up as plain data. */
export type CheckRow = Attributes<CheckHistory>;

/**
 * Records check-ups in one statement; their rows in input order, with the ids they were stored
 * under (not Sequelize's `bulkCreate`, which counts ids on from the first by 1).
 */
export async function insertMany(
  db: Database,
  checks: readonly {
    patientId: number;
    checkTime: Date;
    doctorId: number | null;
    roomNumber: string | null;
  }[],
  tx: Tx,
): Promise<CheckRow[]> {
  const rows = checks.map((c) => ({
    patientId: c.patientId,
    checkTime: c.checkTime,
    doctorId: c.doctorId,
    roomNumber: c.roomNumber,
  }));
  const { ids, at } = await insertPlain(db.models.CheckHistory, rows, { transaction: tx });
  return rows.map((row, i) => ({ ...row, id: ids[i]!, createdAt: at }));
}

/** Where a page of one patient's check-ups starts and what it covers. */
export interface CheckPage {
  limit: number;
  /** The last check-up of the previous page, if any. */
  after?: { id: number; checkTime: Date } | null;
  /** Check time at or after (inclusive). */
  from?: Date;
  /** Check time before (exclusive). */
  to?: Date;
}

/** One check-up of the patient (to continue a page after it), or null. */
export async function findOfPatient(db: Database, patientId: number, id: number): Promise<CheckRow | null> {
  return readOne(db.models.CheckHistory, { id, patientId });
}

/** One check-up by id, of any patient (callers then establish that its patient is in scope), or null. */
export async function find(db: Database, id: number): Promise<CheckRow | null> {
  return readOne(db.models.CheckHistory, { id });
}

/** How many of one patient's check-ups fall in [from, to). */
export function countInRange(
  db: Database,
  patientId: number,
  range: { from?: Date; to?: Date },
): Promise<number> {
  const where: WhereOptions<CheckRow>[] = [{ patientId }];
  if (range.from) where.push({ checkTime: { [Op.gte]: range.from } });
  if (range.to) where.push({ checkTime: { [Op.lt]: range.to } });
  return db.models.CheckHistory.count({ where: { [Op.and]: where } });
}

/** A page of one patient's check-ups, newest check time first (then id): `limit + 1` rows. */
export function listOfPatient(db: Database, patientId: number, page: CheckPage): Promise<CheckRow[]> {
  const where: WhereOptions<CheckRow>[] = [{ patientId }];
  if (page.from) where.push({ checkTime: { [Op.gte]: page.from } });
  if (page.to) where.push({ checkTime: { [Op.lt]: page.to } });
  if (page.after) {
    const { checkTime, id } = page.after;
    where.push({ [Op.or]: [{ checkTime: { [Op.lt]: checkTime } }, { checkTime, id: { [Op.lt]: id } }] });
  }
  return findPlain(db.models.CheckHistory, {
    where: { [Op.and]: where },
    order: [
      ['checkTime', 'DESC'],
      ['id', 'DESC'],
    ],
    limit: page.limit + 1,
  });
}

/** A keyset page of one patient's check-ups by id, oldest first (an export): `limit + 1` rows. */
export function pageOfPatientById(db: Database, patientId: number, page: PageRequest): Promise<CheckRow[]> {
  return readPage(db.models.CheckHistory, page, [{ patientId }]);
}

/** How many check-ups the patient has. */
export function countOfPatient(db: Database, patientId: number): Promise<number> {
  return db.models.CheckHistory.count({ where: { patientId } });
}

/** Where a page of several patients' check-ups starts: after this check-up (by patient, then id). */
export interface PatientsPage {
  limit: number;
  after?: { patientId: number; id: number } | null;
}

/**
 * A keyset page of the check-ups of `patientIds` (patients the caller established are in scope),
 * by patient then id: `limit + 1` rows. A bulk export reads a page of patients' check-ups in one
 * statement this way, never one per patient.
 */
export function pageOfPatients(
  db: Database,
  patientIds: readonly number[],
  page: PatientsPage,
): Promise<CheckRow[]> {
  if (patientIds.length === 0) return Promise.resolve([]);
  const where: WhereOptions<CheckRow>[] = [{ patientId: [...patientIds] }];
  if (page.after) {
    const { patientId, id } = page.after;
    where.push({ [Op.or]: [{ patientId: { [Op.gt]: patientId } }, { patientId, id: { [Op.gt]: id } }] });
  }
  return findPlain(db.models.CheckHistory, {
    where: { [Op.and]: where },
    order: [
      ['patientId', 'ASC'],
      ['id', 'ASC'],
    ],
    limit: page.limit + 1,
  });
}
