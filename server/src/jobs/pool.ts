import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { type Database, parseDatabaseUrl } from '@hdms/db';
import { Piscina } from 'piscina';
import type { Config } from '../env';
import type { Logger } from '../logger';
import type { JobRegistry } from './registry';
import { quiesce } from './sqlite';
import { type JobOutcome, type JobTask, runJob } from './run';
import type { JobConfig } from './types';

/**
 * Where jobs run. `run` resolves with the job's outcome; it rejects only when the run was cut
 * short: `signal` aborted (the dispatcher's hard deadline: the run is abandoned) or the worker
 * thread died. `interrupt` asks the job to stop cooperatively (shutdown).
 */
export interface JobRunner {
  /** `pool` (Piscina worker threads) or `inline` (the main thread, for `sqlite::memory:`). */
  readonly kind: 'pool' | 'inline';
  run(
    task: JobTask,
    options: { signal: AbortSignal; interrupt: AbortSignal; yieldRequest?: AbortSignal },
  ): Promise<JobOutcome>;
  /** Stops the worker threads (abandoning anything still running). */
  close(): Promise<void>;
}

/** Options of `createJobRunner`. */
export interface JobRunnerOptions {
  /** The worker module (default: `worker.js` next to this module, else `worker.ts`). */
  workerFile?: string;
  /** Node options of the worker threads (default: the process's, plus tsx's loader for a `.ts` worker). */
  execArgv?: string[];
}

/** What a worker thread is started with (`workerData`). */
export interface WorkerData {
  config: JobConfig;
}

/** One task posted to a worker thread: the job, and the port that carries a shutdown request. */
export interface WorkerMessage {
  task: JobTask;
  port: MessagePort;
}

/** The configuration a worker thread gets: everything but the bootstrap admin's credentials. */
export function jobConfig(config: Config): JobConfig {
  const { admin: _admin, metrics: _metrics, ...rest } = config;
  return rest;
}

/**
 * The worker module: `worker.js` (or `.mjs`) next to the running module when the server runs
 * from compiled JavaScript (a bundle must emit it next to itself), else `worker.ts` in the source
 * tree (`npm start`, tests).
 */
export function defaultWorkerFile(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = ['worker.js', 'worker.mjs', 'worker.ts'].map((name) => join(here, name));
  const found = candidates.find((file) => existsSync(file));
  if (!found) throw new Error(`the background job worker (worker.js or worker.ts) is missing from ${here}`);
  return found;
}

/** True when `execArgv` already loads tsx (`node --import tsx`, `--loader tsx`, `--require tsx/cjs`). */
function loadsTsx(execArgv: readonly string[]): boolean {
  return execArgv.some((arg) => /(^|[=/\\])tsx($|[/\\])/.test(arg));
}

/**
 * The Node options of worker threads for `workerFile`: the process's own (worker threads inherit
 * `node --import tsx` under `npm start`), plus tsx's loader when a `.ts` worker would otherwise
 * run without one (e.g. under a test runner that compiles TypeScript itself).
 */
export function workerExecArgv(workerFile: string): string[] {
  const inherited = [...process.execArgv];
  if (!/\.[cm]?ts$/.test(workerFile) || loadsTsx(inherited)) return inherited;
  const tsx = createRequire(import.meta.url).resolve('tsx');
  return [...inherited, '--import', pathToFileURL(tsx).href];
}

/** True for `sqlite::memory:`: a database no other thread can open. */
function inMemory(databaseUrl: string): boolean {
  const target = parseDatabaseUrl(databaseUrl);
  return target.dialect === 'sqlite' && target.storage === ':memory:';
}

/** Rejects when `signal` aborts, with its reason. */
function whenAborted(signal: AbortSignal): { promise: Promise<never>; dispose(): void } {
  let dispose: () => void = () => undefined;
  const promise = new Promise<never>((_, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    dispose = () => signal.removeEventListener('abort', onAbort);
  });
  promise.catch(() => undefined);
  return { promise, dispose };
}

/**
 * Runs jobs in the main thread, through the same `runJob` as the worker threads: for
 * `sqlite::memory:`, whose database exists only in this thread's connection. A job that ignores
 * its signal cannot be terminated here: at the hard deadline it is abandoned (its lease is given
 * up, so whatever it does later cannot complete it) while it keeps running in the background.
 */
function inlineRunner(db: Database, config: Config, types: JobRegistry): JobRunner {
  const env = { db, config: jobConfig(config), types };
  return {
    kind: 'inline',
    async run(task, { signal, interrupt, yieldRequest }) {
      const aborted = whenAborted(signal);
      try {
        return await Promise.race([runJob(task, { ...env, interrupt, yieldRequest }), aborted.promise]);
      } finally {
        aborted.dispose();
      }
    },
    async close() {},
  };
}

/** What a worker thread tells the main thread when it starts a task: its thread id and its guard. */
export interface WorkerHello {
  threadId: number;
  /** The thread's SQLite guard (`sqlite.ts`); absent on MySQL, where threads need none. */
  guard?: Int32Array;
}

/** Piscina's balancer type (its package does not export it by name). */
type LoadBalancer = NonNullable<NonNullable<ConstructorParameters<typeof Piscina>[0]>['loadBalancer']>;
type PoolWorker = Parameters<LoadBalancer>[1][number];

/**
 * Piscina's task placement for runs that may share a thread (`tasksPerThread` at once): an idle
 * thread first, then a new thread while the pool has room, then the least busy thread with a free
 * slot. Piscina's own balancer never shares a thread between abortable tasks, and every run is
 * abortable (its hard deadline): a thread terminated for one run interrupts the others on it, which
 * `run` reports as `interrupted` (queued again, not a failed attempt).
 */
function sharingBalancer(maxThreads: number, tasksPerThread: number): LoadBalancer {
  return (_task, workers) => {
    let least: PoolWorker | null = null;
    let leastUsage = tasksPerThread;
    for (const worker of workers) {
      if (worker.terminating || worker.destroyed) continue;
      // Piscina counts a thread running one abortable task as full (Infinity): it is one task.
      const usage = worker.isRunningAbortableTask ? 1 : worker.currentUsage;
      if (usage === 0) return worker;
      if (usage < leastUsage) {
        least = worker;
        leastUsage = usage;
      }
    }
    return workers.length < maxThreads ? null : least;
  };
}

/**
 * Runs jobs on a Piscina pool of `WORKER_THREADS` threads; each thread opens its own connection to
 * the database. Aborting a run's `signal` terminates its thread (Piscina starts a new one), so a
 * job that hangs or loops never holds the server. On SQLite a thread is quiesced first (see
 * `sqlite.ts`), so that terminating it never aborts the process.
 */
function poolRunner(config: Config, logger: Logger, options: JobRunnerOptions): JobRunner {
  const filename = options.workerFile ?? defaultWorkerFile();
  const workerData: WorkerData = { config: jobConfig(config) };
  const pool = new Piscina({
    filename,
    execArgv: options.execArgv ?? workerExecArgv(filename),
    minThreads: 0,
    maxThreads: config.workerThreads,
    idleTimeout: 60_000,
    concurrentTasksPerWorker: config.jobs.tasksPerThread,
    loadBalancer: sharingBalancer(config.workerThreads, config.jobs.tasksPerThread),
    // Idle threads keep their event loop running (no blocking wait for the next task), so that
    // the completions of their database calls are processed as they come, not at termination.
    atomics: 'disabled',
    workerData,
  });
  pool.on('error', (error: unknown) => {
    logger.error(
      { err: error instanceof Error ? { name: error.name, message: error.message } : String(error) },
      'job worker thread failed',
    );
  });
  /** The guards of the threads seen, by thread id: every one is quiesced before the pool closes. */
  const guards = new Map<number, Int32Array>();
  /** Threads terminated to cut a run short: the other runs they carried were interrupted. */
  const cutThreads = new Set<number>();

  /** Terminates one thread by id (after it was quiesced), if it is still alive. */
  const terminate = (threadId: number) => {
    const thread = pool.threads.find((t) => t.threadId === threadId);
    return thread ? thread.terminate().then(() => undefined) : Promise.resolve();
  };

  return {
    kind: 'pool',
    async run(task, { signal, interrupt, yieldRequest }) {
      const channel = new MessageChannel();
      let hello: WorkerHello | undefined;
      channel.port1.on('message', (message: WorkerHello) => {
        hello = message;
        if (message.guard) guards.set(message.threadId, message.guard);
      });
      const onInterrupt = () => channel.port1.postMessage('interrupt');
      interrupt.addEventListener('abort', onInterrupt, { once: true });
      const onYield = () => channel.port1.postMessage('yield');
      yieldRequest?.addEventListener('abort', onYield, { once: true });
      // The dispatcher's abort reaches Piscina (which terminates the thread) only once the thread
      // has been quiesced.
      const cut = new AbortController();
      const message: WorkerMessage = { task, port: channel.port2 };
      const running = pool.run(message, { signal: cut.signal, transferList: [channel.port2] });
      const onAbort = () => {
        void (async () => {
          const seen = hello;
          if (seen) cutThreads.add(seen.threadId);
          if (!seen?.guard) return cut.abort(signal.reason);
          await quiesce(seen.guard);
          cut.abort(signal.reason);
          // Finished before the abort came: the frozen thread must go all the same.
          await running.catch(() => undefined);
          await terminate(seen.threadId);
        })();
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      try {
        return (await running) as JobOutcome;
      } catch (error) {
        // Another run on this thread was cut short, and this one with it: not its fault.
        if (!signal.aborted && hello && cutThreads.has(hello.threadId)) return { status: 'interrupted' };
        throw error;
      } finally {
        signal.removeEventListener('abort', onAbort);
        interrupt.removeEventListener('abort', onInterrupt);
        yieldRequest?.removeEventListener('abort', onYield);
        channel.port1.close();
      }
    },
    async close() {
      await Promise.all([...guards.values()].map((guard) => quiesce(guard)));
      await pool.destroy();
    },
  };
}

/**
 * The runner for this configuration: worker threads, or the main thread for `sqlite::memory:`
 * (documented in the README: in-memory databases run jobs in the server's own thread).
 */
export function createJobRunner(
  db: Database,
  config: Config,
  logger: Logger,
  types: JobRegistry,
  options: JobRunnerOptions = {},
): JobRunner {
  if (inMemory(config.databaseUrl)) return inlineRunner(db, config, types);
  return poolRunner(config, logger, options);
}
