import type { Hono } from 'hono';
import type { AppEnv } from '../context';
import { authRoutes } from './auth';
import { checkHistoryRoutes } from './checkHistory';
import { doctorsRoutes } from './doctors';
import { importsRoutes } from './imports';
import { jobResultsRoutes } from './jobResults';
import { jobsRoutes } from './jobs';
import { patientsRoutes } from './patients';
import { serviceTokensRoutes } from './serviceTokens';
import { usersRoutes } from './users';

/** The original system's REST endpoints, each a thin wrapper over a tRPC procedure. */
export function mountRest(app: Hono<AppEnv>): void {
  authRoutes(app);
  doctorsRoutes(app);
  patientsRoutes(app);
  importsRoutes(app);
  jobResultsRoutes(app);
  jobsRoutes(app);
  checkHistoryRoutes(app);
  usersRoutes(app);
  serviceTokensRoutes(app);
}
