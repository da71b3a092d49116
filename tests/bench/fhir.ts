/**
 * `npm run bench -- fhir [options]`: what the FHIR surface costs (issue 21, point 6), against a
 * real HDMS server process (`npm start`'s entry) on SQLite by default, or MySQL with --db:
 *
 * - search: `GET /fhir/R4/Patient?_count=50` (a searchset Bundle with `total`) against tRPC
 *   `patients.list` for the same page (50 patients), as the admin on 10,000 patients: the server
 *   process's CPU per request (from /proc, all threads) and latency, in rounds A B B A, one
 *   request in flight. Goal: FHIR ≤ 1.5× patients.list.
 * - bulk export: `Patient/$export` as the admin (Patient, Practitioner and Encounter: an admin
 *   gets no clinical type) of 10,000 and then 100,000 patients, one check-up each, on a fresh
 *   database and a fresh server each: from kick-off to the manifest, resources per second, and the
 *   server's peak RSS (VmHWM) against its RSS before the export. Goal: peak at 100,000 ≤ peak at
 *   10,000 + 50 MB.
 *
 * Options: --db URL (a MySQL URL; dropped and created again; default: a SQLite file in a temp
 * directory), --sizes 10000,100000, --calls N (search requests per arm and round, default 300),
 * --as-started (the server as `npm start` runs it: development mode, default logging at info;
 * without it: NODE_ENV=production, LOG_LEVEL=warn).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cpuSeconds, memory, quantile } from './perf/load';
import { dropDatabase, openMigrated, seedDoctors, seedPatients } from './perf/seed';
import { type Server, startHdms, stopServer } from './perf/servers';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== 'fhir'),
  options: {
    db: { type: 'string' },
    sizes: { type: 'string', default: '10000,100000' },
    calls: { type: 'string', default: '300' },
    'as-started': { type: 'boolean', default: false },
  },
});
const SIZES = values.sizes.split(',').map(Number);
const CALLS = Number(values.calls);
const ADMIN = { username: 'bench_admin', password: 'copper-meadow-lantern-77' };
const log = (line: string) => process.stderr.write(`${line}\n`);
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

const tmp = values.db ? null : mkdtempSync(join(tmpdir(), 'hdms-bench-fhir-'));
const databaseUrl = (size: number) => values.db ?? `sqlite:${join(tmp!, `fhir-${size}.sqlite`)}`;

/** A fresh database of `size` patients (50 doctors), one check-up each. */
async function seed(url: string, size: number): Promise<void> {
  await dropDatabase(url);
  const db = await openMigrated(url);
  try {
    const doctors = await seedDoctors(db);
    await seedPatients(db, doctors, size, (done) => {
      if (done % 50_000 === 0) log(`  ${fmt(done)} patients`);
    });
    await db.sequelize.query(
      'INSERT INTO check_history (patient_id, check_time, doctor_id, room_number, created_at) ' +
        'SELECT id, created_at, doctor_id, room_number, created_at FROM patients',
    );
  } finally {
    await db.close();
  }
}

async function start(url: string): Promise<Server> {
  return startHdms({
    DATABASE_URL: url,
    ...(values['as-started']
      ? { NODE_ENV: 'development', LOG_LEVEL: 'info' }
      : { NODE_ENV: 'production', LOG_LEVEL: 'warn' }),
    ADMIN_USERNAME: ADMIN.username,
    ADMIN_EMAIL: 'bench_admin@example.org',
    ADMIN_PASSWORD: ADMIN.password,
    EXPORT_STORAGE_MAX_MB: '8192',
    EXPORTS_PER_HOUR: '100',
  });
}

async function signIn(server: Server): Promise<string> {
  const res = await fetch(`${server.url}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(ADMIN),
  });
  if (res.status !== 200) throw new Error(`sign-in failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

interface Arm {
  label: string;
  path: string;
  check: (body: unknown) => void;
}

/** `count` requests of `arm`, one at a time: latencies (ms) and the server's CPU seconds. */
async function runArm(server: Server, token: string, arm: Arm, count: number) {
  const latencies: number[] = [];
  const cpu = cpuSeconds(server.pid);
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    const res = await fetch(server.url + arm.path, { headers: { authorization: `Bearer ${token}` } });
    const body = await res.json();
    latencies.push(performance.now() - started);
    if (res.status !== 200) throw new Error(`${arm.label}: ${res.status} ${JSON.stringify(body)}`);
    if (i === 0) arm.check(body);
  }
  return { latencies, cpu: cpuSeconds(server.pid) - cpu };
}

async function search(server: Server, token: string): Promise<string[]> {
  const input = encodeURIComponent(JSON.stringify({ json: { limit: 50 } }));
  const arms: Arm[] = [
    {
      label: 'FHIR `Patient?_count=50` (Bundle with total)',
      path: '/fhir/R4/Patient?_count=50',
      check: (body) => {
        const bundle = body as { total?: number; entry?: unknown[] };
        if (bundle.entry?.length !== 50 || typeof bundle.total !== 'number')
          throw new Error('not a page of 50 with total');
      },
    },
    {
      label: 'tRPC `patients.list({ limit: 50 })`',
      path: `/trpc/patients.list?input=${input}`,
      check: (body) => {
        const items = (body as { result: { data: { json: { items: unknown[] } } } }).result.data.json.items;
        if (items.length !== 50) throw new Error('not a page of 50');
      },
    },
  ];
  // Warm-up, then rounds A B B A.
  for (const arm of arms) await runArm(server, token, arm, 50);
  const totals = arms.map(() => ({ latencies: [] as number[], cpu: 0 }));
  for (const order of [
    [0, 1],
    [1, 0],
  ]) {
    for (const i of order) {
      const sample = await runArm(server, token, arms[i]!, CALLS);
      totals[i]!.latencies.push(...sample.latencies);
      totals[i]!.cpu += sample.cpu;
    }
  }
  const perRequest = totals.map((t) => (t.cpu / t.latencies.length) * 1e6);
  const rows = arms.map((arm, i) => {
    const t = totals[i]!;
    return `| ${arm.label} | ${fmt(perRequest[i]!)} | ${quantile(t.latencies, 0.5).toFixed(2)} | ${quantile(t.latencies, 0.95).toFixed(2)} |`;
  });
  return [
    '| request | server CPU per request (µs) | p50 (ms) | p95 (ms) |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
    `FHIR search / patients.list CPU: **${(perRequest[0]! / perRequest[1]!).toFixed(2)}×** (goal ≤ 1.5×)`,
  ];
}

interface ExportRun {
  patients: number;
  resources: number;
  seconds: number;
  rssBefore: number;
  peak: number;
  cpu: number;
}

async function bulkExport(server: Server, token: string, patients: number): Promise<ExportRun> {
  const headers = { authorization: `Bearer ${token}`, prefer: 'respond-async' };
  const rssBefore = memory(server.pid).rss;
  const cpu = cpuSeconds(server.pid);
  const started = performance.now();
  const kickoff = await fetch(`${server.url}/fhir/R4/Patient/$export`, { headers });
  if (kickoff.status !== 202) throw new Error(`kick-off: ${kickoff.status} ${await kickoff.text()}`);
  const status = kickoff.headers.get('content-location')!;
  let manifest: { output: { count: number }[] } | null = null;
  let peak = 0;
  while (!manifest) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    peak = Math.max(peak, memory(server.pid).peak);
    const res = await fetch(status, { headers });
    if (res.status === 200) manifest = (await res.json()) as { output: { count: number }[] };
    else if (res.status === 202) await res.arrayBuffer();
    else throw new Error(`status: ${res.status} ${await res.text()}`);
  }
  const seconds = (performance.now() - started) / 1000;
  const resources = manifest.output.reduce((sum, o) => sum + o.count, 0);
  return {
    patients,
    resources,
    seconds,
    rssBefore,
    peak: Math.max(peak, memory(server.pid).peak),
    cpu: cpuSeconds(server.pid) - cpu,
  };
}

const kind = values.db ? 'MySQL' : 'SQLite';
const lines: string[] = [];
const runs: ExportRun[] = [];
for (const [index, size] of SIZES.entries()) {
  const url = databaseUrl(size);
  log(`[${kind}] seeding ${fmt(size)} patients`);
  await seed(url, size);
  const server = await start(url);
  try {
    const token = await signIn(server);
    log(`[${kind}] bulk export of ${fmt(size)} patients`);
    runs.push(await bulkExport(server, token, size));
    if (index === 0) {
      log(`[${kind}] search vs patients.list on ${fmt(size)} patients`);
      lines.push(`### Search (${kind}, ${fmt(size)} patients, admin, ${CALLS * 2} requests per arm)`, '');
      lines.push(...(await search(server, token)), '');
    }
  } finally {
    await stopServer(server);
  }
}
lines.push(
  `### Bulk export (${kind}, admin: Patient, Practitioner, Encounter; one check-up per patient)`,
  '',
);
lines.push(
  '| patients | resources | seconds | resources/s | server CPU (s) | RSS before (MB) | peak RSS (MB) |',
  '| --- | --- | --- | --- | --- | --- | --- |',
);
for (const r of runs) {
  lines.push(
    `| ${fmt(r.patients)} | ${fmt(r.resources)} | ${r.seconds.toFixed(1)} | ${fmt(r.resources / r.seconds)} | ${r.cpu.toFixed(1)} | ${mb(r.rssBefore)} | ${mb(r.peak)} |`,
  );
}
if (runs.length >= 2) {
  const growth = (runs[runs.length - 1]!.peak - runs[0]!.peak) / 1024 / 1024;
  lines.push(
    '',
    `Peak RSS growth from ${fmt(runs[0]!.patients)} to ${fmt(runs.at(-1)!.patients)} patients: **${growth.toFixed(0)} MB** (goal ≤ 50 MB)`,
  );
}
process.stdout.write(`${lines.join('\n')}\n`);
if (tmp) rmSync(tmp, { recursive: true, force: true });
if (values.db) await dropDatabase(values.db);
