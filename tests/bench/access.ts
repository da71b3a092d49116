/**
 * `npm run bench -- access [options]`: what a doctor's access facts cost. Every request of a linked
 * doctor loads them in one statement (`loadAccessFacts`: the consents in force and open emergency
 * accesses of their Doctor record) before its scope is computed. This measures, in process (no
 * HTTP, so the difference is not lost in the noise of a whole request), on MySQL and SQLite:
 * - the facts statement alone;
 * - `patients.get`'s domain call (`getPatient`: the read in scope, its audit row, the view) with
 *   the scope computed without facts (the rule before consent and emergency access) and with the
 *   facts loaded first, as the tier middleware now does;
 * for a doctor holding no grant, 5 consents and 5 emergency accesses, and 100 consents and 5
 * emergency accesses. Rounds of A B B A, one call in flight and then --concurrency in flight;
 * latency per call (mean, p50, p95) and the process's CPU per call (on SQLite it includes the
 * database engine).
 *
 * Options: --db URL (MySQL, default mysql://root@127.0.0.1:3306/hdms_bench_access; dropped and
 * created again), --mysql-only, --sqlite-only, --patients N (default 20,000), --calls N (per arm
 * and round, default 2,000), --concurrency N (default 10).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Database } from '@hdms/db';
import {
  type AccessScope,
  linkFactsOf,
  loadAccessFacts,
  loadScope,
  scopeOf,
} from '../../server/src/domain/access/scope';
import type { UserActor } from '../../server/src/domain/actor';
import { getPatient } from '../../server/src/domain/patients/queries';
import { loadConfig } from '../../server/src/env';
import { createLogger } from '../../server/src/logger';
import { dropDatabase, openMigrated, seedDoctors, seedPatients } from './perf/seed';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== 'access'),
  options: {
    db: { type: 'string', default: 'mysql://root@127.0.0.1:3306/hdms_bench_access' },
    'mysql-only': { type: 'boolean', default: false },
    'sqlite-only': { type: 'boolean', default: false },
    patients: { type: 'string', default: '20000' },
    calls: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '10' },
  },
});
const PATIENTS = Number(values.patients);
const CALLS = Number(values.calls);
const CONCURRENCY = Number(values.concurrency);
const log = (line: string) => process.stderr.write(`${line}\n`);

interface Sample {
  latencies: number[];
  cpuMicros: number;
}

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;

/** Runs `call` `count` times, `inFlight` at a time; latencies in µs and the process's CPU in µs. */
async function measure(
  count: number,
  inFlight: number,
  call: (i: number) => Promise<unknown>,
): Promise<Sample> {
  const latencies: number[] = [];
  const cpu = process.cpuUsage();
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count) {
        const i = next++;
        const started = performance.now();
        await call(i);
        latencies.push((performance.now() - started) * 1000);
      }
    }),
  );
  const used = process.cpuUsage(cpu);
  return { latencies, cpuMicros: used.user + used.system };
}

function merge(samples: Sample[]): Sample {
  return {
    latencies: samples.flatMap((s) => s.latencies),
    cpuMicros: samples.reduce((sum, s) => sum + s.cpuMicros, 0),
  };
}

function row(label: string, sample: Sample): string {
  const sorted = [...sample.latencies].sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  return `| ${label} | ${fmt(mean)} | ${fmt(quantile(sorted, 0.5))} | ${fmt(quantile(sorted, 0.95))} | ${fmt(sample.cpuMicros / sorted.length)} |`;
}

/** Gives the doctor `consents` consents and `emergencies` open emergency accesses (to others' patients). */
async function grant(db: Database, doctorId: number, userId: number, consents: number, emergencies: number) {
  await db.models.ConsentGrant.destroy({ where: {} });
  await db.models.EmergencyAccess.destroy({ where: {} });
  const others = await db.models.Patient.findAll({
    attributes: ['id'],
    where: { doctorId: doctorId + 1 },
    limit: consents + emergencies,
    order: [['id', 'ASC']],
  });
  const later = new Date(Date.now() + 86_400_000);
  await db.models.ConsentGrant.bulkCreate(
    others
      .slice(0, consents)
      .map((p) => ({ patientId: p.id, doctorId, expiresAt: null, createdByUserId: userId })),
  );
  await db.models.EmergencyAccess.bulkCreate(
    others.slice(consents).map((p) => ({
      patientId: p.id,
      doctorId,
      reason: 'Benchmark: an open emergency access',
      createdByUserId: userId,
      expiresAt: later,
    })),
  );
}

async function run(url: string, label: string): Promise<string[]> {
  log(`[${label}] seeding ${PATIENTS.toLocaleString('en-US')} patients`);
  await dropDatabase(url);
  const db = await openMigrated(url);
  try {
    const doctorIds = await seedDoctors(db);
    await seedPatients(db, doctorIds, PATIENTS);
    const doctorId = doctorIds[0]!;
    const user = await db.models.User.create({
      role: 'doctor',
      username: 'bench_access',
      usernameKey: 'bench_access',
      email: 'bench_access@example.org',
      passwordHash: 'not-a-hash',
      doctorId,
    });
    const actor: UserActor<'doctor'> = {
      type: 'user',
      id: user.id,
      role: 'doctor',
      username: user.username,
      email: user.email,
      doctorId,
      patientId: null,
      mfaEnabled: false,
      sessionToken: '',
    };
    const own = (
      await db.models.Patient.findAll({ attributes: ['id'], where: { doctorId }, limit: 400 })
    ).map((p) => p.id);
    const config = loadConfig({ DATABASE_URL: url, LOG_LEVEL: 'silent' });
    const base = {
      db,
      config,
      logger: createLogger('silent'),
      actor,
      requestId: 'bench-access',
      ip: null,
      procedure: 'patients.get',
    };
    const without: AccessScope = scopeOf(actor, linkFactsOf(actor));
    const lines: string[] = [];
    for (const [consents, emergencies] of [
      [0, 0],
      [5, 5],
      [100, 5],
    ] as const) {
      await grant(db, doctorId, user.id, consents, emergencies);
      const held = `${consents} consents, ${emergencies} emergency`;
      log(`[${label}] ${held}: ${CALLS.toLocaleString('en-US')} calls per arm and round`);
      for (const inFlight of [1, CONCURRENCY]) {
        const arms = {
          facts: [] as Sample[],
          before: [] as Sample[],
          after: [] as Sample[],
        };
        const get = (scope: () => Promise<AccessScope> | AccessScope) => (i: number) =>
          Promise.resolve(scope()).then((s) => getPatient({ ...base, scope: s }, own[i % own.length]!));
        // Warm-up, then A B B A rounds.
        await measure(
          200,
          inFlight,
          get(() => loadScope(db, actor)),
        );
        for (const order of [
          ['before', 'after', 'facts'],
          ['facts', 'after', 'before'],
        ] as const) {
          for (const arm of order) {
            const sample =
              arm === 'facts'
                ? await measure(CALLS, inFlight, () => loadAccessFacts(db, actor))
                : await measure(
                    CALLS,
                    inFlight,
                    get(arm === 'before' ? () => without : () => loadScope(db, actor)),
                  );
            arms[arm].push(sample);
          }
        }
        lines.push(
          row(`${label} | ${held} | ${inFlight} in flight | facts statement alone`, merge(arms.facts)),
        );
        lines.push(
          row(`${label} | ${held} | ${inFlight} in flight | patients.get without facts`, merge(arms.before)),
        );
        lines.push(
          row(`${label} | ${held} | ${inFlight} in flight | patients.get with facts`, merge(arms.after)),
        );
      }
    }
    return lines;
  } finally {
    await db.close();
  }
}

const lines: string[] = [];
if (!values['sqlite-only']) lines.push(...(await run(values.db, 'MySQL')));
if (!values['mysql-only']) {
  const dir = mkdtempSync(join(tmpdir(), 'hdms-bench-access-'));
  try {
    lines.push(...(await run(`sqlite:${join(dir, 'bench.sqlite')}`, 'SQLite')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
console.log('| db | grants held | load | measurement | mean µs | p50 µs | p95 µs | CPU µs/call |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const line of lines) console.log(line);
