import { router } from '../trpc';

/** The `serviceTokens` domain router. */
export const serviceTokensRouter = router({});
