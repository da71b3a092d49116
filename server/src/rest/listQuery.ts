import type { Context as HonoContext } from 'hono';
import { z } from 'zod';
import type { AppEnv } from '../context';
import { parseBody } from './util';

const whole = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const listQuery = z.object({
  limit: whole(1, 1000).default('100'),
  after: whole(1, Number.MAX_SAFE_INTEGER).optional(),
});

/**
 * The paging of a REST list: `?limit=` (default 100, at most 1000) and `?after=<id>`, as the
 * procedures' `{ limit, cursor }`. A bad value is a 400 naming the parameter.
 */
export function readListQuery(c: HonoContext<AppEnv>): { limit: number; cursor?: number } {
  const query = parseBody(listQuery, { limit: c.req.query('limit'), after: c.req.query('after') });
  return { limit: query.limit, cursor: query.after };
}
