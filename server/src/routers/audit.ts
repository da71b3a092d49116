import { router } from '../trpc';

/** The `audit` domain router. */
export const auditRouter = router({});
