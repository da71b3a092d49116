import { threadId, workerData } from 'node:worker_threads';
import { createDatabase, type Database } from '@hdms/db';
import type { WorkerData, WorkerHello, WorkerMessage } from './pool';
import { type JobRegistry, jobRegistry } from './registry';
import { type JobOutcome, runJob } from './run';
import { callGuard, createGuard, isFrozen } from './sqlite';

/**
 * The Piscina worker thread's entry: runs one claimed job per task with `runJob`. Each thread opens
 * its own connection to the server's database once (`createDatabase`), on its first task. Loaded
 * as `worker.ts` through tsx's loader (`npm start`, tests) or as compiled `worker.js`.
 */

const { config } = workerData as WorkerData;
const sqlite = config.databaseUrl.startsWith('sqlite:');
/** This thread's SQLite guard: lets the main thread terminate it safely (`sqlite.ts`). */
const guard = createGuard();

let opening: Promise<{ db: Database; types: JobRegistry }> | undefined;

/** This thread's database and job types, opened on first use (and again after a failed open). */
function environment(): Promise<{ db: Database; types: JobRegistry }> {
  opening ??= (async () => {
    // Every native call of the database, its opening included, is counted in the guard.
    const db = await createDatabase(config.databaseUrl, {
      queryTimeoutMs: config.databaseTimeoutMs,
      sqliteBusy: 'yield',
      sqliteGuard: callGuard(guard),
      recordPositions: config.readReplicas.urls.length > 0,
    });
    return { db, types: jobRegistry(config) };
  })();
  opening.catch(() => {
    opening = undefined;
  });
  return opening;
}

/**
 * Runs the task's job; a message on the task's port asks it to stop (`interrupt`: shutdown) or to
 * yield its thread at its next batch (`yield`).
 */
export default async function runTask({ task, port }: WorkerMessage): Promise<JobOutcome> {
  const hello: WorkerHello = sqlite ? { threadId, guard } : { threadId };
  port.postMessage(hello);
  const interrupt = new AbortController();
  const yieldRequest = new AbortController();
  port.on('message', (message: unknown) => {
    if (message === 'yield') yieldRequest.abort();
    else interrupt.abort();
  });
  try {
    // A quiesced thread is about to be terminated: it takes no more work.
    if (isFrozen(guard)) return { status: 'interrupted' };
    let env: { db: Database; types: JobRegistry };
    try {
      env = await environment();
    } catch {
      return { status: 'failed', error: 'Database unavailable', permanent: false };
    }
    return await runJob(task, {
      db: env.db,
      types: env.types,
      config,
      interrupt: interrupt.signal,
      yieldRequest: yieldRequest.signal,
    });
  } finally {
    port.close();
  }
}
