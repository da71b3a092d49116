import { z } from 'zod';
import { type RestRoute, restRoute } from './route';

const healthSchema = z.object({
  status: z.enum(['ok', 'unavailable']),
  error: z.string().optional(),
});

/**
 * `GET /healthz`, for load balancers and container health checks. `app.ts` mounts it ahead of
 * every middleware but the request id, so a health check never touches sessions or bodies.
 */
export const healthRoute: RestRoute = restRoute({
  method: 'get',
  path: '/healthz',
  summary: 'Liveness and database health',
  description: 'For load balancers and container health checks: 503 when the database does not answer.',
  access: 'anyone',
  answers: {
    200: { description: 'Serving', schema: healthSchema },
    503: { description: 'The database does not answer', schema: healthSchema },
  },
  errors: [],
  handler: async (c) => {
    try {
      await c.get('services').db.ping();
      return c.json({ status: 'ok' } satisfies z.input<typeof healthSchema>);
    } catch {
      return c.json(
        { status: 'unavailable', error: 'Database unavailable' } satisfies z.input<typeof healthSchema>,
        503,
      );
    }
  },
});
