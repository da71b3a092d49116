import { randomUUID } from 'node:crypto';
import { type Database, jobFilesRepo, jobsRepo, type Transaction } from '@hdms/db';

import { holdEvents, type NewEvent, recordEvent, recordEvents } from '../domain/events/record';

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
  /** Who started it (`type:id`): the unit of round-robin claiming. */
  account: string;
  /** What its run needs, read by the claim (so the run does not read the job again). */
  held: HeldJob;
}

/** A claimed job as its run sees it: its payload, this run's attempt, who started it and in which request. */
export type HeldJob = Pick<
  jobsRepo.JobRow,
  | 'id'
  | 'type'
  | 'payload'
  | 'attempts'
  | 'createdByType'
  | 'createdById'
  | 'createdByName'
  | 'requestId'
  | 'requestIp'
>;

/**
 * Fields cleared when a job stops for good: its lease and its unique key. A failed job keeps its
 * payload for a retry (cleared by `exports.purge` once the upload retention has passed).
 */
export const STOPPED = { leaseOwner: null, leaseExpiresAt: null, uniqueKey: null } as const;

/** Fields cleared when a job succeeds or is cancelled: `STOPPED`'s and its payload (no longer needed). */
export const FINISHED = { ...STOPPED, payload: null } as const;

/** How the claim and the failure records treat crashes and failed imports' uploads. */
export interface QueuePolicy {
  /** Runs cut by a crash before the job is failed (JOBS_MAX_INTERRUPTIONS). */
  maxInterruptions: number;
  /** How long a failed job's upload is kept for a retry, in ms (IMPORT_UPLOAD_RETENTION_HOURS). */
  uploadRetentionMs: number;
}

/** The key of a job's account in round-robin claiming. */
export function accountKey(job: jobsRepo.JobAccount): string {
  return `${job.createdByType}:${job.createdById}`;
}

/** The error column's size. */
const MAX_ERROR_LENGTH = 1000;

/** The longest wait between two attempts. */
const MAX_BACKOFF_MS = 10 * 60_000;

/** Options of `claimJobs`. */
export interface ClaimOptions extends QueuePolicy {
  /** The job types of the lane being claimed for. */
  types: readonly string[];
  limit: number;
  leaseMs: number;
  /**
   * Round-robin by account: when each account was last served (a counter; higher is more
   * recent). Accounts never served come first, then the least recently served; within a tie, the
   * one whose oldest due job is oldest. Updated with the accounts this claim served.
   */
  served?: Map<string, number>;
}

/** Accounts one claim looks at, at most (the oldest waiting first). */
const ACCOUNTS_PER_CLAIM = 200;

/** A counter for `ClaimOptions.served`. */
let serveCounter = 0;

/**
 * Claims up to `limit` due jobs of the given types for this process, each under a new lease of
 * `leaseMs`, and returns them. On MySQL the candidates are read with `FOR UPDATE SKIP LOCKED`, so
 * several servers on one database never claim the same job. First jobs whose lease expired (their
 * server crashed): the cut run is an interruption, not an attempt; a job cut more than
 * `maxInterruptions` times is failed. Then queued jobs, round-robin by account (see `served`): in
 * each round every account gets an equal share of the room left, so one account's flood cannot
 * starve others.
 * A job is claimed only while no earlier job with its serial key is queued or running, checked
 * once more after the locking read against the latest committed state, so jobs of one key run one
 * at a time in the order they were accepted.
 */
export async function claimJobs(db: Database, options: ClaimOptions): Promise<ClaimedJob[]> {
  if (options.limit < 1 || options.types.length === 0) return [];
  return jobsRepo.claimTransaction(db, async (tx) => {
    const now = new Date();
    const claimed: ClaimedJob[] = [];
    const events: NewEvent[] = [];

    /** Claims the candidates that head their serial key; returns how many it claimed. */
    const take = async (candidates: jobsRepo.ClaimCandidate[]): Promise<number> => {
      const keys = [...new Set(candidates.map((c) => c.serialKey).filter((k): k is string => k !== null))];
      const heads = await jobsRepo.serialKeyHeads(db, keys, { tx });
      let taken = 0;
      /** Queued heads: claimed together, in one statement, under one lease owner. */
      const due: jobsRepo.ClaimCandidate[] = [];
      for (const job of candidates) {
        if (job.serialKey !== null && heads.get(job.serialKey) !== job.id) continue;
        if (job.status !== 'running') {
          due.push(job);
          continue;
        }
        // A takeover continues the cut attempt: it counts an interruption, not an attempt.
        if (job.interruptions >= options.maxInterruptions) {
          await failJob(db, tx, job, {
            error: `The job was interrupted ${job.interruptions + 1} times (its server stopped each time); it was stopped`,
            now,
            uploadRetentionMs: options.uploadRetentionMs,
          });
          events.push(jobEvent('job.failed', job, ['status', 'error']));
          continue;
        }
        const leaseOwner = randomUUID();
        const attempts = Math.max(1, job.attempts);
        const updated = await jobsRepo.updateJob(
          db,
          job.id,
          {
            status: 'running',
            attempts,
            interruptions: job.interruptions + 1,
            leaseOwner,
            leaseExpiresAt: new Date(now.getTime() + options.leaseMs),
            startedAt: now,
          },
          { tx },
        );
        if (updated === 1) {
          taken++;
          claimed.push(claimedJob(job, attempts, leaseOwner));
          events.push(jobEvent('job.running', job, ['status', 'attempts']));
        }
      }
      if (due.length > 0) {
        const leaseOwner = randomUUID();
        const lease = {
          leaseOwner,
          leaseExpiresAt: new Date(now.getTime() + options.leaseMs),
          startedAt: now,
        };
        const ids = due.map((job) => job.id);
        // The candidates are locked by this transaction: every one of them changes, or none is claimed.
        if ((await jobsRepo.markRunning(db, ids, lease, { tx })) !== ids.length) {
          throw new Error('claimed jobs changed under their lock');
        }
        for (const job of due) {
          claimed.push(claimedJob(job, job.attempts + 1, leaseOwner));
          events.push(jobEvent('job.running', job, ['status', 'attempts']));
        }
        taken += due.length;
      }
      return taken;
    };

    const read = (which: 'expired' | 'due', limit: number, account?: jobsRepo.JobAccount) =>
      jobsRepo.findClaimable(db, which, { types: options.types, now, limit, tx, account });
    await take(await read('expired', options.limit));

    if (claimed.length < options.limit) {
      const served = options.served;
      if (!served) {
        await take(await read('due', options.limit - claimed.length));
      } else {
        const accounts = await jobsRepo.queuedAccounts(db, {
          types: options.types,
          now,
          limit: ACCOUNTS_PER_CLAIM,
          tx,
        });
        accounts.sort(
          (a, b) => (served.get(accountKey(a)) ?? 0) - (served.get(accountKey(b)) ?? 0) || a.head - b.head,
        );
        // Rounds in which each account gets an equal share of the room left (at least one job),
        // while some account still had jobs to give.
        let open = accounts;
        while (claimed.length < options.limit && open.length > 0) {
          const share = Math.max(1, Math.floor((options.limit - claimed.length) / open.length));
          const next: typeof accounts = [];
          for (const account of open) {
            const room = Math.min(share, options.limit - claimed.length);
            if (room < 1) break;
            const taken = await take(await read('due', room, account));
            if (taken > 0) served.set(accountKey(account), ++serveCounter);
            if (taken === room) next.push(account);
          }
          open = next;
        }
      }
    }
    await recordEvents(db, tx, events);
    return claimed;
  });
}

/** A claimed candidate as the dispatcher holds it. */
function claimedJob(job: jobsRepo.ClaimCandidate, attempts: number, leaseOwner: string): ClaimedJob {
  return {
    id: job.id,
    type: job.type,
    attempts,
    maxAttempts: job.maxAttempts,
    patientId: job.patientId ?? null,
    leaseOwner,
    account: accountKey(job),
    held: {
      id: job.id,
      type: job.type,
      payload: job.payload,
      attempts,
      createdByType: job.createdByType,
      createdById: job.createdById,
      createdByName: job.createdByName,
      requestId: job.requestId,
      requestIp: job.requestIp ?? null,
    },
  };
}

/**
 * Marks a job failed for good in `tx`, keeping its payload, and gives its upload (if any) its
 * retention: it stays for a retry until then.
 */
async function failJob(
  db: Database,
  tx: Transaction,
  job: { id: number },
  failure: { error: string; now: Date; uploadRetentionMs: number; leaseOwner?: string },
): Promise<number> {
  const updated = await jobsRepo.updateJob(
    db,
    job.id,
    {
      status: 'failed',
      error: failure.error.slice(0, MAX_ERROR_LENGTH),
      finishedAt: failure.now,
      ...STOPPED,
    },
    { tx, leaseOwner: failure.leaseOwner },
  );
  if (updated === 1) {
    await jobFilesRepo.setUploadExpiry(
      db,
      job.id,
      new Date(failure.now.getTime() + failure.uploadRetentionMs),
      {
        tx,
      },
    );
  }
  return updated;
}

/**
 * When a job of `types` can next be claimed (queued and due, or its lease ended): null when none
 * is queued or running. One indexed read outside any transaction, so an idle dispatcher's look
 * costs little.
 */
export function nextClaimable(db: Database, types: readonly string[]): Promise<Date | null> {
  return jobsRepo.nextClaimableAt(db, { types });
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
  failure: { error: string; permanent: boolean; backoffMs: number; uploadRetentionMs: number },
): Promise<'retry' | 'failed' | 'lost'> {
  const now = new Date();
  const error = failure.error.slice(0, MAX_ERROR_LENGTH);
  const final = failure.permanent || job.attempts >= job.maxAttempts;
  return db.transaction(async (tx) => {
    const updated = final
      ? await failJob(db, tx, job, {
          error,
          now,
          uploadRetentionMs: failure.uploadRetentionMs,
          leaseOwner: job.leaseOwner,
        })
      : await jobsRepo.updateJob(
          db,
          job.id,
          {
            status: 'queued',
            error,
            runAfter: new Date(now.getTime() + retryDelayMs(failure.backoffMs, job.attempts)),
            leaseOwner: null,
            leaseExpiresAt: null,
          },
          { tx, leaseOwner: job.leaseOwner },
        );
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
 * Puts a run interrupted by a shutdown (or one that yielded its thread to interactive jobs) back
 * in the queue, due at once, without counting it as an attempt. False if this run no longer held
 * the job (it finished, was cancelled or was taken over).
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
export function loadHeldJob(db: Database, id: number, leaseOwner: string): Promise<HeldJob | null> {
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
 * Runs `work` in one transaction only while run `leaseOwner` holds job `id` and it is running: the
 * job's row is locked (by primary key) and checked first, so a cancel or a takeover waits for this
 * commit, or this run finds it and commits nothing (`LeaseLostError`).
 */
export async function withLease<R>(
  db: Database,
  id: number,
  leaseOwner: string,
  work: (tx: Transaction) => Promise<R>,
): Promise<R> {
  return db.transaction(async (tx) => {
    const held = await jobsRepo.findLease(db, id, { tx, lock: 'update' });
    if (held?.status !== 'running' || held.leaseOwner !== leaseOwner) throw new LeaseLostError();
    return work(tx);
  });
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
    // The effect's events and the job's own are written together, last (one id reservation).
    const events: NewEvent[] = [];
    const result = await holdEvents(tx, events, () => work(tx));
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
    await recordEvents(db, tx, [...events, jobEvent('job.succeeded', held, ['status', 'result'])]);
    return result;
  });
}

/** A job's status event (for the change-event table). */
export function jobEvent(
  type: 'job.queued' | 'job.running' | 'job.succeeded' | 'job.failed' | 'job.cancelled',
  job: { id: number; patientId?: number | null },
  fields: string[],
): NewEvent {
  return { type, entityId: job.id, patientId: job.patientId ?? null, fields };
}
