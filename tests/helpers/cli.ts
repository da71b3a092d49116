import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './serverProcess';
import { waitFor } from './wait';

/*
 * The `hdms` command (client-sdk/src/cli) as a user runs it: built by the SDK's own build script
 * (client-sdk/scripts/build-js.mjs) into a folder of the test's own, run as a child process with a
 * config folder of its own, and answered on stdout, stderr and its exit code.
 */

/** A build of the SDK's JavaScript (index.js, cli.js), and where it is. */
export interface CliBuild {
  dir: string;
  cli: string;
  index: string;
  remove(): void;
}

/**
 * Builds dist/index.js and dist/cli.js into a fresh folder under client-sdk/node_modules/.cache (so
 * that their packages resolve as they do from client-sdk/dist), leaving client-sdk/dist alone
 * (other suites pack it).
 */
export async function buildCli(): Promise<CliBuild> {
  const cache = join(ROOT, 'client-sdk', 'node_modules', '.cache');
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(join(cache, 'cli-test-'));
  await promisify(execFile)(process.execPath, [join(ROOT, 'client-sdk', 'scripts', 'build-js.mjs'), dir], {
    cwd: ROOT,
  });
  return {
    dir,
    cli: join(dir, 'cli.js'),
    index: join(dir, 'index.js'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A folder to be `XDG_CONFIG_HOME` (and HOME) of `hdms` runs: where `hdms login` saves. */
export function configHome(): string {
  return mkdtempSync(join(tmpdir(), 'hdms-cli-home-'));
}

/** How to run `hdms`. */
export interface HdmsRun {
  /** XDG_CONFIG_HOME and HOME; a fresh one by default (not signed in). */
  home?: string;
  /** More environment (HDMS_URL, HDMS_TOKEN, ...); nothing else is inherited but PATH. */
  env?: Record<string, string>;
  /** Written to stdin, which is then closed (stdin is empty otherwise). */
  input?: string;
  cwd?: string;
}

/** What a finished `hdms` run printed and its exit code. */
export interface HdmsResult {
  code: number | null;
  out: string;
  err: string;
}

function envOf(options: HdmsRun): Record<string, string> {
  const home = options.home ?? configHome();
  return { PATH: process.env.PATH ?? '', HOME: home, XDG_CONFIG_HOME: home, ...options.env };
}

/** Starts `node <cli> ...args`. */
export function spawnHdms(
  cli: string,
  args: string[],
  options: HdmsRun = {},
): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [cli, ...args], { cwd: options.cwd ?? ROOT, env: envOf(options) });
}

/** Runs `hdms ...args` to its end. */
export async function runHdms(cli: string, args: string[], options: HdmsRun = {}): Promise<HdmsResult> {
  const child = spawnHdms(cli, args, options);
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk) => {
    out += chunk;
  });
  child.stderr.on('data', (chunk) => {
    err += chunk;
  });
  child.stdin.end(options.input ?? '');
  const [code] = await once(child, 'exit');
  return { code, out, err };
}

/** A long-running `hdms` (say `hdms events`), read as it goes. */
export interface RunningHdms {
  child: ChildProcessWithoutNullStreams;
  out(): string;
  err(): string;
  /** Waits until stdout (or stderr) matches `pattern`; fails naming what was printed. */
  waitForOut(pattern: RegExp, timeoutMs?: number): Promise<void>;
  waitForErr(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `hdms ...args` and keeps reading what it prints. */
export function startHdms(cli: string, args: string[], options: HdmsRun = {}): RunningHdms {
  const child = spawnHdms(cli, args, options);
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk) => {
    out += chunk;
  });
  child.stderr.on('data', (chunk) => {
    err += chunk;
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const waitOn =
    (read: () => string, name: string) =>
    (pattern: RegExp, timeoutMs = 20_000) =>
      waitFor(() => pattern.test(read()), {
        what: () =>
          `${name} to match ${pattern}; stdout: ${JSON.stringify(out)}, stderr: ${JSON.stringify(err)}`,
        timeoutMs,
      }).then(() => undefined);
  return {
    child,
    out: () => out,
    err: () => err,
    waitForOut: waitOn(() => out, 'stdout'),
    waitForErr: waitOn(() => err, 'stderr'),
    async stop(signal = 'SIGINT') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
