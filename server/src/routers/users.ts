import { router } from '../trpc';

/** The `users` domain router. */
export const usersRouter = router({});
