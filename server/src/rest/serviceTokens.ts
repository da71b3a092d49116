import type { Hono } from 'hono';
import type { AppEnv } from '../context';
import { readListQuery } from './listQuery';
import { callerFor, readJson, rest, toCamel, toSnake } from './util';

/**
 * `POST /service-tokens` (201, the token shown once), `GET /service-tokens`,
 * `POST /service-tokens/:id/revoke` and `DELETE /service-tokens/:id` (both revoke, 200).
 */
export function serviceTokensRoutes(app: Hono<AppEnv>): void {
  app.post(
    '/service-tokens',
    rest(async (c) => {
      const result = await callerFor(c).serviceTokens.create(toCamel(await readJson(c)) as never);
      return c.json(toSnake({ token: result.token, ...result.serviceToken }), 201);
    }),
  );

  app.get(
    '/service-tokens',
    rest(async (c) => {
      const result = await callerFor(c).serviceTokens.list({
        ...readListQuery(c),
        search: c.req.query('search'),
        status: c.req.query('status') as never,
      });
      return c.json(toSnake(result.items), 200);
    }),
  );

  const revoke = rest(async (c) => {
    const token = await callerFor(c).serviceTokens.revoke({ id: Number(c.req.param('id')) });
    return c.json(toSnake(token), 200);
  });
  app.post('/service-tokens/:id/revoke', revoke);
  app.delete('/service-tokens/:id', revoke);
}
