import type { Attributes } from 'sequelize';
import type { Database } from '../connection';
import type { Doctor } from '../models/Doctor';
import { findPlain, insertPlain } from '../plain';
import { type PageRequest, readOne, readPage } from './page';
import { containsText } from './search';
import type { Lock, Tx } from './tx';

/** The doctors' register: no patient data, so no scope. */

/** A doctor of the register as plain data. */
export type DoctorRow = Attributes<Doctor>;
/** What a doctor is added with. */
export interface NewDoctor {
  name: string;
  specialization: string;
}

/**
 * Adds doctors (validated by the model) in one statement; their rows in input order, with the ids
 * they were stored under (not Sequelize's `bulkCreate`, which counts ids on from the first by 1).
 */
export async function insertMany(db: Database, doctors: readonly NewDoctor[], tx: Tx): Promise<DoctorRow[]> {
  for (const doctor of doctors) await db.models.Doctor.build({ ...doctor }).validate();
  const rows = doctors.map((d) => ({ name: d.name, specialization: d.specialization }));
  const { ids, at } = await insertPlain(db.models.Doctor, rows, { transaction: tx });
  return rows.map((row, i) => ({ ...row, id: ids[i]!, createdAt: at, updatedAt: at }));
}

/** One doctor, or null; in a transaction optionally locked. */
export async function find(
  db: Database,
  id: number,
  options: { tx?: Tx; lock?: Lock } = {},
): Promise<DoctorRow | null> {
  return readOne(db.models.Doctor, { id }, options);
}

/** Which of `ids` are doctors of the register (one query). */
export async function existingIds(db: Database, ids: readonly number[], tx?: Tx): Promise<Set<number>> {
  if (ids.length === 0) return new Set();
  const rows = await findPlain(db.models.Doctor, {
    attributes: ['id'],
    where: { id: [...new Set(ids)] },
    transaction: tx,
  });
  return new Set(rows.map((d) => d.id));
}

/** A keyset page of the register by id, optionally matching `search` in name or specialization. */
export function list(db: Database, page: PageRequest, search?: string): Promise<DoctorRow[]> {
  return readPage(db.models.Doctor, page, search ? [containsText(['name', 'specialization'], search)] : []);
}

/** How many doctors the register holds. */
export function count(db: Database): Promise<number> {
  return db.models.Doctor.count();
}

/**
 * Changes a doctor's fields (validated by the model): the row as stored and the fields whose value
 * changed; null when there is no such doctor. The row is locked for the change.
 */
export async function update(
  db: Database,
  id: number,
  changes: Partial<NewDoctor>,
  tx: Tx,
): Promise<{ doctor: DoctorRow; changed: string[] } | null> {
  const doctor = await db.models.Doctor.findByPk(id, { transaction: tx, lock: tx.LOCK.UPDATE });
  if (!doctor) return null;
  doctor.set(changes);
  const changed = (doctor.changed() || []) as string[];
  await doctor.save({ transaction: tx });
  return { doctor: doctor.get({ plain: true }), changed };
}
