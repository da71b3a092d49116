import type { Note } from '@hdms/db';
import { z } from 'zod';
import { findPatientInScope } from '../access';
import { recordAudit } from '../audit';
import { badItem } from '../clinical';
import { roleProcedure } from '../procedures/index';
import { router } from '../trpc';
import { idBefore, idSchema, listInput, page } from '../validation';

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
export function noteView(note: Note, correctedByNoteId: number | null): NoteView {
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
export const MAX_NOTE_LENGTH = 20_000;

const createInput = z
  .object({
    patientId: idSchema,
    body: z
      .string()
      .min(1, 'is required')
      .max(MAX_NOTE_LENGTH, `must be at most ${MAX_NOTE_LENGTH} characters`)
      .refine((v) => v.trim() !== '', { message: 'must not be blank' }),
    correctsNoteId: idSchema.optional(),
  })
  .strict();

const listNotesInput = listInput.omit({ search: true }).extend({ patientId: idSchema }).strict();

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
          lock: true,
        });
        if (input.correctsNoteId !== undefined) {
          const corrected = await Note.findOne({
            attributes: ['id'],
            where: { id: input.correctsNoteId, patientId: patient.id },
            transaction: tx,
          });
          if (!corrected) throw badItem(['correctsNoteId'], 'must be a note of the same patient');
          const correction = await Note.findOne({
            attributes: ['id'],
            where: { correctsNoteId: corrected.id },
            transaction: tx,
          });
          if (correction) {
            throw badItem(
              ['correctsNoteId'],
              `note ${corrected.id} is already corrected by note ${correction.id}; correct that one`,
            );
          }
        }
        const doctor =
          ctx.actor.type === 'user' && ctx.actor.doctorId !== null
            ? await Doctor.findByPk(ctx.actor.doctorId, { attributes: ['name'], transaction: tx })
            : null;
        const note = await Note.create(
          {
            patientId: patient.id,
            authorUserId: ctx.actor.id,
            authorName: doctor?.name ?? (ctx.actor.type === 'user' ? ctx.actor.username : ctx.actor.name),
            body: input.body,
            correctsNoteId: input.correctsNoteId ?? null,
          },
          { transaction: tx },
        );
        await recordAudit(ctx, { action: 'create', patientIds: [patient.id] }, tx);
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
      const patient = await findPatientInScope(ctx.db.models, ctx.actor, input.patientId);
      const rows = await Note.findAll({
        where: { patientId: patient.id, ...idBefore(input.cursor) },
        order: [['id', 'DESC']],
        limit: input.limit + 1,
      });
      const corrections = rows.length
        ? await Note.findAll({
            attributes: ['id', 'correctsNoteId'],
            where: { patientId: patient.id, correctsNoteId: rows.map((r) => r.id) },
          })
        : [];
      const correctedBy = new Map(corrections.map((c) => [c.correctsNoteId, c.id]));
      await recordAudit(ctx, { action: 'read', patientIds: [patient.id] });
      return page(
        rows.map((row) => noteView(row, correctedBy.get(row.id) ?? null)),
        input.limit,
      );
    }),
});
