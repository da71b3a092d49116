import { type Attributes, Op, type WhereOptions } from 'sequelize';
import type { Database } from '../connection';
import type { Note } from '../models/Note';
import { findPlain } from '../plain';
import { type PageRequest, readOne, readPage } from './page';
import type { Tx } from './tx';

/**
 * Clinical notes, append-only. Callers establish first that the patient is in the caller's scope:
 * every function here is about one patient's notes.
 */

/** A note as plain data. */
export type NoteRow = Attributes<Note>;

/** One note of the patient, or null. */
export async function findOfPatient(
  db: Database,
  patientId: number,
  id: number,
  tx?: Tx,
): Promise<NoteRow | null> {
  return readOne(db.models.Note, { id, patientId }, { tx });
}

/** One note by id, of any patient (callers then establish that its patient is in scope), or null. */
export async function find(db: Database, id: number): Promise<NoteRow | null> {
  return readOne(db.models.Note, { id });
}

/** For each of `ids` (notes of the patient) that has been corrected: the correcting note's id and when it was written. */
export async function correctionsOf(
  db: Database,
  patientId: number,
  ids: readonly number[],
): Promise<Map<number, { id: number; createdAt: Date }>> {
  if (ids.length === 0) return new Map();
  const rows = await findPlain(db.models.Note, {
    attributes: ['id', 'correctsNoteId', 'createdAt'],
    where: { patientId, correctsNoteId: [...ids] },
  });
  return new Map(rows.map((c) => [c.correctsNoteId!, { id: c.id, createdAt: c.createdAt }]));
}

/** The note that corrects note `id`, or null. */
export async function correctionOf(db: Database, id: number, tx?: Tx): Promise<NoteRow | null> {
  return readOne(db.models.Note, { correctsNoteId: id }, { tx });
}

/** Adds a note (validated by the model); its row. */
export async function insert(
  db: Database,
  note: {
    patientId: number;
    authorUserId: number;
    authorName: string;
    body: string;
    correctsNoteId: number | null;
  },
  tx: Tx,
): Promise<NoteRow> {
  return (await db.models.Note.create(note, { transaction: tx })).get({ plain: true });
}

/** A keyset page of one patient's notes, newest first: `limit + 1` rows. */
export function listOfPatient(
  db: Database,
  patientId: number,
  page: PageRequest,
  direction: 'asc' | 'desc' = 'desc',
): Promise<NoteRow[]> {
  return readPage(db.models.Note, page, [{ patientId }], { direction });
}

/** How many notes the patient has. */
export function countOfPatient(db: Database, patientId: number): Promise<number> {
  return db.models.Note.count({ where: { patientId } });
}

/** For each of `ids` (notes of the patient) that has been corrected: the correcting note's id. */
export async function correctedBy(
  db: Database,
  patientId: number,
  ids: readonly number[],
): Promise<Map<number, number>> {
  if (ids.length === 0) return new Map();
  const rows = await findPlain(db.models.Note, {
    attributes: ['id', 'correctsNoteId'],
    where: { patientId, correctsNoteId: [...ids] },
  });
  return new Map(rows.map((c) => [c.correctsNoteId!, c.id]));
}

/**
 * A keyset page of the notes of `patientIds` (patients the caller established are in scope), by
 * patient then id: `limit + 1` rows. A bulk export reads a page of patients' notes in one
 * statement this way, never one per patient.
 */
export function pageOfPatients(
  db: Database,
  patientIds: readonly number[],
  page: { limit: number; after?: { patientId: number; id: number } | null },
): Promise<NoteRow[]> {
  if (patientIds.length === 0) return Promise.resolve([]);
  const where: WhereOptions<NoteRow>[] = [{ patientId: [...patientIds] }];
  if (page.after) {
    const { patientId, id } = page.after;
    where.push({ [Op.or]: [{ patientId: { [Op.gt]: patientId } }, { patientId, id: { [Op.gt]: id } }] });
  }
  return findPlain(db.models.Note, {
    where: { [Op.and]: where },
    order: [
      ['patientId', 'ASC'],
      ['id', 'ASC'],
    ],
    limit: page.limit + 1,
  });
}
