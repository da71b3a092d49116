import { router } from '../trpc';

/** The `patients` domain router. */
export const patientsRouter = router({});
