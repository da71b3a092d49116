import type { Attributes } from 'sequelize';
import type { Note } from '@hdms/db';
import { z } from 'zod';
import { findPatientInScope } from '../domain/access/policy';
import { badInput } from '../domain/errors';
import { listPage, pageInput } from '../lib/pagination';
import { idSchema, longText } from '../lib/schemas';
import { roleProcedure } from './procedures';
import { recordEvent } from '../domain/events/record';
import { router } from './init';
import { recordAudit } from '../domain/audit/record';

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
export function noteView(note: Attributes<Note>, correctedByNoteId: number | null): NoteView {
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

const createInput = z
  .object({
    patientId: idSchema,
    body: longText(MAX_NOTE_LENGTH)
      .refine((v) => v !== '', { message: 'is required' })
      .refine((v) => v.trim() !== '', { message: 'must not be blank' }),
    correctsNoteId: idSchema.optional(),
  })
  .strict();

const listNotesInput = pageInput.extend({ patientId: idSchema }).strict();

/**
 * Clinical notes: append-only (no update, no delete). A correction is a new note naming the
 * note it corrects; each note is corrected at most once, so corrections form a chain.
 */
export const notesRouter = router({
  create: roleProcedure('doctor')
    .meta({
      description:
        'Add a note to one of your patients (doctor). To correct a note, add a new one with `correctsNoteId`: it must be a note of the same patient that has not been corrected yet (correct the latest correction instead).',
    })
    .input(createInput)
    .mutation(async ({ ctx, input }) => {
      const { Doctor, Note } = ctx.db.models;
      return ctx.db.transaction(async (tx) => {
        // Locking the patient row serialises note writes per patient (one correction per note).
        const patient = await findPatientInScope(ctx.db.models, ctx.actor, input.patientId, {
          transaction: tx,
          lock: 'update',
        });
        if (input.correctsNoteId !== undefined) {
          const corrected = await Note.findOne({
            attributes: ['id'],
            where: { id: input.correctsNoteId, patientId: patient.id },
            transaction: tx,
          });
          if (!corrected) throw badInput(['correctsNoteId'], 'must be a note of the same patient');
          const correction = await Note.findOne({
            attributes: ['id'],
            where: { correctsNoteId: corrected.id },
            transaction: tx,
          });
          if (correction) {
            throw badInput(
              ['correctsNoteId'],
              `note ${corrected.id} is already corrected by note ${correction.id}; correct that one`,
            );
          }
        }
        // In scope, so the patient's doctor is the caller's linked doctor record.
        const doctor = patient.doctorId
          ? await Doctor.findByPk(patient.doctorId, { attributes: ['name'], transaction: tx })
          : null;
        const note = await Note.create(
          {
            patientId: patient.id,
            authorUserId: ctx.actor.id,
            authorName: doctor?.name ?? ctx.actor.username,
            body: input.body,
            correctsNoteId: input.correctsNoteId ?? null,
          },
          { transaction: tx },
        );
        await recordAudit(ctx, { action: 'create', patientIds: [patient.id] }, tx);
        await recordEvent(tx, {
          type: 'note.created',
          entityId: note.id,
          patientId: patient.id,
          fields: note.correctsNoteId === null ? [] : ['correctsNoteId'],
        });
        return noteView(note, null);
      });
    }),

  list: roleProcedure('doctor', 'patient')
    .meta({
      description:
        "A patient's notes, newest first, a page at a time (cursor = the last id seen); each says which note it corrects and which note corrected it. Only the patient's doctor and the patient: admins and services never read notes.",
    })
    .input(listNotesInput)
    .query(async ({ ctx, input }) => {
      const { Note } = ctx.db.models;
      const patient = await findPatientInScope(ctx.db.models, ctx.actor, input.patientId, {
        attributes: ['id'],
      });
      const notes = await listPage(
        Note,
        input,
        { where: [{ patientId: patient.id }], direction: 'desc' },
        (n) => n,
      );
      const corrections = notes.items.length
        ? await Note.findAll({
            attributes: ['id', 'correctsNoteId'],
            where: { patientId: patient.id, correctsNoteId: notes.items.map((n) => n.id) },
          })
        : [];
      const correctedBy = new Map(corrections.map((c) => [c.correctsNoteId, c.id]));
      await recordAudit(ctx, { action: 'read', patientIds: [patient.id] });
      return {
        items: notes.items.map((note) => noteView(note, correctedBy.get(note.id) ?? null)),
        nextCursor: notes.nextCursor,
      };
    }),
});
