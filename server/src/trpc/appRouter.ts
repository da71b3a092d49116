import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import { createCallerFactory, router } from './init';
import { accessRouter } from './access';
import { auditRouter } from './audit';
import { authRouter } from './auth';
import { checkHistoryRouter } from './checkHistory';
import { consentRouter } from './consent';
import { doctorsRouter } from './doctors';
import { eventsRouter } from './events';
import { jobsRouter } from './jobs';
import { notesRouter } from './notes';
import { patientsRouter } from './patients';
import { serviceTokensRouter } from './serviceTokens';
import { usersRouter } from './users';

/** Every domain router, merged: the whole tRPC API. */
export const appRouter = router({
  auth: authRouter,
  users: usersRouter,
  doctors: doctorsRouter,
  patients: patientsRouter,
  checkHistory: checkHistoryRouter,
  notes: notesRouter,
  audit: auditRouter,
  serviceTokens: serviceTokensRouter,
  jobs: jobsRouter,
  events: eventsRouter,
  access: accessRouter,
  consent: consentRouter,
});

/** The API's type, for clients (the SDK imports it with `import type`). */
export type AppRouter = typeof appRouter;
/** Inputs of every procedure, by path. */
export type RouterInputs = inferRouterInputs<AppRouter>;
/** Outputs of every procedure, by path. */
export type RouterOutputs = inferRouterOutputs<AppRouter>;

/** Server-side caller: the REST endpoints and tests call procedures through it. */
export const createCaller = createCallerFactory(appRouter);
