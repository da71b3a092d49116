import { router } from '../trpc';

/** The `checkHistory` domain router. */
export const checkHistoryRouter = router({});
