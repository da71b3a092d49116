import type { Hono } from 'hono';
import type { AppEnv } from '../context';
import { authRoutes } from './auth';

/** The original system's REST endpoints, each a thin wrapper over a tRPC procedure. */
export function mountRest(app: Hono<AppEnv>): void {
  authRoutes(app);
}
