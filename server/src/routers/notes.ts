import { router } from '../trpc';

/** The `notes` domain router. */
export const notesRouter = router({});
