import { doctorsRepo, type NoteRow, notesRepo } from '@hdms/db';
import { z } from 'zod';
import { type Page, pageInput, pageOf } from '../../lib/pagination';
import { idSchema, longText } from '../../lib/schemas';
import type { UserActor } from '../actor';
import { recordAudit } from '../audit/record';
import { type DomainContext, readDatabase } from '../context';
import { badInput, isNotFound, notFound } from '../errors';
import { recordEvent } from '../events/record';
import { findPatient, findPatientId } from '../patients/lookup';

/**
 * Clinical notes: append-only (no update, no delete). A correction is a new note naming the note
 * it corrects; each note is corrected at most once, so corrections form a chain. Written by the
 * patient's doctors (assigned, consented or by emergency access: their scope decides), read by
 * them and the patient (the routers admit only those roles).
 */

/** A doctor's note, as the patient's doctor and the patient see it. */
export interface NoteView {
  id: number;
  patientId: number;
  authorName: string;
  body: string;
  /** The note this one corrects, if it is a correction. */
  correctsNoteId: number | null;
  /** The note that corrects this one, if it has been corrected. */
  correctedByNoteId: number | null;
  createdAt: Date;
}

/** Maps a `Note` row to its client view with an explicit field list. */
export function noteView(note: NoteRow, correctedByNoteId: number | null): NoteView {
  return {
    id: note.id,
    patientId: note.patientId,
    authorName: note.authorName,
    body: note.body,
    correctsNoteId: note.correctsNoteId ?? null,
    correctedByNoteId,
    createdAt: note.createdAt,
  };
}

/** The longest note body, in characters. */
const MAX_NOTE_LENGTH = 20_000;

/** `notes.create` input: the patient, the body, and the note it corrects, if it is a correction. */
export const noteCreateInput = z
  .object({
    patientId: idSchema,
    body: longText(MAX_NOTE_LENGTH)
      .refine((v) => v !== '', { message: 'is required' })
      .refine((v) => v.trim() !== '', { message: 'must not be blank' }),
    correctsNoteId: idSchema.optional(),
  })
  .strict();

/** `notes.list` input. */
export const noteListInput = pageInput.extend({ patientId: idSchema }).strict();

/**
 * `notes.create`: adds a note to a patient in the doctor's scope, audited, with an event. The
 * patient row is locked, which serialises note writes per patient (one correction per note).
 */
export function createNote(
  ctx: Pick<DomainContext<UserActor<'doctor'>>, 'db' | 'actor' | 'scope' | 'requestId' | 'ip' | 'procedure'>,
  input: z.output<typeof noteCreateInput>,
): Promise<NoteView> {
  return ctx.db.transaction(async (tx) => {
    const patient = await findPatient(ctx, input.patientId, {
      tx,
      lock: 'update',
      columns: ['id', 'doctorId'],
    });
    if (input.correctsNoteId !== undefined) {
      const corrected = await notesRepo.findOfPatient(ctx.db, patient.id, input.correctsNoteId, tx);
      if (!corrected) throw badInput(['correctsNoteId'], 'must be a note of the same patient');
      const correction = await notesRepo.correctionOf(ctx.db, corrected.id, tx);
      if (correction) {
        throw badInput(
          ['correctsNoteId'],
          `note ${corrected.id} is already corrected by note ${correction.id}; correct that one`,
        );
      }
    }
    // Signed by the caller's own Doctor record: the assigned doctor, or one who reaches the
    // patient by consent or emergency access.
    const doctorId = ctx.actor.doctorId;
    const doctor = doctorId === null ? null : await doctorsRepo.find(ctx.db, doctorId, { tx });
    const note = await notesRepo.insert(
      ctx.db,
      {
        patientId: patient.id,
        authorUserId: ctx.actor.id,
        authorName: doctor?.name ?? ctx.actor.username,
        body: input.body,
        correctsNoteId: input.correctsNoteId ?? null,
      },
      tx,
    );
    await recordAudit(ctx, { action: 'create', patientIds: [patient.id] }, tx);
    await recordEvent(ctx.db, tx, {
      type: 'note.created',
      entityId: note.id,
      patientId: patient.id,
      fields: note.correctsNoteId === null ? [] : ['correctsNoteId'],
    });
    return noteView(note, null);
  });
}

/** A note with when it was corrected, if it was (FHIR's DocumentReference version). */
export interface NoteRecordView extends NoteView {
  correctedAt: Date | null;
}

/**
 * A page of a patient's notes as `listNotes` pages them (and audits the read), each with the note
 * that corrected it and when; with `total`, also how many notes the patient has.
 */
export async function listNoteRecords(
  ctx: Pick<DomainContext, 'db' | 'reads' | 'actor' | 'scope' | 'requestId' | 'ip' | 'procedure'>,
  input: z.output<typeof noteListInput>,
  options: { total?: boolean } = {},
): Promise<Page<NoteRecordView> & { total?: number }> {
  const patientId = await findPatientId(ctx, input.patientId);
  const db = await readDatabase(ctx);
  const rows = await notesRepo.listOfPatient(db, patientId, input);
  const page = pageOf(rows, input.limit, (note) => note);
  const corrections = await notesRepo.correctionsOf(
    db,
    patientId,
    page.items.map((n) => n.id),
  );
  const total = options.total ? await notesRepo.countOfPatient(db, patientId) : undefined;
  await recordAudit(ctx, { action: 'read', patientIds: [patientId] });
  return {
    items: page.items.map((note) => {
      const correction = corrections.get(note.id);
      return { ...noteView(note, correction?.id ?? null), correctedAt: correction?.createdAt ?? null };
    }),
    nextCursor: page.nextCursor,
    ...(total === undefined ? {} : { total }),
  };
}

/** One note by id with its correction: NOT_FOUND when absent or its patient is out of the caller's scope. */
export async function getNoteRecord(
  ctx: Pick<DomainContext, 'db' | 'reads' | 'actor' | 'scope' | 'requestId' | 'ip' | 'procedure'>,
  id: number,
): Promise<NoteRecordView> {
  const db = await readDatabase(ctx);
  const note = await notesRepo.find(db, id);
  if (!note) throw notFound('Note');
  await findPatientId(ctx, note.patientId).catch((error: unknown) => {
    throw isNotFound(error) ? notFound('Note') : error;
  });
  const correction = (await notesRepo.correctionsOf(db, note.patientId, [note.id])).get(note.id);
  await recordAudit(ctx, { action: 'read', patientIds: [note.patientId] });
  return { ...noteView(note, correction?.id ?? null), correctedAt: correction?.createdAt ?? null };
}

/** `notes.list`: a page of a patient's notes, newest first, each with the note that corrected it. */
export async function listNotes(
  ctx: Pick<DomainContext, 'db' | 'reads' | 'actor' | 'scope' | 'requestId' | 'ip' | 'procedure'>,
  input: z.output<typeof noteListInput>,
): Promise<Page<NoteView>> {
  const page = await listNoteRecords(ctx, input);
  return { items: page.items.map(({ correctedAt: _, ...note }) => note), nextCursor: page.nextCursor };
}
