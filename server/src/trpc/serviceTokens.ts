import { roleProcedure } from './procedures';
import { router } from './init';
import {
  createServiceTokenInput,
  listServiceTokensInput,
  revokeServiceTokenInput,
} from '../domain/serviceTokens/schemas';
import { createServiceToken, listServiceTokens, revokeServiceToken } from '../domain/serviceTokens/tokens';

/** Admins, and people only: services can never manage service tokens. */
const adminProcedure = roleProcedure('admin');

/** Service tokens for internal services: issue, list, revoke (admins only, never services). */
export const serviceTokensRouter = router({
  create: adminProcedure
    .meta({
      description:
        'Issue a service token with a unique name, scopes and an expiry (default 90 days, at most one year). ' +
        'The token is returned once, here; only its hash is stored.',
    })
    .input(createServiceTokenInput)
    .mutation(({ ctx, input }) => createServiceToken(ctx, input)),

  list: adminProcedure
    .meta({
      description:
        'Service tokens with their prefix, scopes, status, expiry, last use and creator (never the token).',
    })
    .input(listServiceTokensInput.default({}))
    .query(({ ctx, input }) => listServiceTokens(ctx, input)),

  revoke: adminProcedure
    .meta({
      description: 'Revoke a service token: its next request is refused. Revoking twice changes nothing.',
    })
    .input(revokeServiceTokenInput)
    .mutation(({ ctx, input }) => revokeServiceToken(ctx, input.id)),
});
