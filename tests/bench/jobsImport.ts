/**
 * The large-import part of `npm run bench -- jobs`: the main thread's event-loop delay while a
 * large CSV import runs on the worker threads. A real server (HTTP, dispatcher, Piscina pool) runs
 * in this process; the CSV goes through `POST /patients/import` like any upload, and while the
 * `patients.import` job runs, the main thread's event-loop delay is sampled
 * (`monitorEventLoopDelay`) and `/healthz` is timed every 100 ms.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadConfig } from '../../server/src/env';
import { createLogger } from '../../server/src/logger';
import { startServer } from '../../server/src/server';

/** Options of `benchLargeImport`. */
export interface LargeImportOptions {
  /** Rows to import (default 100,000). */
  rows?: number;
  /** The database (default: a temporary SQLite file, removed afterwards). Use an empty one. */
  databaseUrl?: string;
  /** Worker threads of the server (default: the server's own default). */
  workerThreads?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/** What `benchLargeImport` measured; times in milliseconds. */
export interface LargeImportResult {
  rows: number;
  bytes: number;
  dialect: string;
  /** From the upload's 202 to the job's success. */
  seconds: number;
  rowsPerSecond: number;
  /** The main thread's event-loop delay while the job ran (sampled every millisecond, which it includes). */
  eventLoopDelay: { p50: number; p99: number; max: number };
  /** The same, idle, for comparison (one second before the upload). */
  idleEventLoopDelay: { p50: number; p99: number; max: number };
  /** `GET /healthz` answer times while the job ran. */
  healthz: { p50: number; p99: number; max: number; samples: number };
}

const ADMIN = {
  username: 'bench-admin',
  email: 'bench-admin@example.org',
  password: 'lantern-harbor-quiet-42',
};
const ms = (ns: number) => Number((ns / 1e6).toFixed(2));
const sleep = (duration: number) => new Promise((resolve) => setTimeout(resolve, duration));

function delays(histogram: ReturnType<typeof monitorEventLoopDelay>) {
  return { p50: ms(histogram.percentile(50)), p99: ms(histogram.percentile(99)), max: ms(histogram.max) };
}

function percentiles(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) =>
    Number((sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0).toFixed(2));
  return { p50: at(0.5), p99: at(0.99), max: at(1), samples: sorted.length };
}

/** A patients CSV of `rows` rows, all for `doctorId`. */
function generateCsv(rows: number, doctorId: number): Buffer {
  const lines = ['name,age,gender,doctor_id,room_number,bed_number'];
  for (let i = 0; i < rows; i++) {
    lines.push(`Bench patient ${i},${i % 120},${i % 2 ? 'female' : 'male'},${doctorId},${100 + (i % 400)},B`);
  }
  return Buffer.from(`${lines.join('\n')}\n`);
}

/**
 * Starts a server, imports `rows` generated patients through `POST /patients/import`, and measures
 * the main thread's event-loop delay and `/healthz` times while the import job runs.
 */
export async function benchLargeImport(options: LargeImportOptions = {}): Promise<LargeImportResult> {
  const rows = options.rows ?? 100_000;
  const log = options.log ?? (() => undefined);
  const tempDir = options.databaseUrl ? null : mkdtempSync(join(tmpdir(), 'hdms-bench-import-'));
  const databaseUrl = options.databaseUrl ?? `sqlite:${join(tempDir!, 'bench.sqlite')}`;
  const config = loadConfig({
    PORT: '0',
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: 'silent',
    ADMIN_USERNAME: ADMIN.username,
    ADMIN_EMAIL: ADMIN.email,
    ADMIN_PASSWORD: ADMIN.password,
    IMPORT_MAX_BYTES: String(1024 ** 3),
    ...(options.workerThreads ? { WORKER_THREADS: String(options.workerThreads) } : {}),
  });
  const server = await startServer(config, createLogger('silent'));
  try {
    const login = await fetch(`${server.url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: ADMIN.username, password: ADMIN.password }),
    });
    const { token } = (await login.json()) as { token: string };
    const auth = { authorization: `Bearer ${token}` };
    const doctor = await server.services.db.models.Doctor.create({
      name: 'Dr. Bench',
      specialization: 'Benchmarks',
    });
    const csv = generateCsv(rows, doctor.id);
    log(
      `  import: ${rows.toLocaleString()} rows (${(csv.length / 1024 / 1024).toFixed(1)} MiB) on ${server.services.db.dialect}`,
    );

    const idle = monitorEventLoopDelay({ resolution: 1 });
    idle.enable();
    await sleep(1_000);
    idle.disable();

    const upload = await fetch(`${server.url}/patients/import`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'text/csv' },
      body: new Uint8Array(csv),
    });
    if (upload.status !== 202)
      throw new Error(`the upload answered ${upload.status}: ${await upload.text()}`);
    const { job_id: jobId } = (await upload.json()) as { job_id: number };
    const started = performance.now();
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    histogram.enable();
    const healthz: number[] = [];
    const { Job } = server.services.db.models;
    let shown = -1;
    for (;;) {
      const job = await Job.findByPk(jobId, {
        attributes: ['status', 'progressDone', 'progressTotal', 'error'],
      });
      if (job?.status === 'failed') throw new Error(`the import failed: ${job.error}`);
      if (job?.status === 'succeeded') break;
      const done = job?.progressDone ?? 0;
      if (job?.progressTotal && done >= shown + rows / 10) {
        shown = done;
        log(`  import: ${done.toLocaleString()} / ${job.progressTotal.toLocaleString()} rows`);
      }
      const before = performance.now();
      await fetch(`${server.url}/healthz`);
      healthz.push(performance.now() - before);
      await sleep(100);
    }
    histogram.disable();
    const seconds = (performance.now() - started) / 1000;
    return {
      rows,
      bytes: csv.length,
      dialect: server.services.db.dialect,
      seconds: Number(seconds.toFixed(2)),
      rowsPerSecond: Math.round(rows / seconds),
      eventLoopDelay: delays(histogram),
      idleEventLoopDelay: delays(idle),
      healthz: percentiles(healthz),
    };
  } finally {
    await server.close(1_000);
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  }
}
