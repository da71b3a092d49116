import { z } from 'zod';
import { SCOPES, type Scope } from '../access/policy';
import { parseIsoInstant } from '../../lib/dates';
import { listInput } from '../../lib/pagination';
import { idSchema } from '../../lib/schemas';

/** A token lives this long when the request names no expiry. */
const DEFAULT_TOKEN_DAYS = 90;
/** The longest `expiresInDays` accepted; `expiresAt` may be at most one calendar year ahead. */
const MAX_TOKEN_DAYS = 365;

const DAY_MS = 24 * 60 * 60 * 1000;

/** Token names: 1-80 letters, digits, `_ . -` (they appear as the actor in audit rows). */
const tokenNameSchema = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9_.-]{1,80}$/, 'must be 1-80 letters, digits, _ . or -');

const isScope = (value: string): value is Scope => (SCOPES as readonly string[]).includes(value);

/** One scope; an unknown one is named in the error along with the known ones. */
const scopeSchema = z
  .string()
  .refine(isScope, (value) => ({ message: `unknown scope '${value}' (known: ${SCOPES.join(', ')})` }));

/** A Date (tRPC, superjson) or an ISO 8601 string (REST JSON; without a zone it is UTC). */
const instantSchema = z.union([z.date(), z.string()]).transform((value, ctx) => {
  if (value instanceof Date) return value;
  const instant = parseIsoInstant(value);
  if (!instant) {
    ctx.addIssue({
      code: 'custom',
      message: 'must be an ISO 8601 date or date-time, e.g. 2027-01-31 or 2027-01-31T09:00:00Z',
    });
    return z.NEVER;
  }
  return instant;
});

function oneYearAfter(now: Date): Date {
  const limit = new Date(now);
  limit.setUTCFullYear(limit.getUTCFullYear() + 1);
  return limit;
}

/**
 * `serviceTokens.create` input: a unique name, a non-empty set of scopes, and an expiry given
 * either as `expiresAt` or as `expiresInDays` (default 90 days, at most one year, in the future).
 * Parses to `{ name, scopes, expiresAt }` with duplicate scopes removed.
 */
export const createServiceTokenInput = z
  .object({
    name: tokenNameSchema,
    scopes: z.array(scopeSchema).min(1, 'must name at least one scope').max(50),
    expiresAt: instantSchema.optional(),
    expiresInDays: z.number().int().min(1).max(MAX_TOKEN_DAYS).optional(),
  })
  .strict()
  .transform((input, ctx) => {
    const now = new Date();
    if (input.expiresAt && input.expiresInDays !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['expiresAt'],
        message: 'give expiresAt or expiresInDays, not both',
      });
      return z.NEVER;
    }
    const expiresAt =
      input.expiresAt ?? new Date(now.getTime() + (input.expiresInDays ?? DEFAULT_TOKEN_DAYS) * DAY_MS);
    if (expiresAt.getTime() <= now.getTime()) {
      ctx.addIssue({ code: 'custom', path: ['expiresAt'], message: 'must be in the future' });
      return z.NEVER;
    }
    if (expiresAt.getTime() > oneYearAfter(now).getTime()) {
      ctx.addIssue({ code: 'custom', path: ['expiresAt'], message: 'must be at most one year from now' });
      return z.NEVER;
    }
    return { name: input.name, scopes: [...new Set(input.scopes)], expiresAt };
  });

/** What `serviceTokens.create` works with once its input is parsed. */
export type CreateServiceToken = z.output<typeof createServiceTokenInput>;

/** A token's state: usable, past its expiry, or revoked (revocation wins). */
export const TOKEN_STATUSES = ['active', 'expired', 'revoked'] as const;
/** One of `TOKEN_STATUSES`. */
export type ServiceTokenStatus = (typeof TOKEN_STATUSES)[number];

/** `serviceTokens.list` input: the usual page and search (name or prefix), plus a status filter. */
export const listServiceTokensInput = listInput.extend({ status: z.enum(TOKEN_STATUSES).optional() });

/** `serviceTokens.revoke` input. */
export const revokeServiceTokenInput = z.object({ id: idSchema }).strict();
