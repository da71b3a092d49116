import type { Attributes, CreationAttributes, Transaction, WhereOptions } from 'sequelize';
import { Op } from 'sequelize';
import type { Database } from '../connection';
import type { AuditAction, AuditEvent } from '../models/index';
import { findPlain, insertPlain } from '../plain';

/** The audit trail (`audit_events`): append-only rows, read a page at a time, newest first. */

/** One stored audit row. */
export type AuditRow = Attributes<AuditEvent>;

/** One audit row to insert (timestamps are set here). */
export type NewAuditRow = CreationAttributes<AuditEvent>;

/**
 * Inserts audit rows with one multi-row INSERT (split only past what one statement may carry),
 * in the caller's transaction if any.
 */
export async function insertAuditRows(
  db: Pick<Database, 'models'>,
  rows: readonly NewAuditRow[],
  options: { tx?: Transaction } = {},
): Promise<void> {
  await insertPlain(db.models.AuditEvent, rows, { transaction: options.tx });
}

/** What a page of the trail is filtered by (all and-ed). */
export interface AuditFilter {
  patientId?: number;
  actorType?: string;
  actorId?: number;
  action?: AuditAction;
  /** Every action but this one. */
  notAction?: AuditAction;
  /** Created at or after. */
  from?: Date;
  /** Created before. */
  to?: Date;
}

/**
 * Up to `limit` rows matching `filter`, newest first (by id), with an id below `before` when given.
 * Served by the primary key and the `(patient_id, id)` and `(actor_type, actor_id, id)` indexes.
 */
export function listNewestFirst(
  db: Pick<Database, 'models'>,
  filter: AuditFilter,
  options: { limit: number; before?: number | null },
): Promise<AuditRow[]> {
  const where: WhereOptions<AuditRow>[] = [];
  if (filter.patientId !== undefined) where.push({ patientId: filter.patientId });
  if (filter.actorType !== undefined) where.push({ actorType: filter.actorType });
  if (filter.actorId !== undefined) where.push({ actorId: filter.actorId });
  if (filter.action !== undefined) where.push({ action: filter.action });
  if (filter.notAction !== undefined) where.push({ action: { [Op.ne]: filter.notAction } });
  if (filter.from) where.push({ createdAt: { [Op.gte]: filter.from } });
  if (filter.to) where.push({ createdAt: { [Op.lt]: filter.to } });
  if (options.before) where.push({ id: { [Op.lt]: options.before } });
  return findPlain(db.models.AuditEvent, {
    where: { [Op.and]: where },
    order: [['id', 'DESC']],
    limit: options.limit,
  });
}
