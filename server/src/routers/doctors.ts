import { router } from '../trpc';

/** The `doctors` domain router. */
export const doctorsRouter = router({});
