/**
 * `npm run bench -- profile <list|rest-list|get|create> [--db URL] [--seconds S] [--out DIR]`:
 * CPU-profiles HDMS under one kind of request only, so the profile shows that path and nothing
 * else. Needs a database `npm run bench` has seeded (default mysql://root@127.0.0.1:3306/hdms_bench,
 * with its bench_admin and bench_doctor accounts). Starts the server under `node --cpu-prof`,
 * sends the requests with 50 in flight, stops it with SIGTERM (so the profile is written), and
 * prints the hottest functions and packages by self time, leaving the .cpuprofile in --out (open
 * it in Chrome DevTools or speedscope).
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import superjson from 'superjson';
import { SERVER_ARGS, startServerProcess } from '../helpers/serverProcess';
import { burst, keepAliveAgent, type Request, send } from './perf/load';

const { values, positionals } = parseArgs({
  args: process.argv.slice(3),
  allowPositionals: true,
  options: {
    db: { type: 'string', default: 'mysql://root@127.0.0.1:3306/hdms_bench' },
    seconds: { type: 'string', default: '15' },
    out: { type: 'string', default: '/tmp/hdms-profile' },
  },
});
const kind = positionals[0] ?? 'list';
const trpcInput = (input: unknown) => encodeURIComponent(JSON.stringify(superjson.serialize(input)));

mkdirSync(values.out, { recursive: true });
const before = new Set(readdirSync(values.out));
const { child, url } = await startServerProcess(
  { DATABASE_URL: values.db, NODE_ENV: 'production', LOG_LEVEL: 'warn' },
  { args: ['--cpu-prof', `--cpu-prof-dir=${values.out}`, ...SERVER_ARGS] },
);
const agent = keepAliveAgent(50);
const login = async (username: string, password: string) => {
  const res = await send(agent, url, 'POST', '/login', null, JSON.stringify({ username, password }));
  if (res.status !== 200) throw new Error(`sign-in as ${username}: ${res.status} ${res.text}`);
  return JSON.parse(res.text).token as string;
};
const doctor = await login('bench_doctor', 'granite-river-thistle-35');
const admin = await login('bench_admin', 'lantern-harbor-quiet-42');
const batch = (n: number) =>
  JSON.stringify(
    superjson.serialize(
      Array.from({ length: 1000 }, (_, i) => ({
        name: `Profiled ${n}-${i}`,
        age: i % 100,
        gender: 'f',
        doctorId: 1,
      })),
    ),
  );
const requests: Record<string, Request> = {
  list: {
    method: 'GET',
    path: `/trpc/patients.list?input=${trpcInput({ limit: 50 })}`,
    token: doctor,
    status: 200,
  },
  'rest-list': { method: 'GET', path: '/patients?limit=50', token: doctor, status: 200 },
  get: {
    method: 'GET',
    path: `/trpc/patients.get?input=${trpcInput({ id: 1 })}`,
    token: doctor,
    status: 200,
  },
  create: { method: 'POST', path: '/trpc/patients.createMany', body: batch, token: admin, status: 200 },
};
const request = requests[kind];
if (!request) throw new Error(`unknown kind ${kind}: one of ${Object.keys(requests).join(', ')}`);
const ms = Number(values.seconds) * 1000;
const result = await burst(agent, url, request, { ms }, kind === 'create' ? 1 : 50);
console.log(`${kind}: ${result.requests} requests in ${(result.wallMs / 1000).toFixed(1)} s`);
child.kill('SIGTERM');
await new Promise((resolve) => child.once('exit', resolve));

const file = readdirSync(values.out).find((f) => f.endsWith('.cpuprofile') && !before.has(f));
if (!file) throw new Error('no profile was written');
summarise(join(values.out, file));

/** The hottest functions and packages of a .cpuprofile by self time, idle excluded. */
function summarise(path: string): void {
  interface Node {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }
  const profile = JSON.parse(readFileSync(path, 'utf8')) as {
    nodes: Node[];
    samples: number[];
    timeDeltas: number[];
  };
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const where = (u: string) =>
    /node_modules\/((@[^/]+\/)?[^/]+)/.exec(u)?.[1] ??
    (u
      .match(/\/(server|db)\/src\/(.*)$/)
      ?.slice(1)
      .join('/') ||
      u ||
      'native');
  const byPackage = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const frame = nodes.get(id)!.callFrame;
    if (frame.functionName === '(idle)') return;
    const dt = profile.timeDeltas[i] ?? 0;
    busy += dt;
    const pkg = where(frame.url);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + dt);
    const fn = `${frame.functionName || '(anonymous)'}  ${pkg}:${frame.lineNumber + 1}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + dt);
  });
  const top = (m: Map<string, number>, n: number) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => `${((100 * v) / busy).toFixed(1).padStart(5)}%  ${k}`)
      .join('\n');
  console.log(
    `busy ${(busy / 1000).toFixed(0)} ms, ${(busy / result.requests) | 0} µs per request; profile ${path}`,
  );
  console.log('\nself time by package\n' + top(byPackage, 20));
  console.log('\nself time by function\n' + top(byFunction, 35));
}
