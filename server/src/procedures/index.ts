import type { Role } from '@hdms/db';
import { TRPCError } from '@trpc/server';
import type { Actor, ServiceActor, UserActor } from '../context';
import { safeError, toTRPCError } from '../errors';
import { baseProcedure } from '../trpc';

/**
 * Every procedure: knows its own path (for audit rows) and maps database failures to the
 * contract's errors, so that no raw database error reaches a client.
 */
export const publicProcedure = baseProcedure.use(async ({ ctx, path, next }) => {
  const result = await next({ ctx: { ...ctx, procedure: path } });
  if (!result.ok) {
    if (result.error.code !== 'INTERNAL_SERVER_ERROR') throw result.error;
    const error = toTRPCError(result.error.cause ?? result.error);
    if (error.code === 'INTERNAL_SERVER_ERROR')
      ctx.logger.error({ err: safeError(error.cause), path }, 'procedure failed');
    throw error;
  }
  return result;
});

/**
 * Signed in. People pass; a service passes only where the procedure's meta names a scope the
 * token holds. Narrows `ctx.actor` to non-null.
 */
export const authedProcedure = publicProcedure.use(({ ctx, meta, next }) => {
  const actor = ctx.actor;
  if (!actor) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Sign in first' });
  if (actor.type === 'service' && !(meta?.scope && actor.scopes.includes(meta.scope))) {
    throw new TRPCError({
      code: 'FORBIDDEN',
      message: meta?.scope ? `This token lacks the ${meta.scope} scope` : 'Not available to service tokens',
    });
  }
  return next({ ctx: { ...ctx, actor: actor as Actor } });
});

/** Signed in as a person (not a service). Narrows `ctx.actor` to a `UserActor`. */
export const userProcedure = publicProcedure.use(({ ctx, next }) => {
  const actor = ctx.actor;
  if (!actor) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Sign in first' });
  if (actor.type !== 'user') throw new TRPCError({ code: 'FORBIDDEN', message: 'Only for signed-in people' });
  return next({ ctx: { ...ctx, actor } });
});

/** Signed in with one of `roles`, or a service holding the procedure's scope. */
export function roleProcedure(...roles: Role[]) {
  return authedProcedure.use(({ ctx, next }) => {
    if (ctx.actor.type === 'user' && !roles.includes(ctx.actor.role)) {
      throw new TRPCError({ code: 'FORBIDDEN', message: `Only for ${roles.join(' or ')} accounts` });
    }
    return next();
  });
}

/** True for a person with this role. */
export function isRole(actor: Actor, role: Role): actor is UserActor {
  return actor.type === 'user' && actor.role === role;
}

/** True for a service token. */
export function isService(actor: Actor): actor is ServiceActor {
  return actor.type === 'service';
}
