import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';

/** The repository's root. */
export const ROOT = join(import.meta.dirname, '..', '..');

/**
 * `npm start`'s entry as one process (node with tsx's loader), so that a signal reaches the
 * server itself: the `tsx` command would put a wrapper process in between, and a SIGKILL would
 * orphan the server.
 */
export const SERVER_ARGS = ['--import', 'tsx', 'server/src/index.ts'];

/**
 * A child's environment: PATH and HOME only, quiet logs, NODE_ENV=test (so that a developer's
 * `.env` in the repository root is not read), then `env`.
 */
export function childEnv(env: Record<string, string>): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    LOG_LEVEL: 'warn',
    NODE_ENV: 'test',
    ...env,
  };
}

/**
 * Runs `node args` (or `command args`) until it exits by itself (a command, or a server that fails
 * to start); `options.input` is written to its standard input (closed otherwise), `options.cwd`
 * is where it runs (the repository's root by default).
 */
export async function runToExit(
  args: string[],
  env: Record<string, string>,
  command = process.execPath,
  options: { input?: string; cwd?: string } = {},
): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(command, args, {
    cwd: options.cwd ?? ROOT,
    env: childEnv(env),
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (options.input !== undefined) child.stdin!.end(options.input);
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk) => {
    out += chunk;
  });
  child.stderr!.on('data', (chunk) => {
    err += chunk;
  });
  // 'close': the process has exited and its output has been read to the end.
  const [code] = await once(child, 'close');
  return { code, out, err };
}

/** A server running as a process of its own. */
export interface ServerProcess {
  child: ChildProcess;
  url: string;
  /** What it has printed on stdout so far. */
  stdout(): string;
  /** What it has printed on stderr so far. */
  stderr(): string;
}

/**
 * Starts a server process (`npm start`'s entry by default; `args` for another, e.g. a build's
 * `index.js`) on a free port and waits for its whole banner, which ends with the sign-in hint.
 */
export async function startServerProcess(
  env: Record<string, string>,
  options: {
    args?: string[];
    cwd?: string;
    /** Another program than node (`npm` with `args` ['start']). */
    command?: string;
    /** Runs it as the leader of a process group of its own (to find what it leaves behind). */
    detached?: boolean;
  } = {},
): Promise<ServerProcess> {
  const child = spawn(options.command ?? process.execPath, options.args ?? SERVER_ARGS, {
    cwd: options.cwd ?? ROOT,
    env: childEnv({ PORT: '0', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (chunk) => {
    err += chunk;
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner within 30 s: ${out}${err}`)), 30_000);
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      const match = /HDMS is listening on (http:\/\/\S+)[\s\S]*Authorization: Bearer/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code}: ${out}${err}`));
    });
  });
  return { child, url, stdout: () => out, stderr: () => err };
}
