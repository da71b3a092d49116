/**
 * `npm run bench -- cluster [--kills N]`: HDMS on a 3-node MariaDB Galera cluster of its own
 * (temporary folders, free ports, `tests/helpers/mariadb.ts`) behind HAProxy with one writer. One
 * server (in this process) takes two loops of patient creations through the proxy; the writer node
 * is SIGKILLed, and restarted and rejoined afterwards, `--kills` times (default 3). Prints, per
 * kill, the time from the writer's death to the first successful write started after it, the
 * calls answered 503 and 500 meanwhile, and whether every acknowledged write was stored; and the
 * p50/p99 of a create with no failure going on. Read replicas (`DATABASE_READ_URLS`) are not
 * implemented yet: the reads-per-target and read-your-writes rows are left out (README "Running on
 * a cluster").
 */
import { parseArgs } from 'node:util';
import { TRPCClientError } from '@trpc/client';
import { freshDatabase } from '../helpers/db';
import { ownMariadbMissing, startGaleraCluster, startHaproxy } from '../helpers/mariadb';
import { adminToken, startTestServer, trpcClient } from '../helpers/server';
import { waitFor } from '../helpers/wait';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== 'cluster'),
  options: { kills: { type: 'string', default: '3' } },
});
const kills = Math.max(1, Number(values.kills));

const missing = ownMariadbMissing({ galera: true, haproxy: true });
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
