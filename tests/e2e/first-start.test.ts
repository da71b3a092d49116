import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freshDatabase } from '../helpers/db';
import { http } from '../helpers/server';
import { runToExit, SERVER_ARGS, type ServerProcess, startServerProcess } from '../helpers/serverProcess';

/** Runs the server until it exits by itself (a failed start). */
const failedStart = (env: Record<string, string>) => runToExit(SERVER_ARGS, env);

type Started = ServerProcess;
const startProcess = startServerProcess;

/** Stops a started server with SIGTERM and waits for it to exit. */
async function stop(started: Started): Promise<void> {
  if (started.child.exitCode !== null || started.child.signalCode !== null) return;
  started.child.kill('SIGTERM');
  await once(started.child, 'exit');
}

/** The lines of `text` that are not blank. */
const lines = (text: string) => text.split('\n').filter((line) => line.trim() !== '');

describe('the first start', () => {
  it('creates no admin when PORT is busy, then shows the generated password exactly once', async () => {
    const target = await freshDatabase('sqlite');
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const busyPort = (blocker.address() as AddressInfo).port;
    const started: Started[] = [];
    try {
      const failed = await failedStart({ DATABASE_URL: target.url, PORT: String(busyPort) });
      expect(failed.code).not.toBe(0);
      expect(lines(failed.err)).toEqual([
        `HDMS failed to start: PORT ${busyPort} on HOST 127.0.0.1 is already in use (EADDRINUSE)`,
      ]);
      expect(failed.out + failed.err).not.toMatch(/password:/);

      const second = await startProcess({ DATABASE_URL: target.url });
      started.push(second);
      expect(second.stdout().match(/password: /g)).toHaveLength(1);
      const password = /password: (\S+)/.exec(second.stdout())![1];
      const login = await http(second.url, 'POST', '/login', { body: { username: 'admin', password } });
      expect(login.status).toBe(200);
      expect(login.body.user.role).toBe('admin');
      await stop(second);

      const third = await startProcess({ DATABASE_URL: target.url });
      started.push(third);
      expect(third.stdout()).not.toMatch(/password:/);
      const again = await http(third.url, 'POST', '/login', { body: { username: 'admin', password } });
      expect(again.status).toBe(200);
    } finally {
      await Promise.all(started.map(stop));
      blocker.close();
      await target.drop();
    }
  }, 90_000);

  it('keeps the existing password when ADMIN_PASSWORD names an existing admin, and says so in one line', async () => {
    const target = await freshDatabase('sqlite');
    const chief = {
      ADMIN_USERNAME: 'chief',
      ADMIN_EMAIL: 'chief@example.org',
      ADMIN_PASSWORD: 'orchard-compass-17',
    };
    const started: Started[] = [];
    try {
      const first = await startProcess({ DATABASE_URL: target.url, ...chief });
      started.push(first);
      expect(first.stdout()).toContain('Admin account "chief" was created from the ADMIN_* settings.');
      expect(first.stdout()).not.toMatch(/password:|orchard-compass-17/);
      await stop(first);

      const second = await startProcess({
        DATABASE_URL: target.url,
        ...chief,
        ADMIN_PASSWORD: 'a-different-password-2',
      });
      started.push(second);
      const kept = lines(second.stdout()).filter((line) => line.includes('ADMIN_PASSWORD'));
      expect(kept).toHaveLength(1);
      expect(kept[0]).toMatch(/admin "chief" already exists: its existing password was kept/);
      expect(kept[0]).toContain('npm run admin:reset-password -- chief');
      expect(second.stdout()).not.toContain('a-different-password-2');

      const old = await http(second.url, 'POST', '/login', {
        body: { username: 'chief', password: 'orchard-compass-17' },
      });
      expect(old.status).toBe(200);
      const ignored = await http(second.url, 'POST', '/login', {
        body: { username: 'chief', password: 'a-different-password-2' },
      });
      expect(ignored.status).toBe(401);
    } finally {
      await Promise.all(started.map(stop));
      await target.drop();
    }
  }, 60_000);
});

describe('start-up failures', () => {
  it('names DATABASE_URL, with its password redacted, when the database is unreachable', async () => {
    const failed = await failedStart({ DATABASE_URL: 'mysql://root:s3cret@127.0.0.1:1/hdms' });
    expect(failed.code).toBe(1);
    const [line, ...more] = lines(failed.err);
    expect(more).toEqual([]);
    expect(line).toMatch(
      /^HDMS failed to start: DATABASE_URL mysql:\/\/root:\*\*\*@127\.0\.0\.1:1\/hdms: .*ECONNREFUSED/,
    );
    expect(failed.out + failed.err).not.toContain('s3cret');
  });

  it('names the SQLite file when it is not a database', async () => {
    const target = await freshDatabase('sqlite');
    const file = target.url.slice('sqlite:'.length);
    try {
      writeFileSync(file, 'this is a text file, not a SQLite database, and long enough to be read as one');
      const failed = await failedStart({ DATABASE_URL: target.url });
      expect(failed.code).toBe(1);
      const [line, ...more] = lines(failed.err);
      expect(more).toEqual([]);
      expect(line!.startsWith(`HDMS failed to start: DATABASE_URL ${target.url}: `)).toBe(true);
      expect(line).toContain(file);
      expect(line).toContain('SQLITE_NOTADB');
    } finally {
      await target.drop();
    }
  });
});
