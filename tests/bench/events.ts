/**
 * `npm run bench -- events [--subscribers N] [--events N] [--writers N] [--db mysql://…/name]`:
 * change-event delivery. A real server runs in a child process (`npm start`'s entry, on a
 * temporary SQLite file or a fresh MySQL database named after `--db`, dropped afterwards); this
 * process opens N subscriptions (default 100) to `events.onChange` through the SDK over
 * server-sent events, then records check-ups (default 1,000, from 10 concurrent writers) through
 * the API. Each event's latency is its receipt time minus its commit time (`at`, the server's
 * clock: same machine). Prints events delivered per second (events × subscribers / time) and the
 * latency's p50 / p95 / max. `--profile-server DIR` writes the server's CPU profile there.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { EventSource } from 'eventsource';
import { createClient, signIn } from '../../client-sdk/src/index';
import { freshDatabase, type TestDatabase } from '../helpers/db';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== 'events'),
  options: {
    subscribers: { type: 'string', default: '100' },
    events: { type: 'string', default: '1000' },
    writers: { type: 'string', default: '10' },
    db: { type: 'string' },
    /** Writes the server's CPU profile (node --cpu-prof) into this folder. */
    'profile-server': { type: 'string' },
  },
});
const subscriberCount = Number(values.subscribers);
const eventCount = Number(values.events);
const writerCount = Number(values.writers);
const ADMIN = { username: 'bench-admin', email: 'bench-admin@example.org', password: 'bench-admin-password' };

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** A fresh database for one run (SQLite file, or a new schema on `--db`), and how to remove it. */
function freshBenchDatabase(): Promise<TestDatabase> {
  return freshDatabase(values.db ? 'mysql' : 'sqlite', values.db);
}

/** Starts the server in a child process and waits for /healthz. */
async function startServerProcess(databaseUrl: string, port: number): Promise<ChildProcess> {
  const profile = values['profile-server']
    ? ['--cpu-prof', `--cpu-prof-dir=${values['profile-server']}`]
    : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', 'server/src/index.ts'], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: databaseUrl,
      ADMIN_USERNAME: ADMIN.username,
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
      LOG_LEVEL: 'warn',
      PANEL: 'off',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return child;
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null) throw new Error(`the server exited with code ${child.exitCode}`);
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error('the server did not start');
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const target = await freshBenchDatabase();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = await startServerProcess(target.url, port);
  try {
    const { client: admin, token } = await signIn(url, ADMIN.username, ADMIN.password);
    const doctor = await admin.doctors.create.mutate({ name: 'Dr. Bench', specialization: 'Events' });
    const patients = await admin.patients.createMany.mutate(
      Array.from({ length: 20 }, (_, i) => ({
        name: `Bench ${i}`,
        age: 40,
        gender: 'F',
        doctorId: doctor.id,
      })),
    );

    const latencies: number[] = [];
    let delivered = 0;
    let lastReceipt = 0;
    let started = 0;
    const handles: { unsubscribe(): void }[] = [];
    for (let i = 0; i < subscriberCount; i++) {
      const subscriber = createClient({ url, token, EventSource });
      await new Promise<void>((resolve, reject) => {
        handles.push(
          subscriber.events.onChange.subscribe(
            { types: ['checkHistory.created'] },
            {
              onStarted: () => resolve(),
              onData: ({ data }) => {
                const now = Date.now();
                latencies.push(now - data.at.getTime());
                delivered++;
                lastReceipt = now;
              },
              onError: (error) => reject(error),
            },
          ),
        );
      });
      started++;
    }
    console.log(
      `HDMS events bench (${values.db ? 'mysql' : 'sqlite'}): ${started} subscribers, ${eventCount} check-ups from ${writerCount} writers; ${cpus().length} cores, load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );

    const begin = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: writerCount }, async () => {
        while (next < eventCount) {
          const i = next++;
          await admin.checkHistory.create.mutate({ patientId: patients[i % patients.length]!.id });
        }
      }),
    );
    const expected = eventCount * subscriberCount;
    const deadline = Date.now() + 120_000;
    while (delivered < expected && Date.now() < deadline) await sleep(20);
    const seconds = (lastReceipt - begin) / 1000;
    for (const handle of handles) handle.unsubscribe();

    latencies.sort((a, b) => a - b);
    console.log('');
    console.log(
      '| database | subscribers | events | delivered | seconds | deliveries/s | p50 (ms) | p95 (ms) | max (ms) | goal p95 |',
    );
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    console.log(
      `| ${values.db ? 'mysql' : 'sqlite'} | ${subscriberCount} | ${eventCount} | ${delivered}/${expected} | ${seconds.toFixed(2)} | ${(delivered / seconds).toFixed(0)} | ${percentile(latencies, 50)} | ${percentile(latencies, 95)} | ${latencies[latencies.length - 1]} | < 250 ms |`,
    );
    if (delivered < expected) console.log(`MISSING: ${expected - delivered} deliveries did not arrive`);
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
    await target.drop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
