import type { Database, Transaction } from '@hdms/db';
import { publicError, safeError, toDomainError } from '../domain/errors';
import type { JobRegistry } from './registry';
import { completeJob, type HeldJob, LeaseLostError, loadHeldJob, withLease, writeProgress } from './store';
import type { JobConfig, JobContext, JobOwner, RunningJob } from './types';

/** What a dispatcher hands a runner: which job, under which lease. */
export interface JobTask {
  jobId: number;
  leaseOwner: string;
  /**
   * The job as its claim read it, when the dispatcher has it: the run starts without reading the
   * job again (its writes still check the lease). Without it the run reads the job, and does
   * nothing if it no longer holds it.
   */
  held?: HeldJob;
}

/**
 * How a run ended, as plain data (it crosses the worker-thread boundary):
 * - `succeeded`: `complete` committed the job's effect and its success;
 * - `failed`: the dispatcher records `error` (safe to show) and retries unless `permanent`;
 *   `log` holds what the server log may say about an unexpected error (never SQL);
 * - `interrupted`: stopped by a shutdown before it finished; it goes back to the queue;
 * - `yielded`: a bulk job gave its thread to waiting interactive jobs; it goes back to the queue;
 * - `lost`: this run no longer held the job (another server took it over); nothing to record.
 */
export type JobOutcome =
  | { status: 'succeeded' }
  | {
      status: 'failed';
      error: string;
      permanent: boolean;
      log?: { name: string; message: string; stack?: string };
    }
  | { status: 'interrupted' }
  | { status: 'yielded' }
  | { status: 'lost' };

/** What a runner needs to run jobs: a database connection of its own thread, the config, the types. */
export interface RunEnvironment {
  db: Database;
  config: JobConfig;
  types: JobRegistry;
  /** Aborted when the server shuts down (a cooperative stop; the dispatcher may terminate later). */
  interrupt?: AbortSignal;
  /** Aborted when interactive jobs wait for this thread: a bulk job yields at its next batch. */
  yieldRequest?: AbortSignal;
}

/** How often a job's progress is written at most. */
const PROGRESS_EVERY_MS = 500;

/** tRPC codes that no retry can change: the job fails at once with the message. */
const PERMANENT_CODES: ReadonlySet<string> = new Set([
  'BAD_REQUEST',
  'PARSE_ERROR',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'METHOD_NOT_SUPPORTED',
  'CONFLICT',
  'PRECONDITION_FAILED',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'UNPROCESSABLE_CONTENT',
  'NOT_IMPLEMENTED',
]);

/** Why the job's own signal was aborted. */
class JobTimeout extends Error {
  override name = 'JobTimeout';
}
class JobInterrupted extends Error {
  override name = 'JobInterrupted';
}
/** Thrown by `yieldIfAsked`. */
class JobYielded extends Error {
  override name = 'JobYielded';
}

/** "30 s", "1.5 s", "2 min". */
function duration(ms: number): string {
  if (ms >= 120_000 && ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${Number((ms / 1000).toFixed(1))} s`;
}

/** The message shown when a run is stopped at its type's time limit. */
export function timeoutMessage(timeoutMs: number): string {
  return `Timed out after ${duration(timeoutMs)}`;
}

/**
 * A failed run as the job's record shows it: errors of the vocabulary (`errors.ts`) keep their
 * public message, and the request-level ones (bad input, forbidden, not found, conflict) are
 * permanent; an unreachable database or an unexpected error is retried, the latter shown only
 * as an internal error (details go to the server log, without SQL).
 */
export function failureOf(error: unknown): Extract<JobOutcome, { status: 'failed' }> {
  const failure = toDomainError(error);
  const outcome: Extract<JobOutcome, { status: 'failed' }> = {
    status: 'failed',
    error: publicError(failure).message,
    permanent: PERMANENT_CODES.has(failure.code),
  };
  if (failure.code === 'INTERNAL_SERVER_ERROR') outcome.log = safeError(failure.cause ?? error);
  return outcome;
}

/**
 * Runs one claimed job to its outcome, in whatever thread the runner chose: loads it (only while
 * this run holds its lease), validates the payload, and calls its type's `run` with a
 * `JobContext`. A type that returns without calling `complete` has its return value stored as
 * the result (in a `complete` of its own). Never throws.
 */
export async function runJob(task: JobTask, env: RunEnvironment): Promise<JobOutcome> {
  const { db, config, types } = env;
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const onInterrupt = () => controller.abort(new JobInterrupted('the server is shutting down'));
  try {
    const row = task.held ?? (await loadHeldJob(db, task.jobId, task.leaseOwner));
    if (!row) return { status: 'lost' };
    const type = types.get(row.type);
    if (!type) return { status: 'failed', error: `Unknown job type ${row.type}`, permanent: true };
    const parsed = type.payload.safeParse(row.payload);
    if (!parsed.success)
      return { status: 'failed', error: "The job's payload is not valid", permanent: true };

    timer = setTimeout(
      () => controller.abort(new JobTimeout(timeoutMessage(type.timeoutMs))),
      type.timeoutMs,
    );
    if (env.interrupt?.aborted) onInterrupt();
    env.interrupt?.addEventListener('abort', onInterrupt, { once: true });

    const job: RunningJob<unknown> = {
      id: row.id,
      type: row.type,
      payload: parsed.data,
      attempt: row.attempts,
      owner: { type: row.createdByType, id: row.createdById, name: row.createdByName } as JobOwner,
      requestId: row.requestId,
      ip: row.requestIp ?? null,
    };
    let progress: { done: number; total: number } | null = null;
    let written = 0;
    let completed = false;
    const ctx: JobContext<unknown> = {
      db,
      job,
      config,
      signal: controller.signal,
      yieldIfAsked() {
        if (env.yieldRequest?.aborted) throw new JobYielded('interactive jobs are waiting');
      },
      async progress(done, total) {
        progress = { done, total };
        const now = Date.now();
        if (now - written < PROGRESS_EVERY_MS) return;
        written = now;
        if (!(await writeProgress(db, job.id, task.leaseOwner, progress))) throw new LeaseLostError();
      },
      checkpoint<R>(work: (tx: Transaction) => Promise<R>): Promise<R> {
        controller.signal.throwIfAborted();
        return withLease(db, job.id, task.leaseOwner, work);
      },
      async complete<R>(work: (tx: Transaction) => Promise<R>): Promise<R> {
        if (completed) throw new Error('complete() may be called once per run');
        completed = true;
        controller.signal.throwIfAborted();
        return completeJob(db, job.id, task.leaseOwner, work, progress);
      },
    };
    const value = await type.run(ctx);
    if (!completed) await ctx.complete(async () => value);
    return { status: 'succeeded' };
  } catch (error) {
    if (error instanceof LeaseLostError) return { status: 'lost' };
    if (error instanceof JobYielded) return { status: 'yielded' };
    const reason: unknown = controller.signal.reason;
    if (reason instanceof JobInterrupted) return { status: 'interrupted' };
    if (reason instanceof JobTimeout) return { status: 'failed', error: reason.message, permanent: false };
    return failureOf(error);
  } finally {
    clearTimeout(timer);
    env.interrupt?.removeEventListener('abort', onInterrupt);
  }
}
