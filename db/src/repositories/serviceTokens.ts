import { type Attributes, col, fn, Op, type WhereOptions, where as whereOf } from 'sequelize';
import type { Database } from '../connection';
import type { ServiceToken } from '../models/ServiceToken';
import { findPlain } from '../plain';
import { containsText } from './search';
import { type PageRequest, readOne, readPage } from './page';
import type { ReadOptions, WriteOptions } from './tx';

/**
 * Service tokens (`service_tokens`): named credentials of internal services, of which only the
 * SHA-256 and a display prefix are stored. Every function answers plain rows.
 */

/** A service token as stored. */
export interface ServiceTokenRow {
  id: number;
  name: string;
  tokenHash: string;
  tokenPrefix: string;
  scopes: string[];
  expiresAt: Date;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
  createdByUserId: number;
  createdAt: Date;
}

/** A token's state at a moment: usable, past its expiry, or revoked. */
export type ServiceTokenState = 'active' | 'expired' | 'revoked';

/** A stored row as a `ServiceTokenRow` (attributes an instance never set are null). */
function toRow(values: Attributes<ServiceToken>): ServiceTokenRow {
  return {
    ...values,
    revokedAt: values.revokedAt ?? null,
    lastUsedAt: values.lastUsedAt ?? null,
  } as ServiceTokenRow;
}

/** The first token matching `where`, or null. */
async function findOne(
  db: Database,
  where: WhereOptions<Attributes<ServiceToken>>,
  options: ReadOptions,
): Promise<ServiceTokenRow | null> {
  const row = await readOne(db.models.ServiceToken, where, options);
  return row ? toRow(row) : null;
}

/** The token with this id, or null. */
export function findById(
  db: Database,
  id: number,
  options: ReadOptions = {},
): Promise<ServiceTokenRow | null> {
  return findOne(db, { id }, options);
}

/** The token whose SHA-256 hex digest is `tokenHash`, or null. */
export function findByHash(db: Database, tokenHash: string): Promise<ServiceTokenRow | null> {
  return findOne(db, { tokenHash }, {});
}

/** Whether a token named `name` in any letter case exists (names are never reused). */
export async function nameTaken(db: Database, name: string, options: ReadOptions = {}): Promise<boolean> {
  const [row] = await findPlain(db.models.ServiceToken, {
    where: whereOf(fn('lower', col('name')), name.toLowerCase()) as WhereOptions<Attributes<ServiceToken>>,
    attributes: ['id'],
    limit: 1,
    transaction: options.tx,
  });
  return row !== undefined;
}

/** Inserts a token; the stored row. */
export async function insert(
  db: Database,
  values: Pick<
    ServiceTokenRow,
    'name' | 'tokenHash' | 'tokenPrefix' | 'scopes' | 'expiresAt' | 'createdByUserId'
  >,
  options: WriteOptions = {},
): Promise<ServiceTokenRow> {
  const created = await db.models.ServiceToken.create(values, { transaction: options.tx });
  return toRow(created.get({ plain: true }));
}

/** Notes when token `id` was last used. */
export async function setLastUsed(db: Database, id: number, at: Date): Promise<void> {
  await db.models.ServiceToken.update({ lastUsedAt: at }, { where: { id } });
}

/** Marks token `id` revoked at `at`. */
export async function setRevoked(
  db: Database,
  id: number,
  at: Date,
  options: WriteOptions = {},
): Promise<void> {
  await db.models.ServiceToken.update({ revokedAt: at }, { where: { id }, transaction: options.tx });
}

/**
 * A keyset page of tokens by id (`limit + 1` rows: see `readPage`), optionally matching `search` in
 * name or prefix and in one state at `now`.
 */
export async function listPage(
  db: Database,
  page: PageRequest,
  filter: { search?: string; state?: ServiceTokenState; now: Date },
): Promise<ServiceTokenRow[]> {
  const { now } = filter;
  const conditions: WhereOptions[] = [];
  if (filter.search) conditions.push(containsText(['name', 'token_prefix'], filter.search));
  if (filter.state === 'revoked') conditions.push({ revokedAt: { [Op.ne]: null } });
  if (filter.state === 'expired') conditions.push({ revokedAt: null, expiresAt: { [Op.lte]: now } });
  if (filter.state === 'active') conditions.push({ revokedAt: null, expiresAt: { [Op.gt]: now } });
  return (await readPage(db.models.ServiceToken, page, conditions)).map(toRow);
}
