import type { Hono } from 'hono';
import type { AppEnv } from '../context';
import { callerFor, pathId, rest, toSnake } from './util';

/**
 * `GET /jobs/:id`: a background job's status, attempts, progress and result or error, in snake_case
 * (`{ id, type, status, attempts, max_attempts, progress, result?, error?, … }`); 404 for a job that
 * is not the caller's (admins see every job).
 */
export function jobsRoutes(app: Hono<AppEnv>): void {
  app.get(
    '/jobs/:id',
    rest(async (c) => {
      const job = await callerFor(c).jobs.get({ id: pathId(c) });
      return c.json(toSnake(job), 200);
    }),
  );
}
