import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { DB_KINDS, freshDatabase, type TestDatabase } from '../helpers/db';
import { http } from '../helpers/server';
import { ROOT, SERVER_ARGS, startServerProcess } from '../helpers/serverProcess';

const startProcess = startServerProcess;

/** An admin chosen through the ADMIN_* settings. */
const CHIEF_ENV = {
  ADMIN_USERNAME: 'chief',
  ADMIN_EMAIL: 'chief@example.org',
  ADMIN_PASSWORD: 'orchard-compass-17',
};

const kinds = DB_KINDS;

describe.each(kinds)('the server process on %s', (kind) => {
  let target: TestDatabase;
  const children: ChildProcess[] = [];
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await target?.drop();
  });

  it('prints a generated admin password once, and keeps accounts and sessions across a kill -9', async () => {
    target = await freshDatabase(kind);
    const first = await startProcess({ DATABASE_URL: target.url });
    children.push(first.child);
    const password = /password: (\S+)/.exec(first.stdout())?.[1];
    expect(password).toBeDefined();
    expect(first.stdout()).toContain('/panel');
    expect((await http(first.url, 'GET', '/healthz')).status).toBe(200);

    const reg = await http(first.url, 'POST', '/register', {
      body: {
        username: 'survivor',
        email: 'survivor@example.org',
        password: 'still-here-1',
        role: 'patient',
      },
    });
    expect(reg.status).toBe(201);
    const login = await http(first.url, 'POST', '/login', {
      body: { username: 'survivor', password: 'still-here-1' },
    });
    expect(login.status).toBe(200);

    first.child.kill('SIGKILL');
    await once(first.child, 'exit');
    await expect(http(first.url, 'GET', '/healthz'), 'the killed server is gone').rejects.toThrow();

    const second = await startProcess({ DATABASE_URL: target.url });
    children.push(second.child);
    expect(second.stdout()).not.toMatch(/password:/);
    const me = await http(second.url, 'GET', '/trpc/auth.me', { token: login.body.token });
    expect(me.status).toBe(200);
    expect(me.body.result.data.json.username).toBe('survivor');
    const admin = await http(second.url, 'POST', '/login', { body: { username: 'admin', password } });
    expect(admin.status).toBe(200);
    expect(admin.body.user.role).toBe('admin');

    second.child.kill('SIGTERM');
    const [code] = await once(second.child, 'exit');
    expect(code).toBe(0);
  });
});

/**
 * Sends `POST path` with `Expect: 100-continue`: `accepted` resolves once the server has taken the
 * request in (it answered 100 Continue) and the body is on its way; `status` is the final answer.
 */
function acceptedPost(
  url: string,
  path: string,
  body: unknown,
): { accepted: Promise<void>; status: Promise<number> } {
  const payload = JSON.stringify(body);
  const request = httpRequest(url + path, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(payload),
      expect: '100-continue',
    },
  });
  const status = new Promise<number>((resolve, reject) => {
    request.once('error', reject);
    request.once('response', (response) => {
      response.resume();
      response.once('end', () => resolve(response.statusCode ?? 0));
    });
  });
  const accepted = once(request, 'continue').then(() => {
    request.end(payload);
  });
  request.flushHeaders();
  return { accepted, status };
}

describe('graceful shutdown', () => {
  it('finishes requests in flight on SIGTERM, then exits 0', async () => {
    const target = await freshDatabase('sqlite');
    const started = await startProcess({ DATABASE_URL: target.url, ...CHIEF_ENV });
    try {
      // Twelve sign-ins the server has taken in (each then spends tens of milliseconds in
      // argon2) are still running when the signal arrives.
      const logins = Array.from({ length: 12 }, () =>
        acceptedPost(started.url, '/login', { username: 'chief', password: CHIEF_ENV.ADMIN_PASSWORD }),
      );
      await Promise.all(logins.map((login) => login.accepted));
      const exited = once(started.child, 'exit');
      started.child.kill('SIGTERM');
      const statuses = await Promise.all(logins.map((login) => login.status));
      expect(statuses).toEqual(Array(12).fill(200));
      const [code] = await exited;
      expect(code).toBe(0);
      await expect(http(started.url, 'GET', '/healthz')).rejects.toThrow();
    } finally {
      if (started.child.exitCode === null) started.child.kill('SIGKILL');
      await target.drop();
    }
  });
});

describe('start-up configuration', () => {
  it.each([
    ['PORT', 'not-a-port'],
    ['DATABASE_URL', 'postgres://localhost/hdms'],
    ['LOG_LEVEL', 'chatty'],
  ])('refuses %s=%s with one line naming the variable', async (name, value) => {
    const child = spawn(process.execPath, SERVER_ARGS, {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', [name]: value },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr!.on('data', (chunk) => {
      err += chunk;
    });
    const [code] = await once(child, 'exit');
    expect(code).toBe(1);
    const lines = err.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^Invalid configuration: ${name} `));
  });

  it('creates the admin from ADMIN_* settings without printing a password', async () => {
    const target = await freshDatabase('sqlite');
    const started = await startProcess({ DATABASE_URL: target.url, ...CHIEF_ENV });
    try {
      expect(started.stdout()).not.toMatch(/password:/);
      const login = await http(started.url, 'POST', '/login', {
        body: { username: 'chief', password: CHIEF_ENV.ADMIN_PASSWORD },
      });
      expect(login.status).toBe(200);
      expect(login.body.user.role).toBe('admin');
    } finally {
      started.child.kill('SIGTERM');
      await once(started.child, 'exit');
      await target.drop();
    }
  });
});
