import { z } from 'zod';
import { SCOPES } from '../domain/access/policy';
import {
  createServiceTokenInput,
  listServiceTokensInput,
  TOKEN_STATUSES,
} from '../domain/serviceTokens/schemas';
import type { ServiceTokenView } from '../domain/serviceTokens/tokens';
import { listQuery, readListQuery } from './listQuery';
import { instant, type RestRoute, restRoute } from './route';
import { callerFor, parseBody, pathId, readJson, restView, toCamel } from './util';

const tokenSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  scopes: z.array(z.enum(SCOPES)),
  tokenPrefix: z.string().openapi({ description: "The token's first characters, to recognise it" }),
  status: z.enum(TOKEN_STATUSES),
  expiresAt: instant(),
  revokedAt: instant().nullable(),
  lastUsedAt: instant().nullable(),
  createdAt: instant(),
  createdBy: z.object({ id: z.number().int(), username: z.string() }).nullable(),
});
const createdSchema = tokenSchema.extend({
  token: z.string().openapi({ description: 'The token itself: shown this once, never again' }),
});
const tokenQuery = listQuery.extend({
  search: listServiceTokensInput.shape.search,
  status: listServiceTokensInput.shape.status,
});

const revoke = restRoute({
  method: 'post',
  path: '/service-tokens/:id/revoke',
  summary: 'Revoke a service token',
  description: 'At once: the next request with it answers 401. Revoking a revoked token changes nothing.',
  access: 'admin',
  answers: { 200: { description: 'The token, revoked', schema: tokenSchema } },
  errors: [400, 401, 403, 404],
  handler: async (c) => {
    const token: ServiceTokenView = await callerFor(c).serviceTokens.revoke({ id: pathId(c) });
    return c.json(restView(token, tokenSchema), 200);
  },
});

/**
 * `POST /service-tokens` (201, the token shown once), `GET /service-tokens`,
 * `POST /service-tokens/:id/revoke` and `DELETE /service-tokens/:id` (both revoke, 200).
 */
export const serviceTokensRoutes: RestRoute[] = [
  restRoute({
    method: 'post',
    path: '/service-tokens',
    summary: 'Create a service token',
    description:
      'For an internal service: a name, its scopes and when it expires. The answer holds the token, shown only this once.',
    access: 'admin',
    body: { json: createServiceTokenInput },
    answers: { 201: { description: 'The token and its record', schema: createdSchema } },
    errors: [400, 401, 403, 409],
    handler: async (c) => {
      const input = parseBody(createServiceTokenInput, toCamel(await readJson(c)));
      const result = await callerFor(c).serviceTokens.create(input);
      return c.json(restView({ token: result.token, ...result.serviceToken }, createdSchema), 201);
    },
  }),
  restRoute({
    method: 'get',
    path: '/service-tokens',
    summary: 'List service tokens',
    access: 'admin',
    query: tokenQuery,
    answers: {
      200: { description: 'A page of tokens (never the tokens themselves)', schema: z.array(tokenSchema) },
    },
    errors: [400, 401, 403],
    handler: async (c) => {
      const input = parseBody(listServiceTokensInput, {
        ...readListQuery(c),
        search: c.req.query('search'),
        status: c.req.query('status'),
      });
      const result = await callerFor(c).serviceTokens.list(input);
      return c.json(
        result.items.map((token) => restView(token, tokenSchema)),
        200,
      );
    },
  }),
  revoke,
  { ...revoke, method: 'delete', path: '/service-tokens/:id' },
];
