import type { Hono } from 'hono';
import type { AppEnv } from '../context';
import { authRoutes } from './auth';
import { checkHistoryRoutes } from './checkHistory';
import { doctorsRoutes } from './doctors';
import { importsRoutes } from './imports';
import { jobsRoutes } from './jobs';
import { patientsRoutes } from './patients';
import type { RestRoute } from './route';
import { serviceTokensRoutes } from './serviceTokens';
import { usersRoutes } from './users';
import { rest } from './util';

/** The original system's REST endpoints (and ours beside them), each a thin wrapper over a procedure. */
export const REST_ROUTES: readonly RestRoute[] = [
  ...authRoutes,
  ...doctorsRoutes,
  ...importsRoutes,
  ...patientsRoutes,
  ...jobsRoutes,
  ...checkHistoryRoutes,
  ...usersRoutes,
  ...serviceTokensRoutes,
];

/** Mounts every REST route at its path and aliases; every failure answers the contract's `{ error }`. */
export function mountRest(app: Hono<AppEnv>): void {
  for (const route of REST_ROUTES) {
    for (const path of [route.path, ...(route.aliases ?? [])])
      app.on(route.method.toUpperCase(), path, rest(route.handler));
  }
}
