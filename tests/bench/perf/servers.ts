/**
 * The two servers of the perf bench, each a process of its own: HDMS (`npm start`'s entry, through
 * the tests' `startServerProcess`) and the hand-written baseline (`./raw/server.ts`), both run by
 * node with tsx's loader on the same database.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { ROOT, SERVER_ARGS, childEnv, startServerProcess } from '../../helpers/serverProcess';

/** A running server process. */
export interface Server {
  name: 'HDMS' | 'raw';
  url: string;
  child: ChildProcess;
  pid: number;
}

/**
 * HDMS's environment in the bench besides DATABASE_URL: a deployment's settings with quiet logs
 * (`tuned`, the default), or as `npm start` runs it (`started`: development, a log line per
 * request at info, the panel, /docs and /metrics on).
 */
export function hdmsEnv(logLevel: string, mode: 'tuned' | 'started' = 'tuned'): Record<string, string> {
  return mode === 'started'
    ? { NODE_ENV: 'development', LOG_LEVEL: 'info' }
    : { NODE_ENV: 'production', LOG_LEVEL: logLevel };
}

/** Starts HDMS; with `profileDir`, under `node --cpu-prof` (the profile is written when it stops). */
export async function startHdms(env: Record<string, string>, profileDir?: string): Promise<Server> {
  const args = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, ...SERVER_ARGS] : SERVER_ARGS;
  const { child, url } = await startServerProcess(env, { args });
  // Its warnings and errors (LOG_LEVEL) reach the bench's stderr.
  child.stderr!.on('data', (chunk) => process.stderr.write(chunk));
  return { name: 'HDMS', url, child, pid: child.pid! };
}

/** Starts the baseline on `databaseUrl` with a pool of `poolMax` connections (optionally profiled). */
export async function startRaw(databaseUrl: string, poolMax: number, profileDir?: string): Promise<Server> {
  const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', 'tests/bench/raw/server.ts'], {
    cwd: ROOT,
    env: childEnv({ DATABASE_URL: databaseUrl, POOL_MAX: String(poolMax), PORT: '0' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stderr!.on('data', (chunk) => {
    out += chunk;
    process.stderr.write(chunk);
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the baseline did not start within 30 s: ${out}`)),
      30_000,
    );
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      const match = /raw baseline listening on (http:\/\/\S+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the baseline exited with ${code}: ${out}`));
    });
  });
  return { name: 'raw', url, child, pid: child.pid! };
}

/** Stops a server with SIGTERM and waits for it to exit (SIGKILL after `graceMs`). */
export async function stopServer(server: Server, graceMs = 30_000): Promise<number | null> {
  const { child } = server;
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  const [code] = await exited;
  clearTimeout(timer);
  return code as number | null;
}
