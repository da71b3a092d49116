import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { freshDatabase } from '../helpers/db';
import { http } from '../helpers/server';
import {
  ROOT,
  runToExit,
  SERVER_ARGS,
  type ServerProcess,
  startServerProcess,
} from '../helpers/serverProcess';
import { waitFor } from '../helpers/wait';

/*
 * Issue 22, points 1 and 7, on the real `npm start` entry: .env, misspelt variables, NODE_ENV,
 * the banner naming the database and the mode, and SIGTERM to `npm start` stopping the server.
 */

/** `npm start`'s entry with absolute paths, to run it from another working directory. */
const ENTRY_ARGS = [
  '--import',
  pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href,
  join(ROOT, 'server', 'src', 'index.ts'),
];

/** The lines of `text` that are not blank. */
const lines = (text: string) => text.split('\n').filter((line) => line.trim() !== '');

async function stop(started: ServerProcess): Promise<void> {
  if (started.child.exitCode !== null || started.child.signalCode !== null) return;
  started.child.kill('SIGTERM');
  await once(started.child, 'exit');
}

/** Whether something accepts connections on `port` of 127.0.0.1. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Whether any process of process group `pgid` is left. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('configuration at start', () => {
  it('reads .env from the working directory (the environment wins), warns of a misspelt variable, and names the database and the mode', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hdms-dotenv-start-'));
    const file = join(dir, 'clinic.sqlite');
    writeFileSync(join(dir, '.env'), `# local settings\nDATABASE_URL=sqlite:${file}\nLOG_LEVEL=debug\n`);
    let started: ServerProcess | undefined;
    try {
      started = await startServerProcess(
        {
          NODE_ENV: 'development',
          LOG_LEVEL: 'warn',
          DATABSE_URL: 'mysql://root:s3cret@db.example.org:3306/hdms',
        },
        { args: ENTRY_ARGS, cwd: dir },
      );
      expect(started.stderr()).toContain(
        'Warning: DATABSE_URL is not an HDMS setting: did you mean DATABASE_URL? (DATABSE_URL is ignored)',
      );
      expect(started.stderr() + started.stdout()).not.toContain('s3cret');
      const banner = started.stdout();
      expect(banner).toContain(`  database:   SQLite file ${file} (DATABASE_URL)`);
      expect(banner).toContain('  mode:       development (NODE_ENV)');
      expect(banner).toContain(
        `  .env:       ${join(dir, '.env')} (1 of its variables used; the environment wins)`,
      );
      // LOG_LEVEL=warn from the environment won over the file's debug: no info lines.
      expect(banner).not.toMatch(/"level":30/);
      expect((await http(started.url, 'GET', '/healthz')).body).toEqual({ status: 'ok' });
    } finally {
      if (started) await stop(started);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads .env and warns of a misspelt variable in the commands too (db:migrate)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hdms-dotenv-migrate-'));
    const file = join(dir, 'migrated.sqlite');
    writeFileSync(join(dir, '.env'), `DATABASE_URL=sqlite:${file}\n`);
    try {
      const migrate = [ENTRY_ARGS[0]!, ENTRY_ARGS[1]!, join(ROOT, 'server', 'src', 'migrate.ts'), 'up'];
      const run = await runToExit(migrate, { NODE_ENV: 'development', LOG_LVEL: 'debug' }, process.execPath, {
        cwd: dir,
      });
      expect(run.err).toContain(
        'Warning: LOG_LVEL is not an HDMS setting: did you mean LOG_LEVEL? (LOG_LVEL is ignored)',
      );
      expect(run.out).toMatch(/^Applied: 0001_initial/);
      expect(run.code).toBe(0);
      expect(existsSync(file)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops a production start on a misspelt variable, in one line naming the intended one', async () => {
    const failed = await runToExit(SERVER_ARGS, {
      NODE_ENV: 'production',
      DATABASE_URL: 'sqlite::memory:',
      DATABSE_URL: 'mysql://root:s3cret@db.example.org:3306/hdms',
    });
    expect(failed.code).toBe(1);
    expect(lines(failed.err)).toEqual([
      'Invalid configuration: DATABSE_URL is not an HDMS setting: did you mean DATABASE_URL? (DATABSE_URL is ignored). In production a misspelt setting stops the start; rename or unset it',
    ]);
    expect(failed.out).toBe('');
  });

  it('stops on NODE_ENV=prod in one line naming the values it takes', async () => {
    const failed = await runToExit(SERVER_ARGS, { NODE_ENV: 'prod', DATABASE_URL: 'sqlite::memory:' });
    expect(failed.code).toBe(1);
    expect(lines(failed.err)).toEqual([
      'Invalid configuration: NODE_ENV must be one of development, production, test (got "prod")',
    ]);
  });

  it.skipIf(!process.env.TEST_MYSQL_URL)(
    'names the MySQL host and database in the banner, never the user or the password',
    async () => {
      const target = await freshDatabase('mysql');
      const url = new URL(target.url);
      let started: ServerProcess | undefined;
      try {
        started = await startServerProcess({ DATABASE_URL: target.url, NODE_ENV: 'test' });
        const database = url.pathname.slice(1);
        expect(started.stdout()).toContain(
          `  database:   MySQL database ${database} on ${url.hostname}:${url.port || 3306} (DATABASE_URL)`,
        );
        expect(started.stdout()).toContain('  mode:       test (NODE_ENV)');
        expect(started.stdout()).not.toContain(`${url.username}@`);
      } finally {
        if (started) await stop(started);
        await target.drop();
      }
    },
  );
});

describe('npm start and signals', () => {
  it('SIGTERM to the npm start process stops the server: the port is free, no process is left', async () => {
    const target = await freshDatabase('sqlite');
    const started = await startServerProcess(
      { DATABASE_URL: target.url },
      { command: 'npm', args: ['start', '--silent'], detached: true },
    );
    const pgid = started.child.pid!;
    const port = Number(new URL(started.url).port);
    try {
      expect(await listening(port)).toBe(true);
      // To npm alone (the group's leader), as `kill -TERM <pid>` or a process manager sends it.
      process.kill(pgid, 'SIGTERM');
      await once(started.child, 'exit');
      await waitFor(async () => !(await listening(port)) && !groupAlive(pgid), {
        what: `port ${port} free and no process of group ${pgid} left`,
        timeoutMs: 20_000,
      });
      expect(started.stdout() + started.stderr()).not.toMatch(/Error|ERR!/);
    } finally {
      if (groupAlive(pgid)) process.kill(-pgid, 'SIGKILL');
      await target.drop();
    }
  });
});
