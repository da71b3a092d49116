import type { Role } from '@hdms/db';
import type { Actor, ServiceActor, UserActor } from '../context';
import { EVENT_SCOPES, mfaEnrollmentRefusal, type TierRule, tierRefusal } from '../domain/access/policy';
import { badRequest, forbidden, safeError, unauthorized } from '../domain/errors';
import { toTRPCError } from '../errors';
import { recordRefusal } from '../domain/audit/record';
import { baseProcedure, middleware } from './init';
import { loadScope } from '../domain/access/scope';

/**
 * The procedure tiers. Each checks who may call (the rules are `access/`'s) and narrows
 * `ctx.actor` to exactly who passes, so resolvers never re-check the caller's kind or role.
 */

/**
 * Every procedure: knows its own path (for audit rows), maps database failures to the contract's
 * errors (no raw database error reaches a client) and puts refused attempts on patients' records
 * on the audit trail.
 */
export const publicProcedure = baseProcedure.use(async ({ ctx, path, getRawInput, next }) => {
  const result = await next({ ctx: { ...ctx, procedure: path } });
  if (result.ok) return result;
  const error =
    result.error.code === 'INTERNAL_SERVER_ERROR'
      ? toTRPCError(result.error.cause ?? result.error)
      : result.error;
  if (error.code === 'INTERNAL_SERVER_ERROR')
    ctx.logger.error({ err: safeError(error.cause), path }, 'procedure failed');
  if (error.code === 'FORBIDDEN' || error.code === 'NOT_FOUND') {
    // An input that cannot be read (sent without superjson's wrapper) is audited as none.
    const input = await getRawInput().catch(() => undefined);
    await recordRefusal({ ...ctx, procedure: path }, input).catch((auditError: unknown) =>
      ctx.logger.error({ err: safeError(auditError), path }, 'could not audit a refused call'),
    );
  }
  throw error;
});

/**
 * A procedure behind `rule` (and, for an account that must still enroll in MFA, behind that: see
 * `mfaEnrollmentRefusal`); the resolver's `ctx.actor` is `A`, and `ctx.scope` the actor's scope
 * as it stands (`loadScope`: for a linked doctor one query of their consents and emergency
 * accesses, for anyone else none), computed once for the request after the tier admitted it.
 */
function tier<A extends Actor>(rule: TierRule) {
  return publicProcedure.use(async ({ ctx, meta, next }) => {
    if (!ctx.actor) throw unauthorized(ctx.refusal ?? undefined);
    const refusal =
      tierRefusal(ctx.actor, rule, meta?.scope) ??
      mfaEnrollmentRefusal(ctx.actor, ctx.config.mfaRequiredRoles, meta?.mfaEnrollment === true);
    if (refusal) throw forbidden(refusal);
    const scope = await loadScope(ctx.db, ctx.actor);
    return next({ ctx: { ...ctx, actor: ctx.actor as A, scope } });
  });
}

/** Any signed-in person, or a service holding the procedure's meta scope. */
export const authedProcedure = tier<Actor>({ roles: 'any', services: true });

/**
 * Any signed-in person, or a service holding any scope that receives events (`EVENT_SCOPES`):
 * what each then receives is decided per event (`mayReceiveEvent`).
 */
export const subscriberProcedure = tier<Actor>({ roles: 'any', services: true, anyOfScopes: EVENT_SCOPES });

/** Signed in as a person (never a service). */
export const userProcedure = tier<UserActor>({ roles: 'any', services: false });

/** People with one of `roles` (never services): `roleProcedure('doctor')` hands the resolver a doctor. */
export function roleProcedure<R extends Role>(...roles: R[]) {
  return tier<UserActor<R>>({ roles, services: false });
}

/** People with one of `roles`, or a service holding the procedure's meta scope. */
export function roleOrServiceProcedure<R extends Role>(...roles: R[]) {
  return tier<UserActor<R> | ServiceActor>({ roles, services: true });
}

/**
 * Middleware for one-object procedures: an array is a clear BAD_REQUEST naming the batch
 * procedure, before the input is parsed (`create` takes one object, `createMany` an array).
 */
export function rejectArray(batchProcedure: string) {
  return middleware(async ({ getRawInput, next }) => {
    if (Array.isArray(await getRawInput())) {
      throw badRequest(`This procedure takes one object; send an array to ${batchProcedure}`);
    }
    return next();
  });
}
