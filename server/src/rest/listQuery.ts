import type { Context as HonoContext } from 'hono';
import { z } from 'zod';
import type { AppEnv } from '../context';
import './route'; // `.openapi()` on zod schemas
import { parseBody } from './util';

const whole = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

/** `?limit=` and `?after=`, as a REST list reads them. */
export const listQuery = z.object({
  limit: whole(1, 1000).default('100').openapi({ description: 'Items per page, 1-1000 (default 100)' }),
  after: whole(1, Number.MAX_SAFE_INTEGER)
    .optional()
    .openapi({ description: 'The last id of the previous page: the page starts after it' }),
});

/**
 * The paging of a REST list: `?limit=` (default 100, at most 1000) and `?after=<id>`, as the
 * procedures' `{ limit, cursor }`. A bad value is a 400 naming the parameter.
 */
export function readListQuery(c: HonoContext<AppEnv>): { limit: number; cursor?: number } {
  const query = parseBody(listQuery, { limit: c.req.query('limit'), after: c.req.query('after') });
  return { limit: query.limit, cursor: query.after };
}
