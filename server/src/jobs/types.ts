import type { Database, Transaction } from '@hdms/db';
import type { z } from 'zod';
import type { Config } from '../env';

/**
 * The contract between the job framework (store, dispatcher, worker pool: `jobs/queue.ts`,
 * `jobs/dispatcher.ts`, `jobs/worker.ts`) and the job types (one module per type under
 * `jobs/types/`, registered by name in `jobs/registry.ts`).
 */

/**
 * Who asked for a job: the job runs as this actor, and only they (and admins) may see it.
 * `system` is the server itself (recurring jobs such as `sessions.purge`: id 0, name `system`);
 * only admins see those.
 */
export interface JobOwner {
  type: 'user' | 'service' | 'system';
  id: number;
  name: string;
}

/**
 * The configuration a job sees: the server's, without the bootstrap admin's credentials (workers
 * get a copy; nothing secret beyond the database URL they need to connect).
 */
export type JobConfig = Omit<Config, 'admin' | 'metrics'>;

/** What a running job knows about itself. */
export interface RunningJob<P> {
  id: number;
  type: string;
  payload: P;
  /** 1 on the first run, 2 on the first retry, … */
  attempt: number;
  owner: JobOwner;
  /** The request that enqueued the job (audit rows of its effect carry it). */
  requestId: string;
  /** The client address of that request, if known (for audit rows). */
  ip: string | null;
}

/** What a job type's `run` gets: its own database handle, progress reporting, its deadline. */
export interface JobContext<P> {
  /** The worker's own connection to the server's database. */
  db: Database;
  job: RunningJob<P>;
  /** Shows `done` of `total` in `jobs.get` while the job runs (written at most every 500 ms). */
  progress(done: number, total: number): Promise<void>;
  /**
   * Runs the job's final writes and marks the job succeeded with `result` in ONE transaction,
   * only while this run still holds the job's lease: the effect of a job is applied exactly once
   * even if the process dies at any moment. A job type calls it once, at the end.
   */
  complete<R>(work: (tx: Transaction) => Promise<R>): Promise<R>;
  /**
   * Runs an intermediate commit (a bulk job's batch) in one transaction, only while this run still
   * holds the job's lease and the job is running (the job's row is locked first): a run that lost
   * its job (taken over, cancelled) commits nothing more (`LeaseLostError`).
   */
  checkpoint<R>(work: (tx: Transaction) => Promise<R>): Promise<R>;
  /** Aborted when the job's time is up or the server shuts down. */
  signal: AbortSignal;
  /**
   * For bulk jobs, between two committed batches: if interactive jobs are waiting for this
   * thread, ends the run here (it is queued again, its attempt not counted, and resumes from its
   * last committed batch once they ran); otherwise returns at once.
   */
  yieldIfAsked(): void;
  /** The server's configuration (e.g. retention times). */
  config: JobConfig;
}

/** One kind of background job. */
export interface JobType<P = unknown, R = unknown> {
  /** The registered name, e.g. `patient.update`. */
  name: string;
  /** Validates the stored payload before every run (payloads never hold secrets). */
  payload: z.ZodType<P, z.ZodTypeDef, unknown>;
  /** How long one run may take before it is aborted and counted as failed. */
  timeoutMs: number;
  /** Runs before the job is marked failed for good. */
  maxAttempts: number;
  /**
   * `bulk` (imports): its own lane, at most JOBS_BULK_THREADS threads, and it yields its thread
   * between batches to waiting interactive jobs (`yieldIfAsked`). Default `interactive`.
   */
  lane?: 'interactive' | 'bulk';
  /** Does the work; what `complete` returns is the job's result (JSON). */
  run(ctx: JobContext<P>): Promise<R>;
  /**
   * The first retry's delay in ms (default 1,000); each later retry waits twice as long as the
   * one before (capped at 10 minutes), with up to 20% jitter.
   */
  backoffMs?: number;
  /**
   * The result as an admin who did not start the job may see it: never clinical content. Without
   * it, such an admin sees no result at all (status, attempts, progress and error only). The
   * user who started the job sees the result as stored.
   */
  adminResult?(result: R): unknown;
  /**
   * When a job of the type is cancelled: called in the cancel's transaction (the job's row is
   * locked, so no batch of a run commits meanwhile); what it returns is stored as the cancelled
   * job's result (e.g. what an import committed before). It may free the job's files.
   */
  onCancel?(db: Database, jobId: number, tx: Transaction): Promise<R | null>;
  /**
   * Makes the type recurring: every dispatcher keeps one job of it queued (one across all
   * instances: its unique key is the type's name), with the payload `{}`, due this many minutes
   * after it was enqueued; the next one is queued once it has run.
   */
  everyMinutes?(config: JobConfig): number;
}
