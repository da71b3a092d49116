/**
 * The perf bench's HTTP load: a keep-alive node:http client holding a fixed number of requests in
 * flight, every answer's status checked (a failure aborts the bench, printing the body), latency
 * per request; and the server side of a measurement from /proc: CPU time (utime + stime, every
 * thread of the process) and resident memory.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';

/** One kind of request against one server. */
export interface Request {
  method: 'GET' | 'POST';
  /** The path, or one per request number (e.g. a different patient each time). */
  path: string | ((n: number) => string);
  token: string;
  /** A JSON body, or one per request number. */
  body?: string | ((n: number) => string);
  /** The status every answer must have. */
  status: number;
}

/** What a burst of requests measured on the client. */
export interface Burst {
  requests: number;
  wallMs: number;
  /** Milliseconds per request, in completion order. */
  latencies: number[];
}

/** A failed request: the bench stops and prints this. */
export class RequestFailed extends Error {}

/** A keep-alive agent for `sockets` connections to one server. */
export function keepAliveAgent(sockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
}

/** Sends one request and resolves with its status and body text. */
export function send(
  agent: http.Agent,
  base: string,
  method: string,
  path: string,
  token: string | null,
  body?: string,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, base);
    const headers: Record<string, string | number> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(body);
    }
    const req = http.request(
      { agent, host: url.hostname, port: url.port, method, path: url.pathname + url.search, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Sends requests with `concurrency` in flight at once: `limit.count` of them, or as many as start
 * within `limit.ms`. `check` sees the first answer's body (to make sure the server did the work
 * asked, e.g. a page of 50). Any unexpected status throws `RequestFailed` with the body.
 */
export async function burst(
  agent: http.Agent,
  base: string,
  request: Request,
  limit: { count: number } | { ms: number },
  concurrency: number,
  check?: (body: string) => void,
): Promise<Burst> {
  const latencies: number[] = [];
  let next = 0;
  let checked = !check;
  const started = performance.now();
  const more = 'count' in limit ? () => next < limit.count : () => performance.now() - started < limit.ms;
  const worker = async () => {
    while (more()) {
      const n = next++;
      const path = typeof request.path === 'function' ? request.path(n) : request.path;
      const body = typeof request.body === 'function' ? request.body(n) : request.body;
      const t0 = performance.now();
      const { status, text } = await send(agent, base, request.method, path, request.token, body);
      latencies.push(performance.now() - t0);
      if (status !== request.status) {
        throw new RequestFailed(
          `${request.method} ${base}${path} answered ${status}, expected ${request.status}:\n${text.slice(0, 2000)}`,
        );
      }
      if (!checked) {
        checked = true;
        check!(text);
      }
    }
  };
  const workers = 'count' in limit ? Math.min(concurrency, limit.count) : concurrency;
  await Promise.all(Array.from({ length: workers }, worker));
  return { requests: latencies.length, wallMs: performance.now() - started, latencies };
}

/**
 * Polls `GET /healthz` every `everyMs` (or as soon as the previous answer came, if slower) until
 * `stop()` is called; resolves with each answer's latency.
 */
export function pollHealth(base: string, everyMs: number): { stop(): Promise<number[]> } {
  const agent = keepAliveAgent(1);
  const latencies: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      const { status, text } = await send(agent, base, 'GET', '/healthz', null);
      const ms = performance.now() - t0;
      if (status !== 200) throw new RequestFailed(`GET ${base}/healthz answered ${status}: ${text}`);
      latencies.push(ms);
      const wait = everyMs - ms;
      if (wait > 0 && running) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      agent.destroy();
      return latencies;
    },
  };
}

/** The `p` quantile (0–1) of `values` (nearest rank). */
export function quantile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * p) - 1))]!;
}

/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`, 100 on Linux almost always). */
export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds a process has used so far, user plus system, all its threads (`/proc/<pid>/stat`). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at "state" (field 3).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** Resident memory of a process in bytes, now (`VmRSS`) and at its peak (`VmHWM`). */
export function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rss: kib('VmRSS') * 1024, peak: kib('VmHWM') * 1024 };
}
