/**
 * `npm run bench -- cluster [--kills N] [--part galera|replicas|all]`:
 *
 * - `galera`: HDMS on a 3-node MariaDB Galera cluster of its own (temporary folders, free ports,
 *   `tests/helpers/mariadb.ts`) behind HAProxy with one writer. One server (in this process) takes
 *   two loops of patient creations through the proxy; the writer node is SIGKILLed, and restarted
 *   and rejoined afterwards, `--kills` times (default 3). Prints, per kill, the time from the
 *   writer's death to the first successful write started after it, the calls answered 503 and 500
 *   meanwhile, and whether every acknowledged write was stored; and the p50/p99 of a create with
 *   no failure going on.
 * - `replicas`: a primary and two GTID replicas of its own; a server with 0, 1 and 2 of them in
 *   `DATABASE_READ_URLS` takes 8 doctors' loops of one write (a check-up) and four reads (their
 *   patient, its check-ups, their patients, the doctors). Prints, per replica count, the share of
 *   reads each target served, the primary's statements per request (its `Questions` counter), and
 *   the read-your-writes wait of the first read after each write (p50/p99, and how often the
 *   primary served it instead).
 */
import { parseArgs } from 'node:util';
import { TRPCClientError } from '@trpc/client';
import { freshDatabase } from '../helpers/db';
import type { ReadChoice } from '@hdms/db';
import {
  type MariadbNode,
  ownMariadbMissing,
  startGaleraCluster,
  startHaproxy,
  startReplicatedSet,
} from '../helpers/mariadb';
import { adminToken, signedInUser, startTestServer, trpcClient } from '../helpers/server';
import { waitFor } from '../helpers/wait';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== 'cluster'),
  options: { kills: { type: 'string', default: '3' }, part: { type: 'string', default: 'all' } },
});
const kills = Math.max(1, Number(values.kills));
const part = values.part ?? 'all';
if (!['all', 'galera', 'replicas'].includes(part)) {
  console.error('--part must be galera, replicas or all');
  process.exit(1);
}

const galera = part !== 'replicas';
const missing = ownMariadbMissing({ galera, haproxy: galera });
if (missing) {
  console.error(`cannot run the cluster bench: ${missing}`);
  process.exit(1);
}

/** 'OK', 'HTTP <status>' or the error's message. */
async function attempt(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'OK';
  } catch (error) {
    if (!(error instanceof TRPCClientError)) throw error;
    const status =
      error.data?.httpStatus ??
      (error.meta as { response?: { status?: number } } | undefined)?.response?.status;
    return status ? `HTTP ${status}` : error.message;
  }
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;

/** The primary's `Questions` status counter: statements clients sent it. */
async function questions(node: MariadbNode): Promise<number> {
  const [row] = await node.query<{ Value: string }>("SHOW GLOBAL STATUS LIKE 'Questions'");
  return Number(row?.Value);
}

/** The read-replica rows: 0, 1 and 2 replicas under the same doctors' workload. */
async function benchReplicas(): Promise<void> {
  const database = 'hdms_bench_repl';
  const set = await startReplicatedSet(database, 2);
  const target = { url: set.primary.url(database), kind: 'mysql' as const, drop: async () => undefined };
  const rows: string[] = [];
  try {
    for (const count of [0, 1, 2]) {
      const urls = set.replicas.slice(0, count).map((node) => set.readerUrl(database, node.port));
      const server = await startTestServer(count ? { DATABASE_READ_URLS: urls.join(',') } : {}, { target });
      try {
        const admin = trpcClient(server.url, await adminToken(server));
        const doctors = await Promise.all(
          Array.from({ length: 8 }, async (_, i) => {
            const record = await admin.doctors.create.mutate({
              name: `Dr. Bench ${count}-${i}`,
              specialization: 'Ward',
            });
            const patient = await admin.patients.create.mutate({
              name: `Bench patient ${count}-${i}`,
              age: 60,
              gender: 'F',
              doctorId: record.id,
            });
            const account = await signedInUser(server, 'doctor', { doctorId: record.id });
            return { client: trpcClient(server.url, account.token), patientId: patient.id };
          }),
        );
        await set.caughtUp();
        const replicas = server.server.services.replicas ?? null;
        const waits: { ms: number; target: string }[] = [];
        if (replicas) {
          // The wait of each choice that needed a position (the server's metrics hook, chained).
          const metricsHook = replicas.onChoice;
          replicas.onChoice = (choice: ReadChoice, needed: boolean) => {
            metricsHook?.(choice, needed);
            if (needed) waits.push({ ms: choice.waitedMs, target: choice.target });
          };
        }
        const before = {
          questions: await questions(set.primary),
          counts: new Map(replicas?.readCounts() ?? []),
        };
        let requests = 0;
        let reads = 0;
        const rounds = 40;
        await Promise.all(
          doctors.map(async ({ client, patientId }) => {
            for (let i = 0; i < rounds; i++) {
              await client.checkHistory.create.mutate({ patientId });
              await client.patients.get.query({ id: patientId });
              await client.checkHistory.list.query({ patientId });
              await client.patients.list.query({});
              await client.doctors.list.query({});
              requests += 5;
              reads += 4;
            }
          }),
        );
        const perRequest = (await questions(set.primary)) - before.questions - 1;
        const served = new Map<string, number>();
        if (replicas) {
          for (const [name, n] of replicas.readCounts()) served.set(name, n - (before.counts.get(name) ?? 0));
        } else {
          served.set('primary', reads);
        }
        const total = [...served.values()].reduce((a, b) => a + b, 0);
        const label = (name: string) =>
          name === 'primary'
            ? 'primary'
            : `replica ${set.replicas.findIndex((r) => name.endsWith(`:${r.port}`)) + 1}`;
        const shares = [...served]
          .map(([name, n]) => `${label(name)} ${((100 * n) / total).toFixed(0)}%`)
          .join(', ');
        const sorted = waits.map((w) => w.ms).sort((a, b) => a - b);
        const onPrimary = waits.filter((w) => w.target === 'primary').length;
        rows.push(
          `| ${count} | ${shares} | ${(perRequest / requests).toFixed(2)} | ${
            replicas
              ? `${percentile(sorted, 0.5).toFixed(0)} / ${percentile(sorted, 0.99).toFixed(0)} ms (${onPrimary} of ${waits.length} reads to the primary)`
              : '-'
          } |`,
        );
      } finally {
        await server.close();
      }
    }
  } finally {
    await set.remove();
  }
  console.log(
    '| replicas | reads served by | primary statements per request | read-your-writes wait p50 / p99 |',
  );
  console.log('| --- | --- | --- | --- |');
  for (const row of rows) console.log(row);
}

if (part !== 'galera') await benchReplicas();
if (part !== 'replicas') await benchGalera();

async function benchGalera(): Promise<void> {
  const started = Date.now();
  const cluster = await startGaleraCluster(3);
  console.log(`3-node cluster up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const proxy = await startHaproxy(cluster.nodes);
  const server = await startTestServer({}, { target: await freshDatabase('mysql', proxy.url('hdms_bench')) });
  try {
    const client = trpcClient(server.url, await adminToken(server));
    const latencies: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      await client.patients.create.mutate({ name: `steady ${i}`, age: 40, gender: 'F' });
      latencies.push(performance.now() - t0);
    }
    latencies.sort((a, b) => a - b);
    console.log(
      `create through HAProxy, no failure: p50 ${percentile(latencies, 0.5).toFixed(1)} ms, p99 ${percentile(latencies, 0.99).toFixed(1)} ms`,
    );
    console.log('| kill | first write after death | 503s | 500s | acknowledged writes stored |');
    console.log('| --- | --- | --- | --- | --- |');
    for (let round = 1; round <= kills; round++) {
      const outcomes: { startedAt: number; outcome: string }[] = [];
      const acknowledged: string[] = [];
      let stop = false;
      const loop = async (who: number) => {
        for (let i = 0; !stop; i++) {
          const name = `kill ${round} loop ${who} ${i}`;
          const startedAt = Date.now();
          const outcome = await attempt(client.patients.create.mutate({ name, age: 50, gender: 'M' }));
          outcomes.push({ startedAt, outcome });
          if (outcome === 'OK') acknowledged.push(name);
          else await new Promise((resolve) => setTimeout(resolve, 50));
        }
      };
      const loops = [loop(1), loop(2)];
      await waitFor(() => acknowledged.length >= 20, { what: 'writes before the kill' });
      const writer = cluster.nodes[0]!;
      const killedAt = Date.now();
      await writer.kill('SIGKILL');
      const first = await waitFor(
        () => outcomes.find((o) => o.startedAt > killedAt && o.outcome === 'OK')?.startedAt,
        {
          what: 'a write after the kill',
          timeoutMs: 120_000,
        },
      );
      stop = true;
      await Promise.all(loops);
      const [rows] = (await server.db.sequelize.query('SELECT name FROM patients WHERE name LIKE ?', {
        replacements: [`kill ${round} %`],
      })) as [{ name: string }[], unknown];
      const stored = new Set(rows.map((row) => row.name));
      const lost = acknowledged.filter((name) => !stored.has(name)).length;
      const count = (status: string) => outcomes.filter((o) => o.outcome === status).length;
      console.log(
        `| ${round} | ${((first - killedAt) / 1000).toFixed(1)} s | ${count('HTTP 503')} | ${count('HTTP 500')} | ${lost === 0 ? 'all' : `${lost} lost`} |`,
      );
      await cluster.rejoin(writer);
    }
  } finally {
    await server.close();
    await proxy.stop();
    await cluster.remove();
  }
}
