/**
 * `npm run bench -- jobs [--jobs N] [--patients N] [--threads 1,2,4] [--db mysql://…/name]
 * [--import-rows N]`: background job throughput. For each thread count a real server (migrations,
 * dispatcher, Piscina pool) runs in this process on a fresh database (a temporary SQLite file, or
 * a new MySQL database named after `--db` with a suffix, dropped afterwards); N `patient.update`
 * jobs (default 1,000, spread over 100 patients: updates of one patient run in order, of different
 * patients in parallel) are committed in one transaction, and the time until all have succeeded
 * gives jobs per second. Meanwhile the main thread's event-loop delay is sampled
 * (`monitorEventLoopDelay`): p99 and max. In the same run, on the same server and patients, the
 * same N updates are then made directly (`patients.update` over HTTP, 4 clients at a time): the
 * queue's rate beside the direct one (goal: ≥ 0.5×). Then the fair-queue part (`./jobsFair`): a
 * doctor's `updateAsync` behind 10 queued imports of 10,000 rows at WORKER_THREADS=1 (goal < 2 s;
 * `--fair-imports 0` skips it). Then the large-import part (`./jobsImport`) runs a CSV import of
 * `--import-rows` rows (default 100,000; 0 skips it). Prints a table each. `--as-started`: the
 * server as `npm start` runs it (development, info logging: each job's line is written, to
 * /dev/null) rather than tuned (logging off).
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../server/src/env';
import { JobDispatcher } from '../../server/src/jobs/dispatcher';
import { enqueueJob } from '../../server/src/jobs/queue';
import { patientUpdateJob } from '../../server/src/jobs/types/patientUpdate';
import { createLogger } from '../../server/src/logger';
import { startServer } from '../../server/src/server';
import { benchFairQueue, directUpdates } from './jobsFair';
import { benchLargeImport } from './jobsImport';
import { freshDatabase, type TestDatabase } from '../helpers/db';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== 'jobs'),
  options: {
    jobs: { type: 'string', default: '1000' },
    patients: { type: 'string', default: '100' },
    threads: { type: 'string', default: '1,2,4' },
    db: { type: 'string' },
    'import-rows': { type: 'string', default: '100000' },
    'fair-imports': { type: 'string', default: '10' },
    'fair-rows': { type: 'string', default: '10000' },
    'as-started': { type: 'boolean', default: false },
  },
});
const jobCount = Number(values.jobs);
const patientCount = Math.max(1, Math.min(Number(values.patients), jobCount));
const threadCounts = values.threads.split(',').map(Number);
const importRows = Number(values['import-rows']);
const asStarted = values['as-started'];

const ADMIN = {
  username: 'bench-admin',
  email: 'bench-admin@example.org',
  password: 'lantern-harbor-quiet-42',
};
const ms = (ns: number) => (ns / 1e6).toFixed(1);

/** A fresh database for one run (SQLite file, or a new schema on `--db`), and how to remove it. */
function freshBenchDatabase(): Promise<TestDatabase> {
  return freshDatabase(values.db ? 'mysql' : 'sqlite', values.db);
}

interface Row {
  threads: number;
  jobs: number;
  seconds: number;
  perSecond: number;
  p99: string;
  max: string;
  dialect: string;
  /** The same updates made directly (`patients.update`), per second. */
  directPerSecond: number;
  /** MySQL: statements the server received per job and per direct update (null on SQLite). */
  statementsPerJob: number | null;
  statementsPerDirect: number | null;
}

/**
 * MySQL's count of statements received from all clients (`Questions`): the bench's database is its
 * own, but the server is shared, so on a busy server the per-job figures read high.
 */
async function statementsSoFar(db: {
  dialect: string;
  sequelize: { query: (sql: string, options: object) => Promise<unknown> };
}): Promise<number | null> {
  if (db.dialect !== 'mysql') return null;
  const rows = (await db.sequelize.query("SHOW GLOBAL STATUS LIKE 'Questions'", { type: 'SELECT' })) as {
    Value: string;
  }[];
  return Number(rows[0]?.Value);
}

/** One run: `threads` worker threads work off `jobCount` patient updates. */
async function run(threads: number): Promise<Row> {
  const target = await freshBenchDatabase();
  const config = loadConfig({
    PORT: '0',
    DATABASE_URL: target.url,
    ...(asStarted ? { NODE_ENV: 'development', LOG_LEVEL: 'info' } : { LOG_LEVEL: 'silent' }),
    WORKER_THREADS: String(threads),
    ADMIN_USERNAME: ADMIN.username,
    ADMIN_EMAIL: ADMIN.email,
    ADMIN_PASSWORD: ADMIN.password,
  });
  const logger = asStarted
    ? createLogger('info', createWriteStream('/dev/null'))
    : createLogger(process.env.BENCH_LOG === 'debug' ? 'debug' : 'silent');
  const server = await startServer(config, logger, { jobs: false });
  const { db } = server.services;
  const dispatcher = await JobDispatcher.create(db, config, logger);
  try {
    const admin = (await db.models.User.findOne({ where: { usernameKey: ADMIN.username } }))!;
    const owner = { type: 'user' as const, id: admin.id, name: admin.username };
    const doctor = await db.models.Doctor.create({ name: 'Dr. Bench', specialization: 'Benchmarks' });
    const patients = await db.models.Patient.bulkCreate(
      Array.from({ length: patientCount }, (_, i) => ({
        name: `Bench patient ${i}`,
        age: 40,
        gender: 'F',
        doctorId: doctor.id,
      })),
    );
    const enqueueAll = (count: number, age: (i: number) => number) =>
      db.transaction(async (tx) => {
        const ids: number[] = [];
        for (let i = 0; i < count; i++) {
          const patientId = patients[i % patients.length]!.id;
          const { id } = await enqueueJob(db, tx, {
            type: patientUpdateJob,
            payload: { patientId, changes: { age: age(i) } },
            owner,
            requestId: randomUUID(),
            serialKey: `patient:${patientId}`,
            patientId,
          });
          ids.push(id);
        }
        return ids;
      });
    /** Statements the bench itself sends while it waits (one per poll), left out of the counts. */
    let polls = 0;
    const finished = async (ids: number[]) => {
      for (;;) {
        polls++;
        const open = await db.models.Job.count({ where: { id: ids, status: ['queued', 'running'] } });
        if (open === 0) return;
        await sleep(20);
      }
    };

    dispatcher.start();
    // Warm-up: every thread started and connected before the clock runs.
    await finished(await enqueueAll(threads * 2, () => 41));

    const ids = await enqueueAll(jobCount, (i) => 50 + (i % 90));
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    histogram.enable();
    const before = await statementsSoFar(db);
    polls = 0;
    const started = performance.now();
    dispatcher.wake();
    await finished(ids);
    const seconds = (performance.now() - started) / 1000;
    histogram.disable();
    const afterQueue = await statementsSoFar(db);
    const failed = await db.models.Job.count({ where: { id: ids, status: 'failed' } });
    if (failed) throw new Error(`${failed} jobs failed`);
    const direct = await directUpdates(
      server.url,
      ADMIN,
      patients.map((p) => p.id),
      jobCount,
      4,
    );
    const afterDirect = await statementsSoFar(db);
    const per = (from: number | null, to: number | null, less = 0) =>
      from === null || to === null ? null : (to - from - 1 - less) / jobCount;
    return {
      statementsPerJob: per(before, afterQueue, polls),
      statementsPerDirect: per(afterQueue, afterDirect),
      directPerSecond: jobCount / direct,
      threads,
      jobs: jobCount,
      seconds,
      perSecond: jobCount / seconds,
      p99: ms(histogram.percentile(99)),
      max: ms(histogram.max),
      dialect: db.dialect,
    };
  } finally {
    await dispatcher.stop(5_000);
    await server.close(1_000);
    await target.drop();
  }
}

async function main(): Promise<void> {
  console.log(
    `HDMS jobs bench: ${jobCount} patient.update jobs over ${patientCount} patients, threads ${threadCounts.join(', ')}; server ${asStarted ? 'as started (development, info logging)' : 'tuned (logging off)'}`,
  );
  const rows: Row[] = [];
  for (const threads of threadCounts) {
    const row = await run(threads);
    rows.push(row);
    console.log(
      `  ${threads} thread(s): ${row.perSecond.toFixed(0)} jobs/s, direct ${row.directPerSecond.toFixed(0)} updates/s` +
        (row.statementsPerJob === null
          ? ''
          : `; statements per job ${row.statementsPerJob.toFixed(1)}, per direct update ${row.statementsPerDirect?.toFixed(1)}`),
    );
  }
  console.log('');
  console.log(
    '| database | threads | jobs | seconds | jobs/s | direct updates/s | queue ÷ direct (goal ≥ 0.5) | statements per job ÷ per direct update | event-loop delay p99 (ms) | max (ms) |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    console.log(
      `| ${r.dialect} | ${r.threads} | ${r.jobs} | ${r.seconds.toFixed(2)} | ${r.perSecond.toFixed(0)} | ${r.directPerSecond.toFixed(0)} | ${(r.perSecond / r.directPerSecond).toFixed(2)} | ${r.statementsPerJob === null ? '–' : `${r.statementsPerJob.toFixed(1)} ÷ ${r.statementsPerDirect?.toFixed(1)}`} | ${r.p99} | ${r.max} |`,
    );
  }

  const fairImports = Number(values['fair-imports']);
  if (fairImports > 0) {
    console.log('');
    const fairDb = await freshBenchDatabase();
    const fair = await benchFairQueue({
      databaseUrl: fairDb.url,
      imports: fairImports,
      rows: Number(values['fair-rows']),
      log: (line) => console.log(`  ${line}`),
    }).finally(() => fairDb.drop());
    console.log('');
    console.log(
      '| database | threads | imports queued × rows | updateAsync accepted → succeeded (s, goal < 2) | imports unfinished then |',
    );
    console.log('| --- | --- | --- | --- | --- |');
    console.log(
      `| ${fair.dialect} | 1 | ${fair.imports} × ${fair.rows} | ${fair.seconds.toFixed(2)} | ${fair.unfinishedAfter} of ${fair.imports} |`,
    );
  }

  if (importRows > 0) {
    console.log('');
    console.log(`Large import: ${importRows.toLocaleString()} CSV rows`);
    const importDb = values.db ? await freshBenchDatabase() : null;
    const result = await benchLargeImport({
      rows: importRows,
      databaseUrl: importDb?.url,
      log: (line) => console.log(`  ${line}`),
    }).finally(() => importDb?.drop());
    console.log('');
    console.log(
      '| database | rows | seconds | rows/s | loop p99 idle (ms) | loop p99 importing (ms) | max (ms) | /healthz p99 (ms) |',
    );
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
    console.log(
      `| ${result.dialect} | ${result.rows} | ${result.seconds.toFixed(1)} | ${result.rowsPerSecond.toFixed(0)} | ${result.idleEventLoopDelay.p99} | ${result.eventLoopDelay.p99} | ${result.eventLoopDelay.max} | ${result.healthz.p99} |`,
    );
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
