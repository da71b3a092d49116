import { Op, QueryTypes, type Transaction } from 'sequelize';
import type { Database } from '../connection';
import { insertPlain } from '../plain';
import { selectRows } from '../sql';

/**
 * The change events (`change_events`) and their log row (`change_event_log`: what the retention
 * job has deleted, and the counter that hands out event ids in commit order).
 */

/** What the events repository needs of a database: its models and dialect. */
export type EventsTarget = Pick<Database, 'models' | 'dialect'>;

/** One change event to insert. */
export interface NewEventRow {
  /** From `reserveIds`. */
  id: number;
  type: string;
  entityId: number;
  patientId: number | null;
  /** Names of the fields the change set, or null. */
  fields: string[] | null;
  createdAt: Date;
}

/** One stored change event, as the feed reads it (`fields` still the stored JSON text). */
export interface EventRow {
  id: number;
  type: string;
  entityId: number;
  patientId: number | null;
  fields: string | null;
  createdAt: Date | string;
}

/**
 * Hands out `count` event ids in `tx`: advances the counter (`change_event_log.last_event_id`) and
 * returns the first new id. The UPDATE holds the row until `tx` ends, so no event with a higher id
 * commits before it on this server, and on Galera a concurrent writer on another node fails its
 * certification (and runs again, reading this commit's value): ids commit in increasing order
 * cluster-wide. Every writer of events must come through here (an instance older than migration
 * 0013 takes ids from the auto-increment: stop those before starting this version).
 */
export async function reserveIds(
  db: Pick<Database, 'sequelize' | 'dialect'>,
  count: number,
  options: { tx: Transaction },
): Promise<number> {
  // One statement: MySQL hands back the new value as the statement's insert id
  // (`LAST_INSERT_ID(expr)`), SQLite with `RETURNING`.
  if (db.dialect === 'mysql') {
    const [last] = await db.sequelize.query(
      'UPDATE change_event_log SET last_event_id = LAST_INSERT_ID(last_event_id + ?) WHERE id = 1',
      { replacements: [count], transaction: options.tx, type: QueryTypes.INSERT, raw: true },
    );
    return Number(last) - count + 1;
  }
  const [row] = await selectRows<{ last: number | string }>(
    db,
    'UPDATE change_event_log SET last_event_id = last_event_id + ? WHERE id = 1 RETURNING last_event_id AS last',
    [count],
    options.tx,
  );
  return Number(row?.last) - count + 1;
}

/** Inserts events with one multi-row INSERT, in the caller's transaction. */
export async function insertEvents(
  db: EventsTarget,
  rows: readonly NewEventRow[],
  options: { tx?: Transaction } = {},
): Promise<void> {
  await insertPlain(db.models.ChangeEvent, rows, { transaction: options.tx });
}

/** The newest event id (0 when there is none). */
export async function newestId(db: EventsTarget): Promise<number> {
  const newest = (await db.models.ChangeEvent.max('id')) as number | null;
  return newest ?? 0;
}

/** The highest event id the retention job has deleted (0 when none). */
export async function prunedThrough(db: EventsTarget): Promise<number> {
  const log = await db.models.ChangeEventLog.findByPk(1, { attributes: ['prunedThrough'], raw: true });
  return log?.prunedThrough ?? 0;
}

/**
 * Up to `limit` events after id `after`, oldest first. With `patientId`, only that patient's
 * events and those of the types `alsoTypes` (whatever patient they name). A written-out statement
 * on the primary key: the event feed runs it every poll.
 */
export async function listAfter(
  db: Pick<Database, 'sequelize' | 'dialect'>,
  after: number,
  options: { limit: number; patientId?: number; alsoTypes?: readonly string[] },
): Promise<EventRow[]> {
  const columns = 'id, type, entity_id AS entityId, patient_id AS patientId, fields, created_at AS createdAt';
  const also = options.alsoTypes ?? [];
  if (options.patientId === undefined) {
    return selectRows<EventRow>(
      db,
      `SELECT ${columns} FROM change_events WHERE id > ? ORDER BY id ASC LIMIT ?`,
      [after, options.limit],
    );
  }
  const types = also.length ? ` OR type IN (${also.map(() => '?').join(', ')})` : '';
  return selectRows<EventRow>(
    db,
    `SELECT ${columns} FROM change_events WHERE id > ? AND (patient_id = ?${types}) ORDER BY id ASC LIMIT ?`,
    [after, options.patientId, ...also, options.limit],
  );
}

/** The doctor of each of `patientIds` that exists (for deciding deliveries). */
export async function patientDoctors(
  db: EventsTarget,
  patientIds: readonly number[],
): Promise<{ id: number; doctorId: number | null }[]> {
  if (patientIds.length === 0) return [];
  const rows = await db.models.Patient.findAll({
    attributes: ['id', 'doctorId'],
    where: { id: [...patientIds] },
    raw: true,
  });
  return rows.map((row) => ({ id: row.id, doctorId: row.doctorId ?? null }));
}

/** The newest event id among events created before `cutoff`, or null. */
export async function newestIdBefore(db: EventsTarget, cutoff: Date): Promise<number | null> {
  return ((await db.models.ChangeEvent.max('id', { where: { createdAt: { [Op.lt]: cutoff } } })) ?? null) as
    | number
    | null;
}

/** The ids of up to `limit` oldest events with an id up to `through`. */
export async function oldestIds(db: EventsTarget, through: number, limit: number): Promise<number[]> {
  const rows = await db.models.ChangeEvent.findAll({
    attributes: ['id'],
    where: { id: { [Op.lte]: through } },
    order: [['id', 'ASC']],
    limit,
    raw: true,
  });
  return rows.map((row) => row.id);
}

/**
 * Deletes every event with an id up to `through` and records it as pruned (in one transaction:
 * the caller's `tx`); returns how many rows it deleted.
 */
export async function pruneThrough(
  db: EventsTarget,
  through: number,
  options: { tx: Transaction },
): Promise<number> {
  await db.models.ChangeEventLog.update(
    { prunedThrough: through },
    { where: { id: 1, prunedThrough: { [Op.lt]: through } }, transaction: options.tx },
  );
  return db.models.ChangeEvent.destroy({ where: { id: { [Op.lte]: through } }, transaction: options.tx });
}
