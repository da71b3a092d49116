import {
  type Attributes,
  col,
  fn,
  Op,
  type Transaction,
  type WhereOptions,
  where as whereOf,
} from 'sequelize';
import type { Database } from '../connection';
import type { ServiceToken } from '../models/ServiceToken';
import { findPlain } from '../plain';
import { containsText } from './search';

/**
 * Service tokens (`service_tokens`): named credentials of internal services, of which only the
 * SHA-256 and a display prefix are stored. Every function answers plain rows.
 */

/** Options of a read: inside the caller's transaction, optionally locking the rows read. */
export interface ReadOptions {
  tx?: Transaction;
  lock?: 'update' | 'share';
}

/** Options of a write that joins the caller's transaction. */
export interface WriteOptions {
  tx?: Transaction;
}

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

/** One page of tokens by id, and the cursor of the next (null on the last). */
export interface ServiceTokenPage {
  items: ServiceTokenRow[];
  nextCursor: number | null;
}

function toRow(values: Attributes<ServiceToken>): ServiceTokenRow {
  return {
    ...values,
    revokedAt: values.revokedAt ?? null,
    lastUsedAt: values.lastUsedAt ?? null,
  } as ServiceTokenRow;
}

function lockOf(options: ReadOptions) {
  if (!options.lock || !options.tx) return undefined;
  return options.lock === 'update' ? options.tx.LOCK.UPDATE : options.tx.LOCK.SHARE;
}

async function findOne(
  db: Database,
  where: WhereOptions<Attributes<ServiceToken>>,
  options: ReadOptions,
): Promise<ServiceTokenRow | null> {
  const [row] = await findPlain(db.models.ServiceToken, {
    where,
    limit: 1,
    transaction: options.tx,
    lock: lockOf(options),
  });
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
 * One page of tokens by id (after `cursor`): those whose name or prefix contains `search`, if
 * given (ignoring case), in `state` at `now`, if given.
 */
export async function listPage(
  db: Database,
  input: {
    limit: number;
    cursor?: number | null;
    search?: string;
    state?: ServiceTokenState;
    now: Date;
  },
): Promise<ServiceTokenPage> {
  const { now } = input;
  const conditions: WhereOptions[] = [];
  if (input.search) conditions.push(containsText(['name', 'token_prefix'], input.search));
  if (input.state === 'revoked') conditions.push({ revokedAt: { [Op.ne]: null } });
  if (input.state === 'expired') conditions.push({ revokedAt: null, expiresAt: { [Op.lte]: now } });
  if (input.state === 'active') conditions.push({ revokedAt: null, expiresAt: { [Op.gt]: now } });
  if (input.cursor) conditions.push({ id: { [Op.gt]: input.cursor } });
  const rows = await findPlain(db.models.ServiceToken, {
    where: { [Op.and]: conditions } as WhereOptions<Attributes<ServiceToken>>,
    order: [['id', 'ASC']],
    limit: input.limit + 1,
  });
  const items = rows.slice(0, input.limit).map(toRow);
  return {
    items,
    nextCursor: rows.length > input.limit ? (items[items.length - 1]?.id ?? null) : null,
  };
}
