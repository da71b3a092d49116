import {
  type Attributes,
  type CreationAttributes,
  col,
  fn,
  IndexHints,
  literal,
  Op,
  type Transaction,
  type WhereOptions,
} from 'sequelize';
import type { Database } from '../connection';
import type { Job, JobStatus } from '../models/index';
import { findPlain, toDate } from '../plain';
import { selectRows } from '../sql';

/**
 * The background jobs (`jobs`): inserting them in the caller's transaction, claiming due jobs
 * under a lease, writes guarded by the lease owner, and the reads of the API and the metrics.
 */

/** One stored job (its attributes, as plain values). */
export type JobRow = Attributes<Job>;

/** One job to insert. */
export type NewJobRow = CreationAttributes<Job>;

/** The columns one write may change. */
export type JobChanges = Partial<Omit<JobRow, 'id'>>;

/** What the claim reads of a candidate. */
export type ClaimCandidate = Pick<
  JobRow,
  | 'id'
  | 'type'
  | 'status'
  | 'attempts'
  | 'interruptions'
  | 'maxAttempts'
  | 'serialKey'
  | 'patientId'
  | 'createdByType'
  | 'createdById'
  | 'createdByName'
  | 'payload'
  | 'requestId'
  | 'requestIp'
>;

/** Who started a job (the unit of round-robin claiming). */
export type JobAccount = Pick<JobRow, 'createdByType' | 'createdById'>;

/** Statuses of jobs that are not finished. */
const UNFINISHED: JobStatus[] = ['queued', 'running'];

/**
 * A claimable job: no earlier job with its serial key still queued or running. The subquery is a
 * plain (non-locking) read on MySQL; the claim checks the heads of the keys again on their own.
 */
const NO_EARLIER_JOB_OF_ITS_KEY = literal(
  "(`Job`.`serial_key` IS NULL OR NOT EXISTS (SELECT 1 FROM `jobs` AS `earlier` WHERE `earlier`.`serial_key` = `Job`.`serial_key` AND `earlier`.`id` < `Job`.`id` AND `earlier`.`status` IN ('queued', 'running')))",
);

/**
 * Runs `work` in a claim's transaction. MySQL: READ COMMITTED, so the locking read takes no gap
 * locks (enqueues are never blocked) and plain reads see the latest commits. SQLite: the
 * database's serialised IMMEDIATE transaction, the single-writer equivalent of a row lock.
 * `FOR UPDATE SKIP LOCKED` is enabled by `createDatabase` (`db.skipLocked`).
 */
export function claimTransaction<T>(db: Database, work: (tx: Transaction) => Promise<T>): Promise<T> {
  return db.transaction(work, { readCommitted: true });
}

/**
 * Up to `limit` claim candidates of `types` in id order, in the claim's transaction: `expired`,
 * running jobs whose lease ended before `now` (through the `jobs_lease` index), or `due`, queued
 * jobs due by `now` (through `jobs_status`); either only while no earlier job of its serial key is
 * unfinished. On MySQL the rows are locked `FOR UPDATE SKIP LOCKED`.
 */
export function findClaimable(
  db: Database,
  which: 'expired' | 'due',
  options: { types: readonly string[]; now: Date; limit: number; tx: Transaction; account?: JobAccount },
): Promise<ClaimCandidate[]> {
  const { tx, account } = options;
  const where: WhereOptions =
    which === 'expired'
      ? { status: 'running', leaseExpiresAt: { [Op.lt]: options.now } }
      : { status: 'queued', runAfter: { [Op.lte]: options.now } };
  const byAccount: WhereOptions = account
    ? { createdByType: account.createdByType, createdById: account.createdById }
    : {};
  // With what a run needs (payload, owner, request): the claim hands it over, no second read.
  return findPlain(db.models.Job, {
    attributes: [
      'id',
      'type',
      'status',
      'attempts',
      'interruptions',
      'maxAttempts',
      'serialKey',
      'patientId',
      'createdByType',
      'createdById',
      'createdByName',
      'payload',
      'requestId',
      'requestIp',
    ],
    where: { [Op.and]: [{ type: [...options.types] }, where, byAccount, NO_EARLIER_JOB_OF_ITS_KEY] },
    order: [['id', 'ASC']],
    limit: options.limit,
    transaction: tx,
    ...(db.dialect === 'mysql'
      ? {
          lock: tx.LOCK.UPDATE,
          skipLocked: true,
          // Else MariaDB walks the primary key through every finished job for `ORDER BY id`.
          indexHints: [
            {
              type: IndexHints.FORCE,
              values: [which === 'expired' ? 'jobs_lease' : account ? 'jobs_account_queue' : 'jobs_status'],
            },
          ],
        }
      : {}),
  });
}

/** Per serial key, the id of its earliest unfinished job (the only one that may run). */
export async function serialKeyHeads(
  db: Database,
  keys: readonly string[],
  options: { tx?: Transaction } = {},
): Promise<Map<string, number>> {
  const heads = new Map<string, number>();
  if (keys.length === 0) return heads;
  const rows = (await db.models.Job.findAll({
    attributes: ['serialKey', [fn('MIN', col('id')), 'head']],
    where: { serialKey: [...keys], status: UNFINISHED },
    group: ['serialKey'],
    raw: true,
    transaction: options.tx,
  })) as unknown as { serialKey: string; head: number | string }[];
  for (const row of rows) heads.set(row.serialKey, Number(row.head));
  return heads;
}

/**
 * Writes `changes` to job `id` (by primary key only), and only while `leaseOwner` holds it when
 * one is given; returns how many rows changed (0 or 1).
 */
export async function updateJob(
  db: Database,
  id: number,
  changes: JobChanges,
  options: { tx?: Transaction; leaseOwner?: string } = {},
): Promise<number> {
  const [updated] = await db.models.Job.update(changes, {
    where: options.leaseOwner === undefined ? { id } : { id, leaseOwner: options.leaseOwner },
    transaction: options.tx,
  });
  return updated;
}

/**
 * Claims queued jobs `ids` in one statement: status `running`, one more attempt, the lease of
 * `leaseOwner` until `leaseExpiresAt`; returns how many rows changed. The caller read them queued
 * and holds them locked in `tx` (on SQLite, its write transaction).
 */
export async function markRunning(
  db: Database,
  ids: readonly number[],
  lease: { leaseOwner: string; leaseExpiresAt: Date; startedAt: Date },
  options: { tx: Transaction },
): Promise<number> {
  if (ids.length === 0) return 0;
  const [updated] = await db.models.Job.update(
    { status: 'running', attempts: literal('attempts + 1') as unknown as number, ...lease },
    // By primary key only: the caller read them queued and holds their rows (a condition on
    // `status` would let MariaDB lock a range of the status index instead).
    { where: { id: [...ids] }, transaction: options.tx },
  );
  return updated;
}

/** A job's status and lease owner, or null; with `lock: 'update'` its row is locked by primary key. */
export async function findLease(
  db: Database,
  id: number,
  options: { tx?: Transaction; lock?: 'update' } = {},
): Promise<Pick<JobRow, 'id' | 'status' | 'leaseOwner' | 'patientId'> | null> {
  const row = await db.models.Job.findByPk(id, {
    attributes: ['id', 'status', 'leaseOwner', 'patientId'],
    transaction: options.tx,
    ...(options.lock && options.tx ? { lock: options.tx.LOCK.UPDATE } : {}),
    raw: true,
  });
  return row as Pick<JobRow, 'id' | 'status' | 'leaseOwner' | 'patientId'> | null;
}

/** The running job `leaseOwner` holds, with its payload, or null. */
export async function findHeld(db: Database, id: number, leaseOwner: string): Promise<JobRow | null> {
  const [row] = await findPlain(db.models.Job, { where: { id, leaseOwner, status: 'running' } });
  return row ?? null;
}

/** Inserts a job in the caller's transaction; returns its id. */
export async function insertJob(
  db: Pick<Database, 'models'>,
  row: NewJobRow,
  options: { tx?: Transaction } = {},
): Promise<number> {
  const created = await db.models.Job.create(row, { transaction: options.tx });
  return created.id;
}

/** Whether an unfinished (queued or running) job holds `uniqueKey`. */
export async function hasUnfinishedWithKey(
  db: Pick<Database, 'models'>,
  uniqueKey: string,
  options: { tx?: Transaction } = {},
): Promise<boolean> {
  const existing = await db.models.Job.findOne({
    attributes: ['id'],
    where: { uniqueKey, status: { [Op.in]: UNFINISHED } },
    transaction: options.tx,
    raw: true,
  });
  return existing !== null;
}

/** Job `id`'s columns `attributes` (default all), or null; with `type`, only a job of that type. */
export async function findJob(
  db: Database,
  id: number,
  options: { attributes?: (keyof JobRow)[]; type?: string } = {},
): Promise<JobRow | null> {
  const [row] = await findPlain(db.models.Job, {
    attributes: options.attributes,
    where: options.type === undefined ? { id } : { id, type: options.type },
  });
  return row ?? null;
}

/** What a job list is filtered by (all and-ed). */
export interface JobFilter {
  createdByType?: string;
  createdById?: number;
  type?: string;
  status?: JobStatus;
}

/** Up to `limit` jobs matching `filter`, newest first, with an id below `before` when given. */
export function listNewestFirst(
  db: Database,
  filter: JobFilter,
  options: { limit: number; before?: number | null; attributes?: (keyof JobRow)[] },
): Promise<JobRow[]> {
  const where: WhereOptions<JobRow>[] = [];
  for (const key of ['createdByType', 'createdById', 'type', 'status'] as const) {
    if (filter[key] !== undefined) where.push({ [key]: filter[key] });
  }
  if (options.before) where.push({ id: { [Op.lt]: options.before } });
  return findPlain(db.models.Job, {
    attributes: options.attributes,
    where: { [Op.and]: where },
    order: [['id', 'DESC']],
    limit: options.limit,
  });
}

/** Who started each of `ids` that exists (for deciding who sees their status events). */
export async function startersOf(
  db: Database,
  ids: readonly number[],
): Promise<Pick<JobRow, 'id' | 'createdByType' | 'createdById'>[]> {
  if (ids.length === 0) return [];
  return (await db.models.Job.findAll({
    attributes: ['id', 'createdByType', 'createdById'],
    where: { id: [...ids] },
    raw: true,
  })) as Pick<JobRow, 'id' | 'createdByType' | 'createdById'>[];
}

/** How many jobs are queued and running, on the whole database. */
export async function countUnfinished(db: Database): Promise<Record<'queued' | 'running', number>> {
  const rows = (await db.models.Job.count({
    where: { status: UNFINISHED },
    group: ['status'],
  })) as unknown as { status: string; count: number }[];
  const counts = { queued: 0, running: 0 };
  for (const row of rows) counts[row.status as 'queued' | 'running'] = Number(row.count);
  return counts;
}

/**
 * Up to `limit` accounts with queued jobs of `types` due by `now`, each with the id of its oldest
 * such job, oldest first (a plain read; the claim locks the jobs it takes on its own).
 */
export async function queuedAccounts(
  db: Database,
  options: { types: readonly string[]; now: Date; limit: number; tx?: Transaction },
): Promise<(JobAccount & { head: number })[]> {
  const rows = (await db.models.Job.findAll({
    attributes: ['createdByType', 'createdById', [fn('MIN', col('id')), 'head']],
    where: { status: 'queued', type: [...options.types], runAfter: { [Op.lte]: options.now } },
    group: ['createdByType', 'createdById'],
    order: [[fn('MIN', col('id')), 'ASC']],
    limit: options.limit,
    raw: true,
    transaction: options.tx,
  })) as unknown as { createdByType: string; createdById: number | string; head: number | string }[];
  return rows.map((r) => ({
    createdByType: r.createdByType,
    createdById: Number(r.createdById),
    head: Number(r.head),
  }));
}

/** How many unfinished (queued or running) jobs of `types` `account` has. */
export function countUnfinishedOf(
  db: Pick<Database, 'models'>,
  account: JobAccount,
  types: readonly string[],
  options: { tx?: Transaction } = {},
): Promise<number> {
  return db.models.Job.count({
    where: {
      createdByType: account.createdByType,
      createdById: account.createdById,
      type: [...types],
      status: UNFINISHED,
    },
    transaction: options.tx,
  });
}

/** Job `id` with every column, its row locked (by primary key) in `tx`; null if there is none. */
export async function findForUpdate(db: Database, id: number, tx: Transaction): Promise<JobRow | null> {
  const row = await db.models.Job.findByPk(id, { transaction: tx, lock: tx.LOCK.UPDATE });
  return row ? (row.get({ plain: true }) as JobRow) : null;
}

/**
 * Whether a job with `serialKey` (of `type`, when given) was accepted after job `id` and has not
 * failed or been cancelled.
 */
export async function hasLaterWithKey(
  db: Database,
  serialKey: string,
  id: number,
  options: { tx?: Transaction; type?: string } = {},
): Promise<boolean> {
  const row = await db.models.Job.findOne({
    attributes: ['id'],
    where: {
      serialKey,
      id: { [Op.gt]: id },
      status: ['queued', 'running', 'succeeded'],
      ...(options.type ? { type: options.type } : {}),
    },
    transaction: options.tx,
    raw: true,
  });
  return row !== null;
}

/**
 * Clears the payloads of jobs that failed for good before `before` (kept until then for a retry);
 * returns how many it cleared.
 */
export async function clearFailedPayloads(db: Database, before: Date): Promise<number> {
  const [cleared] = await db.models.Job.update(
    { payload: null },
    { where: { status: 'failed', finishedAt: { [Op.lt]: before }, payload: { [Op.ne]: null } } },
  );
  return cleared;
}

/**
 * When the next job of `types` can be claimed: the earliest `run_after` of a queued one, or the
 * earliest lease end of a running one (its instance may have died), whichever comes first; null
 * when none is queued or running. An idle dispatcher's look: one written-out statement, each half
 * the first row of an index range (`jobs_claim`, `jobs_lease`).
 */
export async function nextClaimableAt(
  db: Database,
  options: { types: readonly string[] },
): Promise<Date | null> {
  const types = [...options.types];
  if (types.length === 0) return null;
  const of = types.map(() => '?').join(', ');
  const rows = await selectRows<{ at: Date | string | null }>(
    db,
    `SELECT at FROM (SELECT run_after AS at FROM jobs WHERE status = 'queued' AND type IN (${of}) ORDER BY run_after LIMIT 1) due
     UNION ALL
     SELECT at FROM (SELECT lease_expires_at AS at FROM jobs WHERE status = 'running' AND type IN (${of}) ORDER BY lease_expires_at LIMIT 1) leased`,
    [...types, ...types],
  );
  let next: Date | null = null;
  for (const { at } of rows) {
    if (at === null) continue;
    const date = toDate(at) as Date;
    if (next === null || date < next) next = date;
  }
  return next;
}
