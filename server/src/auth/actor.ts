import type { Actor, AppServices } from '../context';
import type { Scope } from '../scopes';
import { SERVICE_TOKEN_PREFIX, sha256Hex } from './tokens';

const LAST_USED_PRECISION_MS = 60_000;

/**
 * Who a request comes from: a service token or a session token in `Authorization: Bearer`, else
 * the session cookie. An unknown, expired or revoked token is no one (the procedures then answer
 * UNAUTHORIZED where signing in is needed).
 */
export async function resolveActor(
  services: Pick<AppServices, 'db' | 'sessions'>,
  headers: { authorization?: string; cookie?: string },
): Promise<Actor | null> {
  const bearer = services.sessions.readBearer(headers.authorization);
  if (bearer?.startsWith(SERVICE_TOKEN_PREFIX)) return resolveServiceToken(services, bearer);
  const token = bearer ?? services.sessions.readCookie(headers.cookie);
  if (!token) return null;
  const session = await services.sessions.validate(token);
  if (!session) return null;
  return { type: 'user', ...session.user, sessionToken: token };
}

async function resolveServiceToken(services: Pick<AppServices, 'db'>, token: string): Promise<Actor | null> {
  const row = await services.db.models.ServiceToken.findOne({ where: { tokenHash: sha256Hex(token) } });
  const now = Date.now();
  if (!row || row.revokedAt || row.expiresAt.getTime() <= now) return null;
  if (!row.lastUsedAt || now - row.lastUsedAt.getTime() > LAST_USED_PRECISION_MS) {
    await row.update({ lastUsedAt: new Date(now) });
  }
  return { type: 'service', id: row.id, name: row.name, scopes: row.scopes as Scope[] };
}
