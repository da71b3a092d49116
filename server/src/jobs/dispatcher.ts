import { randomUUID } from 'node:crypto';
import { createDatabase, type Database, parseDatabaseUrl } from '@hdms/db';
import type { Config } from '../env';
import { safeError } from '../domain/errors';
import { Waker } from '../lib/waker';
import type { Logger } from '../logger';
import { createJobRunner, type JobRunner, type JobRunnerOptions } from './pool';
import { enqueueUniqueJob, onJobCommitted, SYSTEM_OWNER } from './queue';
import { type JobRegistry, jobRegistry } from './registry';
import { type JobOutcome, timeoutMessage } from './run';
import { yieldOnBusy } from './sqlite';
import {
  type ClaimedJob,
  claimJobs,
  nextClaimable,
  type QueuePolicy,
  recordFailure,
  renewLease,
  requeueInterrupted,
} from './store';
import type { JobType } from './types';

/** Options of a dispatcher. */
export interface DispatcherOptions extends JobRunnerOptions {
  /**
   * The longest wait between two looks while idle (default `IDLE_LOOK_MS`): after finding work the
   * dispatcher looks again after `MIN_POLL_MS`, doubling while idle, and sooner when the look saw
   * a job coming due. Jobs that other instances queue wake it through `wake()` (the server calls
   * it for each `job.queued` change event its event feed reads), so this is only a safety net.
   */
  pollMs?: number;
  /** How often to make sure the recurring jobs are queued (default one minute). */
  recurringCheckMs?: number;
  /** A runner to use instead of the one `createJobRunner` picks (tests). */
  runner?: JobRunner;
}

/** Extra time a job gets past its type's time limit to stop by itself before its thread is terminated. */
const HARD_STOP_GRACE_MS = 1_000;
/** After the shutdown grace, how long an interrupted job gets to stop by itself. */
const INTERRUPT_GRACE_MS = 1_000;

/** The shortest wait between two looks for jobs of other instances (doubling while idle, up to `pollMs`). */
const MIN_POLL_MS = 20;

/**
 * The longest an idle dispatcher goes without a look (README: background jobs). A look also
 * learns when the next queued job comes due or the next lease ends, and the dispatcher wakes then;
 * jobs queued by other instances wake it through the event feed (`job.queued`), within its
 * 250 ms. So this only bounds what a lost wake-up could delay.
 */
export const IDLE_LOOK_MS = 5_000;

/**
 * Interactive jobs claimed ahead, ready to start, at most (beyond one per thread): a claim takes
 * up to this many more at once, so one claim transaction serves several short jobs.
 */
const READY_AHEAD = 8;

/**
 * While more than this share of the ready-ahead room is still filled, no claim is made: the next
 * claim waits until the ready jobs run low, and then takes a batch (a claim costs about ten
 * statements, however many jobs it takes).
 */
const CLAIM_WHEN_READY_AT_MOST = 0.25;

/** A run in progress. */
interface ActiveRun {
  job: ClaimedJob;
  type: JobType<unknown, unknown>;
  /** The job's lane. */
  bulk: boolean;
  /** Aborting it asks a bulk job to yield its thread at its next batch. */
  yieldRequest: AbortController;
  /** Aborting it abandons the run (and terminates its thread): time up, lease lost, shutdown. */
  hard: AbortController;
  /** Aborting it asks the job to stop (shutdown). */
  interrupt: AbortController;
  done: Promise<void>;
}

/** Why a run was abandoned. */
type HardStop = 'timeout' | 'lease-lost' | 'shutdown';

/**
 * The dispatcher of one server process: claims due jobs (see `claimJobs`) and hands them to the
 * runner, one per worker thread. Two lanes: interactive jobs (`patient.update`, a patient's
 * export, the recurring jobs) may use every thread, are claimed round-robin by account and kept
 * ready (as many as threads) to start the moment a thread frees up; bulk jobs (`lane: 'bulk'`,
 * imports) use at most `JOBS_BULK_THREADS` threads and only free ones, and a running bulk job is
 * asked to yield its thread at its next batch whenever interactive jobs are ready and no thread
 * is free. It wakes at once when a job is committed in this process (any thread) and when the
 * server's event feed reads a `job.queued` event of another instance (`wake()`); a retry or a
 * delayed job wakes it when it comes due, and a lease that ends (its instance died) when it ends.
 * Idle, it looks at most every `pollMs` (a safety net) and costs nothing in between. While a job is claimed, its lease is renewed every third of
 * `JOB_LEASE_SECONDS`; a run whose lease was taken over is abandoned. A run past its type's time
 * limit is abandoned and its thread terminated: it counts as a failed attempt. Failures are
 * retried with exponential backoff up to the type's `maxAttempts`. `stop` ends all of it
 * gracefully.
 */
export class JobDispatcher {
  readonly types: JobRegistry;
  readonly runner: JobRunner;
  /** This process's name in the logs. */
  readonly instance = randomUUID().slice(0, 8);
  private readonly db: Database;
  /** Closed with the dispatcher: its own connection, when it has one (SQLite files). */
  private readonly ownDb: Database | null;
  private readonly config: Config;
  private readonly logger: Logger;
  private readonly pollMs: number;
  private readonly recurringCheckMs: number;
  private readonly capacity: number;
  private readonly bulkCapacity: number;
  private readonly interactiveTypes: string[];
  private readonly bulkTypes: string[];
  private readonly policy: QueuePolicy;
  /** Round-robin state of the interactive lane: when each account was last served. */
  private readonly served = new Map<string, number>();
  private readonly active = new Map<number, ActiveRun>();
  /** Interactive jobs claimed and waiting for a free thread (at most `capacity`): claims come in batches. */
  private readonly ready: ClaimedJob[] = [];
  private stopping = false;
  private started = false;
  private loopDone: Promise<void> = Promise.resolve();
  private readonly waker = new Waker();
  private renewTimer: NodeJS.Timeout | undefined;
  private recurringTimer: NodeJS.Timeout | undefined;
  private unsubscribe: () => void = () => undefined;
  private stopped: Promise<void> | undefined;

  /**
   * A dispatcher for the server's database `db`. On a SQLite file it opens a connection of its own
   * that never waits inside SQLite for a lock (`yieldOnBusy`); elsewhere it shares `db`.
   */
  static async create(
    db: Database,
    config: Config,
    logger: Logger,
    options: DispatcherOptions = {},
  ): Promise<JobDispatcher> {
    const target = parseDatabaseUrl(config.databaseUrl);
    if (target.dialect !== 'sqlite' || target.storage === ':memory:') {
      return new JobDispatcher(db, null, config, logger, options);
    }
    const own = await createDatabase(config.databaseUrl, {
      queryTimeoutMs: config.databaseTimeoutMs,
      recordPositions: config.readReplicas.urls.length > 0,
    });
    yieldOnBusy(own);
    try {
      return new JobDispatcher(db, own, config, logger, options);
    } catch (error) {
      await own.close();
      throw error;
    }
  }

  private constructor(
    serverDb: Database,
    ownDb: Database | null,
    config: Config,
    logger: Logger,
    options: DispatcherOptions,
  ) {
    this.db = ownDb ?? serverDb;
    this.ownDb = ownDb;
    this.config = config;
    this.logger = logger.child({ component: 'jobs', instance: this.instance });
    this.types = jobRegistry(config);
    this.runner = options.runner ?? createJobRunner(serverDb, config, logger, this.types, options);
    this.pollMs = options.pollMs ?? IDLE_LOOK_MS;
    this.recurringCheckMs = options.recurringCheckMs ?? 60_000;
    this.capacity = config.workerThreads * config.jobs.tasksPerThread;
    this.bulkCapacity = Math.min(config.workerThreads, config.jobs.bulkThreads);
    const types = [...this.types.values()];
    this.bulkTypes = types.filter((t) => t.lane === 'bulk').map((t) => t.name);
    this.interactiveTypes = types.filter((t) => t.lane !== 'bulk').map((t) => t.name);
    this.policy = {
      maxInterruptions: config.jobs.maxInterruptions,
      uploadRetentionMs: config.jobs.uploadRetentionHours * 3_600_000,
    };
  }

  /** Starts claiming jobs, renewing leases and keeping the recurring jobs queued. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.unsubscribe = onJobCommitted(() => this.wake());
    this.renewTimer = setInterval(() => void this.renewLeases(), Math.max(500, this.config.jobs.leaseMs / 3));
    this.recurringTimer = setInterval(() => void this.ensureRecurring(), this.recurringCheckMs);
    this.renewTimer.unref();
    this.recurringTimer.unref();
    void this.ensureRecurring();
    this.loopDone = this.loop();
  }

  /** Makes the loop look for jobs now rather than at the next poll. */
  wake(): void {
    this.waker.wake();
  }

  /** How many jobs this process is running. */
  get running(): number {
    return this.active.size;
  }

  /**
   * Queues each recurring job type (`everyMinutes`, e.g. `sessions.purge`) that has no unfinished
   * job yet on any instance (the type's name is the job's unique key), due `everyMinutes` from
   * now. Safe to call from every instance at any time.
   */
  async ensureRecurring(): Promise<void> {
    for (const type of this.types.values()) {
      if (this.stopping || !type.everyMinutes) continue;
      const minutes = type.everyMinutes(this.config);
      try {
        await this.db.transaction((tx) =>
          enqueueUniqueJob(this.db, tx, {
            type,
            payload: {},
            owner: SYSTEM_OWNER,
            requestId: randomUUID(),
            uniqueKey: type.name,
            runAfter: new Date(Date.now() + minutes * 60_000),
          }),
        );
      } catch (error) {
        this.logger.warn({ type: type.name, err: safeError(error) }, 'could not queue a recurring job');
      }
    }
  }

  /**
   * Graceful stop: claims nothing more, lets running jobs finish for up to `graceMs`, then asks
   * the rest to stop and abandons them (they go back to the queue, their attempt not counted),
   * and closes the worker threads. Queued jobs stay queued for the next start or another
   * instance.
   */
  stop(graceMs = 10_000): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      this.unsubscribe();
      clearInterval(this.recurringTimer);
      this.wake();
      await this.loopDone;
      const unstarted = this.ready.splice(0);
      await Promise.all(unstarted.map((job) => requeueInterrupted(this.db, job).catch(() => false)));
      const runs = [...this.active.values()];
      if (runs.length) {
        this.logger.info({ jobs: runs.map((r) => r.job.id) }, 'waiting for running jobs to finish');
        if (!(await settledWithin(runs, graceMs))) {
          for (const run of this.active.values()) run.interrupt.abort();
          if (!(await settledWithin([...this.active.values()], INTERRUPT_GRACE_MS))) {
            for (const run of this.active.values()) run.hard.abort('shutdown' satisfies HardStop);
          }
          await Promise.all([...this.active.values()].map((r) => r.done));
        }
      }
      clearInterval(this.renewTimer);
      await this.runner.close();
      await this.ownDb?.close();
    })();
    return this.stopped;
  }

  /**
   * Claims jobs while there is room, then sleeps until woken or the next look. Interactive room is
   * a thread for each job plus claimed jobs ready to start (as many as threads, at least
   * `READY_AHEAD`): a thread that frees up starts a ready job at once, and a claim (one
   * transaction) takes every job it has room for. Bulk jobs
   * are claimed only for a free thread within `JOBS_BULK_THREADS`, and only while no interactive
   * job is ready. An idle look (not woken, nothing found last time) first reads, in one cheap
   * statement, when the next job comes due (or the next lease ends), claims if that is now, and
   * otherwise sleeps until then (at most `pollMs`).
   */
  private async loop(): Promise<void> {
    let idleMs = MIN_POLL_MS;
    while (!this.stopping) {
      const woken = this.waker.woken;
      this.waker.reset();
      let full = false;
      let claimedAny = false;
      /** When the idle look saw the next job coming due (or a lease ending), if later than now. */
      let dueIn: number | null = null;
      // Woken by a commit or a finished run, or just found work: claim without the cheap look.
      const look = !woken && idleMs > MIN_POLL_MS;
      try {
        const readyAhead = Math.max(this.capacity, READY_AHEAD);
        const interactiveRoom =
          this.ready.length > readyAhead * CLAIM_WHEN_READY_AT_MOST
            ? 0
            : this.capacity + readyAhead - this.activeIn(false) - this.ready.length;
        const bulkRoom = () =>
          this.ready.length > 0
            ? 0
            : Math.min(this.bulkCapacity - this.activeIn(true), this.capacity - this.active.size);
        let claimable = interactiveRoom > 0 || bulkRoom() > 0;
        if (claimable && look) {
          const next = await nextClaimable(this.db, [...this.interactiveTypes, ...this.bulkTypes]);
          const wait = next === null ? null : next.getTime() - Date.now();
          claimable = wait !== null && wait <= 0;
          if (wait !== null && wait > 0) dueIn = wait;
        }
        if (claimable) {
          const interactive = await this.claim(this.interactiveTypes, interactiveRoom);
          if (interactive === null) break;
          this.ready.push(...interactive);
          this.startReady();
          const room = bulkRoom();
          const bulk = await this.claim(this.bulkTypes, room);
          if (bulk === null) break;
          for (const job of bulk) this.launch(job);
          claimedAny = interactive.length + bulk.length > 0;
          full =
            (interactive.length > 0 && interactive.length === interactiveRoom) ||
            (room > 0 && bulk.length === room);
        }
      } catch (error) {
        this.logger.warn({ err: safeError(error) }, 'could not claim jobs');
      }
      if (full) continue;
      idleMs = claimedAny || this.waker.woken ? MIN_POLL_MS : Math.min(this.pollMs, idleMs * 2);
      // A job comes due before the next look: look just after it does (no earlier than MIN_POLL_MS).
      await this.waker.sleep(dueIn === null ? idleMs : Math.max(MIN_POLL_MS, Math.min(idleMs, dueIn + 1)));
    }
  }

  /** Running jobs of one lane. */
  private activeIn(bulk: boolean): number {
    let n = 0;
    for (const run of this.active.values()) if (run.bulk === bulk) n++;
    return n;
  }

  /**
   * Claims up to `limit` jobs of `types` (round-robin by account); null if the stop began
   * meanwhile (whatever was claimed is handed back at once).
   */
  private async claim(types: string[], limit: number): Promise<ClaimedJob[] | null> {
    if (limit < 1 || types.length === 0) return this.stopping ? null : [];
    const claimed = await claimJobs(this.db, {
      types,
      limit,
      leaseMs: this.config.jobs.leaseMs,
      served: this.served,
      ...this.policy,
    });
    if (this.served.size > 10_000) this.served.clear();
    if (!this.stopping) return claimed;
    await Promise.all(claimed.map((job) => requeueInterrupted(this.db, job).catch(() => false)));
    return null;
  }

  /**
   * Starts ready jobs on the free threads; while ready jobs still wait, asks as many running bulk
   * jobs to yield their threads at their next batch.
   */
  private startReady(): void {
    while (!this.stopping && this.active.size < this.capacity && this.ready.length > 0) {
      this.launch(this.ready.shift()!);
    }
    let asked = 0;
    for (const run of this.active.values()) if (run.yieldRequest.signal.aborted) asked++;
    for (const run of this.active.values()) {
      if (asked >= this.ready.length) break;
      if (run.bulk && !run.yieldRequest.signal.aborted) {
        run.yieldRequest.abort();
        asked++;
      }
    }
  }

  /** Starts one claimed job on the runner and records its outcome when it ends. */
  private launch(job: ClaimedJob): void {
    const type = this.types.get(job.type)!;
    const hard = new AbortController();
    const interrupt = new AbortController();
    const deadline = setTimeout(
      () => hard.abort('timeout' satisfies HardStop),
      type.timeoutMs + HARD_STOP_GRACE_MS,
    );
    const run: ActiveRun = {
      job,
      type,
      bulk: type.lane === 'bulk',
      yieldRequest: new AbortController(),
      hard,
      interrupt,
      done: Promise.resolve(),
    };
    this.active.set(job.id, run);
    const started = performance.now();
    this.logger.debug({ job: job.id, type: job.type, attempt: job.attempts }, 'job started');
    run.done = this.runner
      .run(
        { jobId: job.id, leaseOwner: job.leaseOwner, held: job.held },
        { signal: hard.signal, interrupt: interrupt.signal, yieldRequest: run.yieldRequest.signal },
      )
      .catch((error: unknown): JobOutcome => {
        if (hard.signal.aborted) {
          const reason = hard.signal.reason as HardStop;
          if (reason === 'timeout') {
            return { status: 'failed', error: timeoutMessage(type.timeoutMs), permanent: false };
          }
          return reason === 'shutdown' ? { status: 'interrupted' } : { status: 'lost' };
        }
        return {
          status: 'failed',
          error: 'The job stopped unexpectedly',
          permanent: false,
          log: safeError(error),
        };
      })
      .then((outcome) => this.settle(run, outcome, Math.round(performance.now() - started)))
      .catch((error: unknown) => {
        this.logger.error({ job: job.id, err: safeError(error) }, 'could not record the outcome of a job');
      })
      .finally(() => {
        clearTimeout(deadline);
        this.active.delete(job.id);
        this.startReady();
        this.wake();
      });
  }

  /**
   * Records a run's outcome (a success is recorded by the run itself, in `complete`) and logs it:
   * every finished run at info or above with the job's id, type, attempt, outcome and duration
   * (never its payload or result: they may hold clinical content).
   */
  private async settle({ job, type }: ActiveRun, outcome: JobOutcome, durationMs: number): Promise<void> {
    const fields = {
      job: job.id,
      type: job.type,
      attempt: job.attempts,
      outcome: outcome.status,
      durationMs,
    };
    switch (outcome.status) {
      case 'succeeded':
        this.logger.info(fields, 'job succeeded');
        return;
      case 'lost':
        this.logger.warn(
          fields,
          'job no longer held by this run (taken over after its lease expired, or cancelled); this run was dropped',
        );
        return;
      case 'interrupted':
        await requeueInterrupted(this.db, job);
        this.logger.info(fields, 'job interrupted by the shutdown; queued again');
        return;
      case 'yielded':
        await requeueInterrupted(this.db, job);
        this.logger.debug(fields, 'bulk job yielded its thread to interactive jobs; queued again');
        return;
      case 'failed': {
        const result = await recordFailure(this.db, job, {
          error: outcome.error,
          permanent: outcome.permanent,
          backoffMs: type.backoffMs ?? 1_000,
          uploadRetentionMs: this.policy.uploadRetentionMs,
        });
        const log = {
          ...fields,
          outcome: result === 'retry' ? 'retrying' : result,
          error: outcome.error,
          ...(outcome.log ? { err: outcome.log } : {}),
        };
        if (result === 'retry') this.logger.warn(log, 'job failed; it will be retried');
        else if (result === 'failed') this.logger.warn(log, 'job failed for good');
        return;
      }
    }
  }

  /** Renews the lease of every running or ready job; a run whose lease is gone is abandoned. */
  private async renewLeases(): Promise<void> {
    for (const job of [...this.ready]) {
      try {
        if ((await renewLease(this.db, job, this.config.jobs.leaseMs)) !== 'held') {
          const at = this.ready.indexOf(job);
          if (at >= 0) this.ready.splice(at, 1);
        }
      } catch (error) {
        this.logger.warn({ job: job.id, err: safeError(error) }, 'could not renew a job lease');
      }
    }
    for (const run of [...this.active.values()]) {
      try {
        // Taken over (this server was presumed dead): stop the run, which can no longer complete.
        if ((await renewLease(this.db, run.job, this.config.jobs.leaseMs)) === 'taken') {
          run.hard.abort('lease-lost' satisfies HardStop);
        }
      } catch (error) {
        this.logger.warn({ job: run.job.id, err: safeError(error) }, 'could not renew a job lease');
      }
    }
  }
}

/** True if every run ended within `ms`. */
async function settledWithin(runs: ActiveRun[], ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([Promise.all(runs.map((r) => r.done)).then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
