import { createNote, listNotes, noteCreateInput, noteListInput } from '../domain/notes/index';
import { router } from './init';
import { roleProcedure } from './procedures';

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
    .input(noteCreateInput)
    .mutation(({ ctx, input }) => createNote(ctx, input)),

  list: roleProcedure('doctor', 'patient')
    .meta({
      description:
        "A patient's notes, newest first, a page at a time (cursor = the last id seen); each says which note it corrects and which note corrected it. Only the patient's doctor and the patient: admins and services never read notes.",
    })
    .input(noteListInput)
    .query(({ ctx, input }) => listNotes(ctx, input)),
});
