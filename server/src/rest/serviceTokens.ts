import type { Hono } from 'hono';
import type { AppEnv } from '../context';
import { createServiceTokenInput, listServiceTokensInput } from '../routers/serviceTokens/schemas';
import { readListQuery } from './listQuery';
import { callerFor, parseBody, pathId, readJson, rest, toCamel, toSnake } from './util';

/**
 * `POST /service-tokens` (201, the token shown once), `GET /service-tokens`,
 * `POST /service-tokens/:id/revoke` and `DELETE /service-tokens/:id` (both revoke, 200).
 */
export function serviceTokensRoutes(app: Hono<AppEnv>): void {
  app.post(
    '/service-tokens',
    rest(async (c) => {
      const input = parseBody(createServiceTokenInput, toCamel(await readJson(c)));
      const result = await callerFor(c).serviceTokens.create(input);
      return c.json(toSnake({ token: result.token, ...result.serviceToken }), 201);
    }),
  );

  app.get(
    '/service-tokens',
    rest(async (c) => {
      const input = parseBody(listServiceTokensInput, {
        ...readListQuery(c),
        search: c.req.query('search'),
        status: c.req.query('status'),
      });
      const result = await callerFor(c).serviceTokens.list(input);
      return c.json(toSnake(result.items), 200);
    }),
  );

  const revoke = rest(async (c) => {
    const token = await callerFor(c).serviceTokens.revoke({ id: pathId(c) });
    return c.json(toSnake(token), 200);
  });
  app.post('/service-tokens/:id/revoke', revoke);
  app.delete('/service-tokens/:id', revoke);
}
