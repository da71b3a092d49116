import { serviceTokensRepo, usersRepo } from '@hdms/db';
import type { Scope } from '../access/policy';
import { newServiceToken, SERVICE_TOKEN_PREFIX, sha256Hex } from '../../auth/tokens';
import type { UserActor } from '../actor';
import type { DomainContext } from '../context';
import { conflict, notFound } from '../errors';
import { type Page, pageOf } from '../../lib/pagination';
import { type AuditTarget, recordAudit } from '../audit/record';
import type { CreateServiceToken, ServiceTokenStatus } from './schemas';
import { recordEvent } from '../events/record';

/** How much of a token is kept in clear to recognise it: the kind prefix and 8 random characters. */
const DISPLAY_PREFIX_LENGTH = SERVICE_TOKEN_PREFIX.length + 8;

/** A service token as admins see it: never the token, never its hash. */
export interface ServiceTokenView {
  id: number;
  name: string;
  scopes: Scope[];
  /** The token's first characters, to recognise it in configuration. */
  tokenPrefix: string;
  status: ServiceTokenStatus;
  expiresAt: Date;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
  createdAt: Date;
  createdBy: { id: number; username: string } | null;
}

/** The answer of `serviceTokens.create`: the only time the plain token is ever shown. */
export interface CreatedServiceToken {
  token: string;
  serviceToken: ServiceTokenView;
}

/** An admin's context, as the service-token procedures receive it. */
type AdminContext = Pick<
  DomainContext<UserActor<'admin'>>,
  'db' | 'actor' | 'requestId' | 'ip' | 'procedure' | 'logger'
>;

/** A service token as stored. */
type ServiceTokenRow = serviceTokensRepo.ServiceTokenRow;

function statusOf(row: ServiceTokenRow, now: Date): ServiceTokenStatus {
  if (row.revokedAt) return 'revoked';
  return row.expiresAt.getTime() <= now.getTime() ? 'expired' : 'active';
}

/** Maps a `ServiceToken` row to its admin view with an explicit field list. */
export function serviceTokenView(
  row: ServiceTokenRow,
  createdBy: ServiceTokenView['createdBy'],
  now = new Date(),
): ServiceTokenView {
  return {
    id: row.id,
    name: row.name,
    scopes: row.scopes as Scope[],
    tokenPrefix: row.tokenPrefix,
    status: statusOf(row, now),
    expiresAt: row.expiresAt,
    revokedAt: row.revokedAt ?? null,
    lastUsedAt: row.lastUsedAt ?? null,
    createdAt: row.createdAt,
    createdBy,
  };
}

/** How audit rows name a token: its id and its (never reused) name. */
function tokenTarget(row: ServiceTokenRow): AuditTarget {
  return { type: 'serviceToken', id: row.id, name: row.name };
}

/** The accounts that created `rows`, by id (one query). */
async function creatorsOf(ctx: Pick<DomainContext, 'db'>, rows: ServiceTokenRow[]) {
  const ids = [...new Set(rows.map((r) => r.createdByUserId))];
  const users = await usersRepo.findUsernames(ctx.db, ids);
  return new Map(users.map((u) => [u.id, { id: u.id, username: u.username }]));
}

/**
 * Issues a token: 256 random bits, of which only the SHA-256 and a short display prefix are
 * stored. Names are unique in any letter case (MariaDB's collation would say so anyway; SQLite
 * is told here) and never reused, so an audit row's actor name always means one token.
 */
export async function createServiceToken(
  ctx: AdminContext,
  input: CreateServiceToken,
): Promise<CreatedServiceToken> {
  const token = newServiceToken();
  const row = await ctx.db.transaction(async (tx) => {
    if (await serviceTokensRepo.nameTaken(ctx.db, input.name, { tx })) {
      throw conflict(`A service token named '${input.name}' already exists (names are never reused)`);
    }
    const created = await serviceTokensRepo.insert(
      ctx.db,
      {
        name: input.name,
        tokenHash: sha256Hex(token),
        tokenPrefix: token.slice(0, DISPLAY_PREFIX_LENGTH),
        scopes: input.scopes,
        expiresAt: input.expiresAt,
        createdByUserId: ctx.actor.id,
      },
      { tx },
    );
    await recordAudit(ctx, { action: 'create', targets: [tokenTarget(created)] }, tx);
    return created;
  });
  ctx.logger.info({ serviceTokenId: row.id, name: row.name, scopes: row.scopes }, 'service token created');
  return {
    token,
    serviceToken: serviceTokenView(row, { id: ctx.actor.id, username: ctx.actor.username }),
  };
}

/** Lists tokens by id, optionally matching `search` in the name or prefix and one status. */
export async function listServiceTokens(
  ctx: AdminContext,
  input: { limit: number; cursor?: number | null; search?: string; status?: ServiceTokenStatus },
): Promise<Page<ServiceTokenView>> {
  const now = new Date();
  const rows = await serviceTokensRepo.listPage(ctx.db, input, {
    search: input.search || undefined,
    state: input.status,
    now,
  });
  const page = pageOf(rows, input.limit, (row) => row);
  const creators = await creatorsOf(ctx, page.items);
  return {
    items: page.items.map((row) => serviceTokenView(row, creators.get(row.createdByUserId) ?? null, now)),
    nextCursor: page.nextCursor,
  };
}

/**
 * Revokes a token from now on: its next request is UNAUTHORIZED. Revoking a revoked token
 * changes nothing (its first revocation time stays) and is not audited again.
 */
export async function revokeServiceToken(ctx: AdminContext, id: number): Promise<ServiceTokenView> {
  const { row, changed } = await ctx.db.transaction(async (tx) => {
    const found = await serviceTokensRepo.findById(ctx.db, id, { tx, lock: 'update' });
    if (!found) throw notFound('Service token');
    if (found.revokedAt) return { row: found, changed: false };
    const revokedAt = new Date();
    await serviceTokensRepo.setRevoked(ctx.db, found.id, revokedAt, { tx });
    await recordAudit(ctx, { action: 'revoke', targets: [tokenTarget(found)] }, tx);
    await recordEvent(ctx.db, tx, { type: 'serviceToken.changed', entityId: found.id });
    return { row: { ...found, revokedAt }, changed: true };
  });
  if (changed) ctx.logger.info({ serviceTokenId: row.id, name: row.name }, 'service token revoked');
  const creators = await creatorsOf(ctx, [row]);
  return serviceTokenView(row, creators.get(row.createdByUserId) ?? null);
}
