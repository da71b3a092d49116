import type { Scope } from '../domain/access/policy';
import { serviceTokensRepo } from '@hdms/db';
import type { Actor, AppServices } from '../context';
import { SERVICE_TOKEN_PREFIX, sha256Hex } from './tokens';

const LAST_USED_PRECISION_MS = 60_000;

/** Who a request comes from, and why its credentials were refused (for the UNAUTHORIZED message). */
export interface Caller {
  actor: Actor | null;
  /** Set when a token was sent but is not valid, e.g. `This service token has been revoked`. */
  refusal: string | null;
  /** When the credential stops being valid unless used again (a session's idle deadline), if known. */
  expiresAt?: Date;
  /** With read replicas: the position the caller's reads wait for (`SessionUserAttributes.readAfter`). */
  readAfter?: string | null;
}

/** The refusal of an `Authorization` header that is not `Bearer <token>` (a bare token, say). */
export const MALFORMED_AUTHORIZATION =
  'The Authorization header must be "Bearer <token>" (the word Bearer, a space, then the token from sign-in)';

/**
 * Who a request comes from: a service token or a session token in `Authorization: Bearer`, else
 * the session cookie. An unknown, expired or revoked token is no one; procedures that need a
 * caller then answer UNAUTHORIZED with `refusal` (which says so for an `Authorization` header
 * without `Bearer `, when no cookie signs the request in instead).
 */
export async function resolveCaller(
  services: Pick<AppServices, 'db' | 'sessions'>,
  headers: { authorization?: string; cookie?: string },
): Promise<Caller> {
  const bearer = services.sessions.readBearer(headers.authorization);
  if (bearer?.startsWith(SERVICE_TOKEN_PREFIX)) return resolveServiceToken(services, bearer);
  const token = bearer ?? services.sessions.readCookie(headers.cookie);
  if (!token) return { actor: null, refusal: headers.authorization ? MALFORMED_AUTHORIZATION : null };
  const session = await services.sessions.validate(token);
  if (!session) return { actor: null, refusal: 'Your session has ended; sign in again' };
  const { readAfter, ...user } = session.user;
  return {
    actor: { type: 'user', ...user, sessionToken: token },
    refusal: null,
    expiresAt: session.expiresAt,
    readAfter,
  };
}

async function resolveServiceToken(services: Pick<AppServices, 'db'>, token: string): Promise<Caller> {
  const row = await serviceTokensRepo.findByHash(services.db, sha256Hex(token));
  return serviceCaller(services.db, row);
}

/** The caller a service token row makes, if it is still valid (its last use noted, to the minute). */
async function serviceCaller(
  db: AppServices['db'],
  row: serviceTokensRepo.ServiceTokenRow | null,
): Promise<Caller> {
  const now = Date.now();
  if (!row) return { actor: null, refusal: 'This service token is not valid' };
  if (row.revokedAt) return { actor: null, refusal: 'This service token has been revoked' };
  if (row.expiresAt.getTime() <= now) return { actor: null, refusal: 'This service token has expired' };
  if (!row.lastUsedAt || now - row.lastUsedAt.getTime() > LAST_USED_PRECISION_MS) {
    await serviceTokensRepo.setLastUsed(db, row.id, new Date(now));
  }
  return {
    actor: { type: 'service', id: row.id, name: row.name, scopes: row.scopes as Scope[] },
    refusal: null,
    expiresAt: row.expiresAt,
  };
}

/**
 * The same caller as they stand now, for work that outlives its request (a subscription): a
 * session is validated again (and its idle deadline moved, as any use does), a service token read
 * again; a user's role, links and disabled state come fresh from the database. `actor` null,
 * with the refusal, when they may no longer act.
 */
export async function recheckCaller(
  services: Pick<AppServices, 'db' | 'sessions'>,
  actor: Actor,
): Promise<Caller> {
  if (actor.type === 'service') {
    return serviceCaller(services.db, await serviceTokensRepo.findById(services.db, actor.id));
  }
  const session = await services.sessions.validate(actor.sessionToken);
  if (!session) return { actor: null, refusal: 'Your session has ended; sign in again' };
  const { readAfter, ...user } = session.user;
  return {
    actor: { type: 'user', ...user, sessionToken: actor.sessionToken },
    refusal: null,
    expiresAt: session.expiresAt,
    readAfter,
  };
}
