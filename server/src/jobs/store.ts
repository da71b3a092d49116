import { randomUUID } from 'node:crypto';
import type { Database, Job, Transaction } from '@hdms/db';
import {
  col,
  fn,
  IndexHints,
  literal,
  Op,
  Transaction as SequelizeTransaction,
  type WhereOptions,
} from 'sequelize';

import { type NewEvent, recordEvent, recordEvents } from '../events/record';

/**
 * The job store's state changes: claiming due jobs under a lease, renewing and checking leases,
 * and recording outcomes. Every change to a claimed job is guarded by its lease owner, so a run
 * that lost its lease (its server was presumed dead and another took the job) changes nothing.
 * A lease owner is set only while a job runs, so `id` and `lease_owner` alone guard a change:
 * such statements lock the row through the primary key only (on MySQL a condition on `status`
 * can make them lock ranges of a status index, and deadlock with enqueues and completions).
 */

/** What a dispatcher knows of a job it claimed. */
export interface ClaimedJob {
  id: number;
  type: string;
  /** This run's number: 1 on the first run. */
  attempts: number;
  maxAttempts: number;
  /** The patient the job concerns, if any (its status events name it). */
  patientId: number | null;
  /** This run's lease: unique per claim, so a later claim of the same job is another owner. */
  leaseOwner: string;
}

/** Statuses of jobs that are not finished. */
const UNFINISHED = ['queued', 'running'];

/** Fields cleared when a job finishes: its lease, its unique key and its payload (no longer needed). */
const FINISHED = { leaseOwner: null, leaseExpiresAt: null, uniqueKey: null, payload: null } as const;

/** The error column's size. */
const MAX_ERROR_LENGTH = 1000;

/** The longest wait between two attempts. */
const MAX_BACKOFF_MS = 10 * 60_000;

/**
 * A claimable job: due and queued, or running with an expired lease (its server died), and no
 * earlier job with its serial key still queued or running. The subquery is a plain (non-locking)
 * read on MySQL; the claim checks the heads of the keys again on their own all the same.
 */
const NO_EARLIER_JOB_OF_ITS_KEY = literal(
  "(`Job`.`serial_key` IS NULL OR NOT EXISTS (SELECT 1 FROM `jobs` AS `earlier` WHERE `earlier`.`serial_key` = `Job`.`serial_key` AND `earlier`.`id` < `Job`.`id` AND `earlier`.`status` IN ('queued', 'running')))",
);

/**
 * Runs `work` in the claim's transaction. MySQL: READ COMMITTED, so the locking read takes no gap
 * locks (enqueues are never blocked) and plain reads see the latest commits. SQLite: the
 * database's serialised IMMEDIATE transaction, the single-writer equivalent of a row lock.
 */
function claimTransaction<T>(db: Database, work: (tx: Transaction) => Promise<T>): Promise<T> {
  if (db.dialect !== 'mysql') return db.transaction(work);
  return db.sequelize.transaction(
    { isolationLevel: SequelizeTransaction.ISOLATION_LEVELS.READ_COMMITTED },
    work,
  );
}

/**
 * Claims up to `limit` due jobs of the given types for this process, each under a new lease of
 * `leaseMs`, and returns them. On MySQL the candidates are read with `FOR UPDATE SKIP LOCKED`, so
 * several servers on one database never claim the same job; a job whose lease expired is claimed
 * again (a crash counts as an attempt: one that has used all its attempts is marked failed).
 * A job is claimed only while no earlier job with its serial key is queued or running, checked
 * once more after the locking read against the latest committed state, so jobs of one key run one
 * at a time in the order they were accepted.
 */
export async function claimJobs(
  db: Database,
  options: { types: readonly string[]; limit: number; leaseMs: number },
): Promise<ClaimedJob[]> {
  if (options.limit < 1 || options.types.length === 0) return [];
  const { Job } = db.models;
  return claimTransaction(db, async (tx) => {
    const now = new Date();
    // Two indexed reads rather than one with an OR: jobs whose server died (few), then due queued
    // jobs in id order through (status, id), stopping at `limit`.
    const read = (where: WhereOptions, limit: number, index: string) =>
      Job.findAll({
        attributes: ['id', 'type', 'status', 'attempts', 'maxAttempts', 'serialKey', 'patientId'],
        where: { [Op.and]: [{ type: [...options.types] }, where, NO_EARLIER_JOB_OF_ITS_KEY] },
        order: [['id', 'ASC']],
        limit,
        transaction: tx,
        ...(db.dialect === 'mysql'
          ? {
              lock: tx.LOCK.UPDATE,
              skipLocked: true,
              // Else MariaDB walks the primary key through every finished job for `ORDER BY id`.
              indexHints: [{ type: IndexHints.FORCE, values: [index] }],
            }
          : {}),
      });
    const expired = await read(
      { status: 'running', leaseExpiresAt: { [Op.lt]: now } },
      options.limit,
      'jobs_lease',
    );
    const queued =
      expired.length < options.limit
        ? await read(
            { status: 'queued', runAfter: { [Op.lte]: now } },
            options.limit - expired.length,
            'jobs_status',
          )
        : [];
    const candidates = [...expired, ...queued];
    if (candidates.length === 0) return [];

    const keys = [...new Set(candidates.map((c) => c.serialKey).filter((k): k is string => k !== null))];
    const heads = new Map<string, number>();
    if (keys.length) {
      const rows = (await Job.findAll({
        attributes: ['serialKey', [fn('MIN', col('id')), 'head']],
        where: { serialKey: keys, status: UNFINISHED },
        group: ['serialKey'],
        raw: true,
        transaction: tx,
      })) as unknown as { serialKey: string; head: number | string }[];
      for (const row of rows) heads.set(row.serialKey, Number(row.head));
    }

    const claimed: ClaimedJob[] = [];
    const events: NewEvent[] = [];
    for (const job of candidates) {
      if (job.serialKey !== null && heads.get(job.serialKey) !== job.id) continue;
      if (job.status === 'running' && job.attempts >= job.maxAttempts) {
        await Job.update(
          {
            status: 'failed',
            error: 'The job was interrupted (its server stopped) and has no attempts left',
            finishedAt: now,
            ...FINISHED,
          },
          { where: { id: job.id }, transaction: tx },
        );
        events.push(jobEvent('job.failed', job, ['status', 'error']));
        continue;
      }
      const leaseOwner = randomUUID();
      const [updated] = await Job.update(
        {
          status: 'running',
          attempts: job.attempts + 1,
          leaseOwner,
          leaseExpiresAt: new Date(now.getTime() + options.leaseMs),
          startedAt: now,
        },
        { where: { id: job.id }, transaction: tx },
      );
      if (updated === 1) {
        claimed.push({
          id: job.id,
          type: job.type,
          attempts: job.attempts + 1,
          maxAttempts: job.maxAttempts,
          patientId: job.patientId ?? null,
          leaseOwner,
        });
        events.push(jobEvent('job.running', job, ['status', 'attempts']));
      }
    }
    await recordEvents(tx, events);
    return claimed;
  });
}

/**
 * Extends a running job's lease. `held`: renewed; `finished`: this run no longer holds it because
 * it ended (it may still be handing back its outcome); `taken`: another run holds the job now.
 */
export async function renewLease(
  db: Database,
  job: ClaimedJob,
  leaseMs: number,
): Promise<'held' | 'finished' | 'taken'> {
  const [updated] = await db.models.Job.update(
    { leaseExpiresAt: new Date(Date.now() + leaseMs) },
    { where: { id: job.id, leaseOwner: job.leaseOwner } },
  );
  if (updated === 1) return 'held';
  const row = await db.models.Job.findByPk(job.id, { attributes: ['status', 'leaseOwner'] });
  return row?.status === 'running' && row.leaseOwner !== job.leaseOwner ? 'taken' : 'finished';
}

/** The delay before attempt `attempt + 1`: `baseMs` doubled per attempt made, capped, with jitter. */
export function retryDelayMs(baseMs: number, attempt: number): number {
  const delay = Math.min(MAX_BACKOFF_MS, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(delay * (1 + Math.random() * 0.2));
}

/**
 * Records a failed run: back to `queued` after a backoff while attempts remain and the failure is
 * not permanent, else `failed` for good. `error` must be safe to show (never a stack or SQL).
 * Returns what became of the job (`lost`: this run no longer held it, nothing was written).
 */
export async function recordFailure(
  db: Database,
  job: ClaimedJob,
  failure: { error: string; permanent: boolean; backoffMs: number },
): Promise<'retry' | 'failed' | 'lost'> {
  const now = new Date();
  const error = failure.error.slice(0, MAX_ERROR_LENGTH);
  const final = failure.permanent || job.attempts >= job.maxAttempts;
  const changes: Partial<Job> = final
    ? { status: 'failed', error, finishedAt: now, ...FINISHED }
    : {
        status: 'queued',
        error,
        runAfter: new Date(now.getTime() + retryDelayMs(failure.backoffMs, job.attempts)),
        leaseOwner: null,
        leaseExpiresAt: null,
      };
  return db.transaction(async (tx) => {
    const [updated] = await db.models.Job.update(changes, {
      where: { id: job.id, leaseOwner: job.leaseOwner },
      transaction: tx,
    });
    if (updated !== 1) return 'lost';
    await recordEvent(
      tx,
      final
        ? jobEvent('job.failed', job, ['status', 'error'])
        : jobEvent('job.queued', job, ['status', 'error', 'runAfter']),
    );
    return final ? 'failed' : 'retry';
  });
}

/**
 * Puts a run interrupted by a shutdown back in the queue, due at once, without counting it as an
 * attempt. False if this run no longer held the job (it finished or was taken over).
 */
export async function requeueInterrupted(db: Database, job: ClaimedJob): Promise<boolean> {
  return db.transaction(async (tx) => {
    const [updated] = await db.models.Job.update(
      {
        status: 'queued',
        attempts: job.attempts - 1,
        runAfter: new Date(),
        leaseOwner: null,
        leaseExpiresAt: null,
      },
      { where: { id: job.id, leaseOwner: job.leaseOwner }, transaction: tx },
    );
    if (updated !== 1) return false;
    await recordEvent(tx, jobEvent('job.queued', job, ['status', 'attempts']));
    return true;
  });
}

/** The job a run holds, with its payload, or null if the run no longer holds it. */
export function loadHeldJob(db: Database, id: number, leaseOwner: string): Promise<Job | null> {
  return db.models.Job.findOne({ where: { id, leaseOwner, status: 'running' } });
}

/** Shows a running job's progress; false if the run no longer holds the job. */
export async function writeProgress(
  db: Database,
  id: number,
  leaseOwner: string,
  progress: { done: number; total: number },
): Promise<boolean> {
  const [updated] = await db.models.Job.update(
    { progressDone: progress.done, progressTotal: progress.total },
    { where: { id, leaseOwner } },
  );
  return updated === 1;
}

/** Thrown by `completeJob` when the run no longer holds the job's lease: nothing was written. */
export class LeaseLostError extends Error {
  override name = 'LeaseLostError';
  constructor() {
    super('this run no longer holds the job');
  }
}

/**
 * Runs a job's final writes and marks it succeeded with their result in one transaction, only while
 * this run holds the job: the job's row is locked first and its lease owner checked, so a server
 * taking the job over waits for this commit and then finds it finished. Throws `LeaseLostError`
 * otherwise. The row is locked and written by primary key only: on MySQL a locking read through a
 * secondary index (`status`, …) would also lock the gap where new jobs are inserted, and an
 * enqueue holding the patient's row lock could then deadlock with the update waiting for it.
 */
export async function completeJob<R>(
  db: Database,
  id: number,
  leaseOwner: string,
  work: (tx: Transaction) => Promise<R>,
  progress: { done: number; total: number } | null,
): Promise<R> {
  const { Job } = db.models;
  return db.transaction(async (tx) => {
    const held = await Job.findByPk(id, {
      attributes: ['id', 'status', 'leaseOwner', 'patientId'],
      transaction: tx,
      lock: tx.LOCK.UPDATE,
    });
    if (held?.status !== 'running' || held.leaseOwner !== leaseOwner) throw new LeaseLostError();
    const result = await work(tx);
    await Job.update(
      {
        status: 'succeeded',
        result: result === undefined ? null : JSON.parse(JSON.stringify(result)),
        error: null,
        finishedAt: new Date(),
        ...(progress ? { progressDone: progress.done, progressTotal: progress.total } : {}),
        ...FINISHED,
      },
      { where: { id }, transaction: tx },
    );
    await recordEvent(tx, jobEvent('job.succeeded', held, ['status', 'result']));
    return result;
  });
}

/** A job's status event. */
function jobEvent(
  type: 'job.queued' | 'job.running' | 'job.succeeded' | 'job.failed',
  job: { id: number; patientId?: number | null },
  fields: string[],
): NewEvent {
  return { type, entityId: job.id, patientId: job.patientId ?? null, fields };
}
