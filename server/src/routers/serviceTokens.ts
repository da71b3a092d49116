import { TRPCError } from '@trpc/server';
import { roleProcedure } from '../procedures/index';
import {
  createServiceToken,
  createServiceTokenInput,
  listServiceTokens,
  listServiceTokensInput,
  revokeServiceToken,
  revokeServiceTokenInput,
} from '../service-tokens/index';
import { router } from '../trpc';

/**
 * Admins only, and people only: no meta scope opens these to services, and the check below
 * keeps it so even if one were added by mistake.
 */
const adminProcedure = roleProcedure('admin').use(({ ctx, next }) => {
  if (ctx.actor.type !== 'user') {
    throw new TRPCError({ code: 'FORBIDDEN', message: 'Service tokens cannot manage service tokens' });
  }
  return next({ ctx: { ...ctx, actor: ctx.actor } });
});

/** Service tokens for internal services: issue, list, revoke. */
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
