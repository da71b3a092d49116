import { randomUUID } from 'node:crypto';
import { type Database, jobsRepo, type Transaction } from '@hdms/db';

import { type NewEvent, recordEvent, recordEvents } from '../domain/events/record';

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

/** Fields cleared when a job finishes: its lease, its unique key and its payload (no longer needed). */
const FINISHED = { leaseOwner: null, leaseExpiresAt: null, uniqueKey: null, payload: null } as const;

/** The error column's size. */
const MAX_ERROR_LENGTH = 1000;

/** The longest wait between two attempts. */
const MAX_BACKOFF_MS = 10 * 60_000;

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
  return jobsRepo.claimTransaction(db, async (tx) => {
    const now = new Date();
    // Two indexed reads rather than one with an OR: jobs whose server died (few), then due queued
    // jobs in id order, stopping at `limit`.
    const read = (which: 'expired' | 'due', limit: number) =>
      jobsRepo.findClaimable(db, which, { types: options.types, now, limit, tx });
    const expired = await read('expired', options.limit);
    const queued = expired.length < options.limit ? await read('due', options.limit - expired.length) : [];
    const candidates = [...expired, ...queued];
    if (candidates.length === 0) return [];

    const keys = [...new Set(candidates.map((c) => c.serialKey).filter((k): k is string => k !== null))];
    const heads = await jobsRepo.serialKeyHeads(db, keys, { tx });

    const claimed: ClaimedJob[] = [];
    const events: NewEvent[] = [];
    for (const job of candidates) {
      if (job.serialKey !== null && heads.get(job.serialKey) !== job.id) continue;
      if (job.status === 'running' && job.attempts >= job.maxAttempts) {
        await jobsRepo.updateJob(
          db,
          job.id,
          {
            status: 'failed',
            error: 'The job was interrupted (its server stopped) and has no attempts left',
            finishedAt: now,
            ...FINISHED,
          },
          { tx },
        );
        events.push(jobEvent('job.failed', job, ['status', 'error']));
        continue;
      }
      const leaseOwner = randomUUID();
      const updated = await jobsRepo.updateJob(
        db,
        job.id,
        {
          status: 'running',
          attempts: job.attempts + 1,
          leaseOwner,
          leaseExpiresAt: new Date(now.getTime() + options.leaseMs),
          startedAt: now,
        },
        { tx },
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
    await recordEvents(db, tx, events);
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
  const updated = await jobsRepo.updateJob(
    db,
    job.id,
    { leaseExpiresAt: new Date(Date.now() + leaseMs) },
    { leaseOwner: job.leaseOwner },
  );
  if (updated === 1) return 'held';
  const row = await jobsRepo.findLease(db, job.id);
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
  const changes: jobsRepo.JobChanges = final
    ? { status: 'failed', error, finishedAt: now, ...FINISHED }
    : {
        status: 'queued',
        error,
        runAfter: new Date(now.getTime() + retryDelayMs(failure.backoffMs, job.attempts)),
        leaseOwner: null,
        leaseExpiresAt: null,
      };
  return db.transaction(async (tx) => {
    const updated = await jobsRepo.updateJob(db, job.id, changes, { tx, leaseOwner: job.leaseOwner });
    if (updated !== 1) return 'lost';
    await recordEvent(
      db,
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
    const updated = await jobsRepo.updateJob(
      db,
      job.id,
      {
        status: 'queued',
        attempts: job.attempts - 1,
        runAfter: new Date(),
        leaseOwner: null,
        leaseExpiresAt: null,
      },
      { tx, leaseOwner: job.leaseOwner },
    );
    if (updated !== 1) return false;
    await recordEvent(db, tx, jobEvent('job.queued', job, ['status', 'attempts']));
    return true;
  });
}

/** The job a run holds, with its payload, or null if the run no longer holds it. */
export function loadHeldJob(db: Database, id: number, leaseOwner: string): Promise<jobsRepo.JobRow | null> {
  return jobsRepo.findHeld(db, id, leaseOwner);
}

/** Shows a running job's progress; false if the run no longer holds the job. */
export async function writeProgress(
  db: Database,
  id: number,
  leaseOwner: string,
  progress: { done: number; total: number },
): Promise<boolean> {
  const updated = await jobsRepo.updateJob(
    db,
    id,
    { progressDone: progress.done, progressTotal: progress.total },
    { leaseOwner },
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
  return db.transaction(async (tx) => {
    const held = await jobsRepo.findLease(db, id, { tx, lock: 'update' });
    if (held?.status !== 'running' || held.leaseOwner !== leaseOwner) throw new LeaseLostError();
    const result = await work(tx);
    await jobsRepo.updateJob(
      db,
      id,
      {
        status: 'succeeded',
        result: result === undefined ? null : JSON.parse(JSON.stringify(result)),
        error: null,
        finishedAt: new Date(),
        ...(progress ? { progressDone: progress.done, progressTotal: progress.total } : {}),
        ...FINISHED,
      },
      { tx },
    );
    await recordEvent(db, tx, jobEvent('job.succeeded', held, ['status', 'result']));
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
