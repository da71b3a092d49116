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
  checks: readonly { patientId: number; checkTime: Date }[],
  tx: Tx,
): Promise<CheckRow[]> {
  const rows = checks.map((c) => ({ patientId: c.patientId, checkTime: c.checkTime }));
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
