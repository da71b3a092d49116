/**
 * `npm run bench [-- --patients N --db URL --page N]`: seeds N patients (default 100,000) into a
 * fresh database (a temporary SQLite file unless --db names one; a MySQL database is created and
 * left for inspection) and pages through all of them with `patients.list` as an admin and as a
 * doctor, reporting time per page and memory. It shows that listing never loads more than one
 * page: heap growth stays flat however many patients there are. Progress is printed as it goes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createDatabase, migrateToLatest } from '@hdms/db';
import { SessionManager } from '../../server/src/auth/index';
import { createContextInner } from '../../server/src/context';
import { loadConfig } from '../../server/src/env';
import { createLogger } from '../../server/src/logger';
import { createCaller } from '../../server/src/trpc/appRouter';
import { EventFeed } from '../../server/src/events/feed';

const { values } = parseArgs({
  options: {
    patients: { type: 'string', default: '100000' },
    page: { type: 'string', default: '1000' },
    db: { type: 'string' },
  },
});
const total = Number(values.patients);
const pageSize = Number(values.page);
const tempDir = values.db ? null : mkdtempSync(join(tmpdir(), 'hdms-bench-'));
const url = values.db ?? `sqlite:${join(tempDir!, 'bench.sqlite')}`;

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

async function main(): Promise<void> {
  const config = loadConfig({ DATABASE_URL: url, LOG_LEVEL: 'silent' });
  const db = await createDatabase(url);
  await migrateToLatest(db.sequelize);
  const logger = createLogger('silent');
  const sessions = new SessionManager(db, { idleMinutes: 30, maxHours: 12, secureCookie: false });
  const events = new EventFeed(db, logger);

  console.log(`HDMS bench: ${total.toLocaleString()} patients on ${db.dialect}, pages of ${pageSize}`);
  const doctors = await db.models.Doctor.bulkCreate(
    Array.from({ length: 50 }, (_, i) => ({ name: `Dr. Bench ${i}`, specialization: 'Benchmarks' })),
  );
  const existing = await db.models.Patient.count();
  const seedStart = performance.now();
  const chunk = 5000;
  for (let done = existing; done < total; done += chunk) {
    const n = Math.min(chunk, total - done);
    await db.models.Patient.bulkCreate(
      Array.from({ length: n }, (_, i) => ({
        name: `Patient ${done + i}`,
        age: (done + i) % 100,
        gender: (done + i) % 2 ? 'female' : 'male',
        doctorId: doctors[(done + i) % doctors.length]!.id,
        roomNumber: String(100 + ((done + i) % 400)),
        bedNumber: 'A',
      })),
    );
    process.stdout.write(`\r  seeding ${(done + n).toLocaleString()} / ${total.toLocaleString()}`);
  }
  console.log(`\n  seeded in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`);

  const actors = {
    admin: {
      type: 'user',
      id: 1,
      role: 'admin',
      username: 'bench-admin',
      email: 'a@b.c',
      doctorId: null,
      patientId: null,
      mfaEnabled: false,
      sessionToken: '',
    },
    doctor: {
      type: 'user',
      id: 2,
      role: 'doctor',
      username: 'bench-doctor',
      email: 'd@b.c',
      doctorId: doctors[0]!.id,
      patientId: null,
      mfaEnabled: false,
      sessionToken: '',
    },
  } as const;

  for (const [name, actor] of Object.entries(actors)) {
    const caller = createCaller(
      createContextInner({
        db,
        config,
        logger,
        sessions,
        events,
        clock: Date.now,
        actor: { ...actor },
        requestId: `bench-${name}`,
      }),
    );
    global.gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    let peakHeap = heapBefore;
    const times: number[] = [];
    let rows = 0;
    let largestPage = 0;
    let cursor: number | null = null;
    const started = performance.now();
    do {
      const t0 = performance.now();
      const result: { items: unknown[]; nextCursor: number | null } = await caller.patients.list({
        limit: pageSize,
        cursor,
      });
      times.push(performance.now() - t0);
      rows += result.items.length;
      largestPage = Math.max(largestPage, result.items.length);
      cursor = result.nextCursor;
      peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
      if (times.length % 10 === 0) process.stdout.write(`\r  ${name}: ${rows.toLocaleString()} rows`);
    } while (cursor !== null);
    const sorted = [...times].sort((a, b) => a - b);
    console.log(
      `\r  ${name}: ${rows.toLocaleString()} rows in ${times.length} pages, ${((performance.now() - started) / 1000).toFixed(1)} s;` +
        ` per page p50 ${percentile(sorted, 0.5).toFixed(1)} ms, p95 ${percentile(sorted, 0.95).toFixed(1)} ms;` +
        ` largest page ${largestPage} rows; heap growth at peak ${mib(peakHeap - heapBefore)}`,
    );
  }
  console.log(`  audit rows written: ${(await db.models.AuditEvent.count()).toLocaleString()}`);
  console.log(`  process RSS: ${mib(process.memoryUsage().rss)}`);
  await db.close();
  if (tempDir) rmSync(tempDir, { recursive: true, force: true });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
