import { EventEmitter } from 'node:events';
import { BroadcastChannel, isMainThread } from 'node:worker_threads';
import { type Database, databaseFailureOf, jobsRepo, type Transaction } from '@hdms/db';
import { recordEvent } from '../domain/events/record';
import type { JobOwner, JobType } from './types';

/** The owner of jobs the server starts by itself (recurring jobs): only admins see them. */
export const SYSTEM_OWNER: JobOwner = { type: 'system', id: 0, name: 'system' };

/** A job to enqueue. */
export interface NewJob<P> {
  /** The job type (registered under its name in `jobs/registry.ts`). */
  type: JobType<P, unknown>;
  /** Checked against the type's schema now and before every run. Never a secret. */
  payload: P;
  /** Who asked: the job runs as them, and only they and admins see it. */
  owner: JobOwner;
  /** The request that asked (audit rows of the job's effect carry it). */
  requestId: string;
  /** That request's client address, for the same audit rows. */
  ip?: string | null;
  /**
   * Jobs with the same key (`patient:42`) run one at a time, in id order: one is claimed only when
   * no earlier job with its key is queued or running. Ids follow the order in which the enqueueing
   * transactions commit only if they are serialised, so enqueue under a lock on what the key names
   * (`patient.update` enqueues while holding the patient's row lock).
   */
  serialKey?: string | null;
  /** The patient the job concerns, if any (admins filter by it; it is admission data). */
  patientId?: number | null;
  /** At most one unfinished (queued or running) job per unique key: see `enqueueUniqueJob`. */
  uniqueKey?: string | null;
  /** Not before this time (default now). */
  runAfter?: Date;
}

/** Tells this process's dispatchers that a job was committed, so they claim it without waiting. */
const committed = new EventEmitter();
committed.setMaxListeners(0);

/** The name of the channel on which worker threads tell the main thread of their committed jobs. */
const COMMITTED_CHANNEL = 'hdms:job-committed';

/** A worker thread's end of that channel (opened on first use; it never keeps the thread alive). */
let workerChannel: BroadcastChannel | undefined;

/** The main thread's end, open while a dispatcher listens. */
let mainChannel: BroadcastChannel | undefined;

/**
 * Signals that a job became due in this process (call it after the commit): to this thread's
 * listeners, and from a worker thread to the main thread's.
 */
export function signalCommitted(): void {
  committed.emit('job');
  if (isMainThread) return;
  if (!workerChannel) {
    workerChannel = new BroadcastChannel(COMMITTED_CHANNEL);
    workerChannel.unref();
  }
  workerChannel.postMessage(1);
}

/**
 * Calls `listener` whenever a job enqueued in this process (by the main thread or a worker
 * thread) is committed, after the commit; returns the unsubscribe.
 */
export function onJobCommitted(listener: () => void): () => void {
  committed.on('job', listener);
  if (isMainThread && !mainChannel) {
    mainChannel = new BroadcastChannel(COMMITTED_CHANNEL);
    mainChannel.unref();
    mainChannel.onmessage = () => committed.emit('job');
  }
  return () => {
    committed.off('job', listener);
    if (mainChannel && committed.listenerCount('job') === 0) {
      mainChannel.close();
      mainChannel = undefined;
    }
  };
}

/** The database jobs are enqueued in (a `Database` will do). */
type QueueDatabase = Pick<Database, 'models' | 'sequelize' | 'dialect'>;

/**
 * Inserts a job in the caller's transaction: the job exists if and only if the change that caused
 * it commits, and this process's dispatcher is woken when it does. The payload is validated by the
 * type's schema first (a payload that does not fit is a programming error, thrown as such).
 */
export async function enqueueJob<P>(
  db: QueueDatabase,
  tx: Transaction,
  job: NewJob<P>,
): Promise<{ id: number }> {
  const parsed = job.type.payload.safeParse(job.payload);
  if (!parsed.success) throw new Error(`invalid payload for a ${job.type.name} job`);
  const patientId = job.patientId ?? null;
  const id = await jobsRepo.insertJob(
    db,
    {
      type: job.type.name,
      payload: job.payload,
      status: 'queued',
      attempts: 0,
      maxAttempts: job.type.maxAttempts,
      runAfter: job.runAfter ?? new Date(),
      serialKey: job.serialKey ?? null,
      uniqueKey: job.uniqueKey ?? null,
      patientId,
      createdByType: job.owner.type,
      createdById: job.owner.id,
      createdByName: job.owner.name.slice(0, 120),
      requestId: job.requestId.slice(0, 64),
      requestIp: job.ip?.slice(0, 64) ?? null,
    },
    { tx },
  );
  tx.afterCommit(signalCommitted);
  await recordEvent(db, tx, { type: 'job.queued', entityId: id, patientId });
  return { id };
}

/**
 * Enqueues a job unless an unfinished job with the same `uniqueKey` exists (on any instance: the
 * key is a unique column until the job finishes). Returns the new job's id, or null.
 */
export async function enqueueUniqueJob<P>(
  db: QueueDatabase,
  tx: Transaction,
  job: NewJob<P> & { uniqueKey: string },
): Promise<{ id: number } | null> {
  if (await jobsRepo.hasUnfinishedWithKey(db, job.uniqueKey, { tx })) return null;
  try {
    return await enqueueJob(db, tx, job);
  } catch (error) {
    if (databaseFailureOf(error) === 'duplicate') return null;
    throw error;
  }
}
