import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createAccount, sha256Hex, verifyPassword } from '../server/src/auth/index';
import { outcome, sessionOf } from './helpers/callers';
import { ADMIN, http, startTestServer, type TestServer, trpcClient } from './helpers/server';

/** The account every test of the first suite may sign in to (none changes it). */
const REGISTER = {
  username: 'nurse.joy',
  email: 'joy@example.org',
  password: 'pokemon-center',
  role: 'doctor' as const,
};

/** Sign-in, sessions and cookies: over real HTTP, since the wire (cookies, statuses) is the subject. */
describe('sign-in over REST and tRPC', () => {
  let t: TestServer;
  let seq = 0;
  beforeAll(async () => {
    t = await startTestServer();
    await createAccount(t.db, REGISTER);
  });
  afterAll(async () => {
    await t?.close();
  });

  const userCount = () => t.db.models.User.count();

  /** Registers a fresh account of a test's own over REST; returns its name and password. */
  async function ownAccount(prefix: string): Promise<{ username: string; password: string }> {
    const username = `${prefix}${++seq}`;
    const password = `${prefix}-password-${seq}`;
    const res = await http(t.url, 'POST', '/register', {
      body: { username, email: `${username}@example.org`, password, role: 'patient' },
    });
    expect(res.status).toBe(201);
    return { username, password };
  }

  it('registers, signs in and answers auth.me over REST and tRPC', async () => {
    const account = { username: 'nurse.jenny', email: 'jenny@example.org', password: 'pokemon-center-2' };
    const reg = await http(t.url, 'POST', '/register', { body: { ...account, role: 'doctor' } });
    expect(reg.status).toBe(201);
    expect(reg.body).toEqual({
      id: expect.any(Number),
      username: 'nurse.jenny',
      email: 'jenny@example.org',
      role: 'doctor',
    });

    const login = await http(t.url, 'POST', '/login', {
      body: { username: 'nurse.jenny', password: account.password },
    });
    expect(login.status).toBe(200);
    expect(login.body).toEqual({
      token: expect.stringMatching(/^[0-9a-f]{64}$/),
      expires_at: expect.any(String),
      user: {
        id: reg.body.id,
        username: 'nurse.jenny',
        email: 'jenny@example.org',
        role: 'doctor',
        doctor_id: null,
        patient_id: null,
      },
    });
    const expiresIn = Date.parse(login.body.expires_at) - Date.now();
    expect(expiresIn).toBeGreaterThan(29 * 60_000);
    expect(expiresIn).toBeLessThanOrEqual(30 * 60_000);

    const me = await trpcClient(t.url, login.body.token).auth.me.query();
    expect(me).toMatchObject({ id: reg.body.id, username: 'nurse.jenny', role: 'doctor', doctorId: null });
    expect(me.createdAt).toBeInstanceOf(Date);
    expect(me).not.toHaveProperty('passwordHash');
  });

  it('signs in over tRPC with the email in any letter case, returning a Date expiry', async () => {
    const result = sessionOf(
      await trpcClient(t.url).auth.login.mutate({
        username: 'JOY@example.org',
        password: REGISTER.password,
      }),
    );
    expect(result.expiresAt).toBeInstanceOf(Date);
    expect(result.user.username).toBe('nurse.joy');
    expect(await trpcClient(t.url, result.token).auth.me.query()).toMatchObject({ username: 'nurse.joy' });
  });

  it('issues a new token on every login and stores only its SHA-256', async () => {
    const a = await http(t.url, 'POST', '/login', {
      body: { username: 'nurse.joy', password: REGISTER.password },
    });
    const b = await http(t.url, 'POST', '/login', {
      body: { username: 'nurse.joy', password: REGISTER.password },
    });
    expect(a.body.token).not.toBe(b.body.token);
    const ids = (await t.db.models.Session.findAll()).map((s) => s.id);
    expect(ids).not.toContain(a.body.token);
    expect(ids).toContain(sha256Hex(a.body.token));
    expect(ids).toContain(sha256Hex(b.body.token));
  });

  it('sets an HttpOnly SameSite=Lax cookie that authorizes browser calls', async () => {
    const login = await http(t.url, 'POST', '/login', {
      body: { username: 'nurse.joy', password: REGISTER.password },
    });
    const cookie = login.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^hdms_session=[0-9a-f]{64};/);
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Lax/i);
    expect(cookie).toMatch(/Max-Age=43200(;|$)/);
    const pair = cookie.split(';')[0]!;
    const me = await http(t.url, 'GET', '/trpc/auth.me', { headers: { cookie: pair } });
    expect(me.status).toBe(200);
    expect(me.body.result.data.json.username).toBe('nurse.joy');
  });

  it('logout ends that session only', async () => {
    const a = await http(t.url, 'POST', '/login', {
      body: { username: 'nurse.joy', password: REGISTER.password },
    });
    const b = await http(t.url, 'POST', '/login', {
      body: { username: 'nurse.joy', password: REGISTER.password },
    });
    const out = await http(t.url, 'POST', '/logout', { token: a.body.token });
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toMatch(/hdms_session=;/);
    expect((await outcome(trpcClient(t.url, a.body.token).auth.me.query())).code).toBe('UNAUTHORIZED');
    expect((await outcome(trpcClient(t.url, b.body.token).auth.me.query())).code).toBe('OK');
    expect((await http(t.url, 'POST', '/logout', { token: a.body.token })).status).toBe(401);
    expect((await outcome(trpcClient(t.url, b.body.token).auth.logout.mutate())).code).toBe('OK');
    expect((await outcome(trpcClient(t.url, b.body.token).auth.me.query())).code).toBe('UNAUTHORIZED');
  });

  it('never registers an admin', async () => {
    const before = await userCount();
    const res = await http(t.url, 'POST', '/register', {
      body: { username: 'sneaky', email: 'sneaky@example.org', password: 'password-123', role: 'admin' },
    });
    expect(res.status).toBe(400);
    expect(res.body.issues).toEqual([{ path: 'role', message: 'must be doctor or patient' }]);
    expect(
      (
        await outcome(
          trpcClient(t.url).auth.register.mutate({
            ...REGISTER,
            username: 'x-admin',
            role: 'admin' as never,
          }),
        )
      ).code,
    ).toBe('BAD_REQUEST');
    expect(await userCount()).toBe(before);
  });

  it.each([
    ['a missing field', { username: 'newbie', email: 'newbie@example.org', role: 'patient' }, 'password'],
    ['a short username', { ...REGISTER, username: 'ab', email: 'ab@example.org' }, 'username'],
    ['a username with spaces', { ...REGISTER, username: 'a b c', email: 'abc@example.org' }, 'username'],
    ['a bad email', { ...REGISTER, username: 'mailer', email: 'not-an-email' }, 'email'],
    [
      'a short password',
      { ...REGISTER, username: 'shorty', email: 'shorty@example.org', password: '1234567' },
      'password',
    ],
    [
      'a long password',
      { ...REGISTER, username: 'longy', email: 'longy@example.org', password: 'x'.repeat(257) },
      'password',
    ],
    [
      'an unknown field',
      { ...REGISTER, username: 'extra', email: 'extra@example.org', isAdmin: true },
      'is_admin',
    ],
    ['a wrong type', { ...REGISTER, username: 42, email: 'typed@example.org' }, 'username'],
  ])('register rejects %s with 400 and writes nothing', async (_name, body, path) => {
    const before = await userCount();
    const res = await http(t.url, 'POST', '/register', { body });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/^Invalid input/);
    expect(res.body.issues.map((i: { path: string }) => i.path)).toContain(path);
    expect(await userCount()).toBe(before);
  });

  it('register answers 409 for a username or email taken in any letter case, writing nothing', async () => {
    const before = await userCount();
    const byName = await http(t.url, 'POST', '/register', {
      body: { ...REGISTER, username: 'NURSE.JOY', email: 'other@example.org' },
    });
    expect(byName.status).toBe(409);
    expect(byName.body).toEqual({ error: 'That username is already taken' });
    const byEmail = await http(t.url, 'POST', '/register', {
      body: { ...REGISTER, username: 'joy2', email: 'Joy@Example.org' },
    });
    expect(byEmail.status).toBe(409);
    expect(byEmail.body).toEqual({ error: 'That email is already registered' });
    expect(
      (await outcome(trpcClient(t.url).auth.register.mutate({ ...REGISTER, username: 'Nurse.Joy' }))).code,
    ).toBe('CONFLICT');
    expect(await userCount()).toBe(before);
  });

  it('answers 415 for a body that is not JSON and 400 for malformed JSON', async () => {
    const before = await userCount();
    const form = await http(t.url, 'POST', '/register', {
      raw: 'username=a&password=b',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(form.status).toBe(415);
    expect(form.body).toEqual({ error: 'Content-Type must be application/json' });
    const broken = await http(t.url, 'POST', '/login', {
      raw: '{"username": ',
      headers: { 'content-type': 'application/json' },
    });
    expect(broken.status).toBe(400);
    expect(broken.body).toEqual({ error: 'Request body is not valid JSON' });
    const empty = await http(t.url, 'POST', '/login', { headers: { 'content-type': 'application/json' } });
    expect(empty.status).toBe(400);
    expect(await userCount()).toBe(before);
  });

  it('answers 413 for a body over the limit, on REST and tRPC', async () => {
    const big = { ...REGISTER, username: 'big', padding: 'x'.repeat(1_100_000) };
    const res = await http(t.url, 'POST', '/register', { body: big });
    expect(res.status).toBe(413);
    expect(res.body.error).toMatch(/too large/);
    const trpc = await http(t.url, 'POST', '/trpc/auth.register', { body: { json: big } });
    expect(trpc.status).toBe(413);
  });

  it('answers 401 alike for an unknown user and a wrong password', async () => {
    const unknown = await http(t.url, 'POST', '/login', {
      body: { username: 'ghost', password: 'whatever-123' },
    });
    const wrong = await http(t.url, 'POST', '/login', {
      body: { username: 'nurse.joy', password: 'wrong-password' },
    });
    expect(unknown.status).toBe(401);
    expect(wrong.status).toBe(401);
    expect(unknown.body).toEqual(wrong.body);
    expect(unknown.body).toEqual({ error: 'Invalid username or password' });
    expect(unknown.headers.get('set-cookie')).toBeNull();
  });

  it('answers 401 without a token, with a bad token, and 400 for an empty login', async () => {
    expect((await http(t.url, 'POST', '/logout')).status).toBe(401);
    expect((await http(t.url, 'POST', '/logout', { token: 'f'.repeat(64) })).status).toBe(401);
    expect((await outcome(trpcClient(t.url).auth.me.query())).code).toBe('UNAUTHORIZED');
    const empty = await http(t.url, 'POST', '/login', { body: { username: '', password: '' } });
    expect(empty.status).toBe(400);
    expect(empty.body.issues.map((i: { path: string }) => i.path)).toEqual(['username', 'password']);
  });

  it('throttles repeated failures on an account with 429, even with the right password, until the wait passes', async () => {
    await http(t.url, 'POST', '/register', {
      body: { username: 'target', email: 'target@example.org', password: 'right-password', role: 'patient' },
    });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      statuses.push(
        (await http(t.url, 'POST', '/login', { body: { username: 'target', password: `wrong-${i}-pass` } }))
          .status,
      );
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    const blocked = await http(t.url, 'POST', '/login', {
      body: { username: 'TARGET@example.org', password: 'right-password' },
    });
    expect(blocked.status).toBe(429);
    expect(blocked.body.error).toMatch(
      /^Too many failed sign-in attempts; try again in \d+ (second|minute)s?/,
    );
    expect(blocked.headers.get('set-cookie')).toBeNull();
    const retryAfter = Number(blocked.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(
      (await outcome(trpcClient(t.url).auth.login.mutate({ username: 'target', password: 'right-password' })))
        .code,
    ).toBe('TOO_MANY_REQUESTS');
    // Once the wait has passed on the server's clock (this process's), the account signs in again.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() + (retryAfter + 1) * 1000);
      const later = await http(t.url, 'POST', '/login', {
        body: { username: 'target', password: 'right-password' },
      });
      expect(later.status).toBe(200);
    } finally {
      vi.useRealTimers();
    }
  });

  it('ends a session after the idle timeout and after the absolute lifetime', async () => {
    const idle = await http(t.url, 'POST', '/login', {
      body: { username: 'nurse.joy', password: REGISTER.password },
    });
    await t.db.models.Session.update(
      { expiresAt: new Date(Date.now() - 1000) },
      { where: { id: sha256Hex(idle.body.token) } },
    );
    expect((await outcome(trpcClient(t.url, idle.body.token).auth.me.query())).code).toBe('UNAUTHORIZED');
    expect(await t.db.models.Session.findByPk(sha256Hex(idle.body.token))).toBeNull();

    const old = await http(t.url, 'POST', '/login', {
      body: { username: 'nurse.joy', password: REGISTER.password },
    });
    await t.db.models.Session.update(
      { createdAt: new Date(Date.now() - 12 * 3_600_000 - 1000) },
      { where: { id: sha256Hex(old.body.token) } },
    );
    expect((await outcome(trpcClient(t.url, old.body.token).auth.me.query())).code).toBe('UNAUTHORIZED');
  });

  it("pushes an active session's idle deadline back on use, at most once a minute", async () => {
    const login = await http(t.url, 'POST', '/login', {
      body: { username: 'nurse.joy', password: REGISTER.password },
    });
    const id = sha256Hex(login.body.token);
    const expiry = async () => (await t.db.models.Session.findByPk(id))!.expiresAt.getTime();

    // Used 5 minutes after its last use: 30 idle minutes from now again.
    await t.db.models.Session.update({ expiresAt: new Date(Date.now() + 25 * 60_000) }, { where: { id } });
    expect((await outcome(trpcClient(t.url, login.body.token).auth.me.query())).code).toBe('OK');
    expect(await expiry()).toBeGreaterThan(Date.now() + 29.9 * 60_000);

    // Used again within the minute: no write.
    const fresh = new Date(Date.now() + 29.5 * 60_000);
    await t.db.models.Session.update({ expiresAt: fresh }, { where: { id } });
    expect((await outcome(trpcClient(t.url, login.body.token).auth.me.query())).code).toBe('OK');
    expect(await expiry()).toBe(fresh.getTime());
  });

  it('ends every session of a disabled account and refuses its sign-in', async () => {
    const account = await ownAccount('disabled');
    const login = await http(t.url, 'POST', '/login', { body: account });
    expect(login.status).toBe(200);
    const user = await t.db.models.User.findOne({ where: { usernameKey: account.username } });
    await user!.update({ disabledAt: new Date() });
    expect((await outcome(trpcClient(t.url, login.body.token).auth.me.query())).code).toBe('UNAUTHORIZED');
    const again = await http(t.url, 'POST', '/login', { body: account });
    expect(again.status).toBe(401);
    expect(again.body).toEqual({ error: 'Invalid username or password' });
  });

  it('changes a password: every session ends, the caller gets a new token, the old password stops working', async () => {
    await http(t.url, 'POST', '/register', {
      body: { username: 'changer', email: 'changer@example.org', password: 'first-password', role: 'doctor' },
    });
    const login = async (password: string) =>
      http(t.url, 'POST', '/login', { body: { username: 'changer', password } });
    const a = (await login('first-password')).body.token;
    const b = (await login('first-password')).body.token;
    const client = trpcClient(t.url, a);

    const wrong = await http(t.url, 'POST', '/trpc/auth.changePassword', {
      token: a,
      body: { json: { currentPassword: 'not-it-at-all', newPassword: 'second-password' } },
    });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.json.message).toBe('The current password is not correct');
    expect(
      (
        await outcome(
          client.auth.changePassword.mutate({
            currentPassword: 'first-password',
            newPassword: 'first-password',
          }),
        )
      ).code,
    ).toBe('BAD_REQUEST');
    expect(
      (
        await outcome(
          client.auth.changePassword.mutate({ currentPassword: 'first-password', newPassword: 'short' }),
        )
      ).code,
    ).toBe('BAD_REQUEST');
    expect((await outcome(trpcClient(t.url, b).auth.me.query())).code).toBe('OK');

    const changed = await client.auth.changePassword.mutate({
      currentPassword: 'first-password',
      newPassword: 'second-password',
    });
    expect(changed.token).toMatch(/^[0-9a-f]{64}$/);
    expect(changed.expiresAt).toBeInstanceOf(Date);
    expect((await outcome(client.auth.me.query())).code).toBe('UNAUTHORIZED');
    expect((await outcome(trpcClient(t.url, b).auth.me.query())).code).toBe('UNAUTHORIZED');
    expect((await outcome(trpcClient(t.url, changed.token).auth.me.query())).code).toBe('OK');
    expect((await login('first-password')).status).toBe(401);
    expect((await login('second-password')).status).toBe(200);
    const audit = await t.db.models.AuditEvent.findOne({ where: { procedure: 'auth.changePassword' } });
    expect(audit).toMatchObject({ actorName: 'changer', action: 'update', patientId: null });
  });

  it('throttles guesses of the current password through a stolen session', async () => {
    await http(t.url, 'POST', '/register', {
      body: {
        username: 'guarded',
        email: 'guarded@example.org',
        password: 'shield-anchor-77',
        role: 'patient',
      },
    });
    const token = (
      await http(t.url, 'POST', '/login', { body: { username: 'guarded', password: 'shield-anchor-77' } })
    ).body.token;
    const client = trpcClient(t.url, token);
    const codes: string[] = [];
    for (let i = 0; i < 6; i++) {
      codes.push(
        (
          await outcome(
            client.auth.changePassword.mutate({
              currentPassword: `guess-${i}-pw`,
              newPassword: 'taken-over-1',
            }),
          )
        ).code,
      );
    }
    expect(codes).toEqual([
      'BAD_REQUEST',
      'BAD_REQUEST',
      'BAD_REQUEST',
      'BAD_REQUEST',
      'BAD_REQUEST',
      'TOO_MANY_REQUESTS',
    ]);
    const user = await t.db.models.User.findOne({ where: { usernameKey: 'guarded' } });
    expect(await verifyPassword(user!.passwordHash, 'shield-anchor-77')).toBe(true);
  });

  it('signs in the bootstrap admin from ADMIN_* settings', async () => {
    const res = await http(t.url, 'POST', '/login', {
      body: { username: ADMIN.username, password: ADMIN.password },
    });
    expect(res.status).toBe(200);
    expect(res.body.user.role).toBe('admin');
    expect(await t.db.models.User.count({ where: { role: 'admin' } })).toBe(1);
  });

  it('answers tRPC validation errors with BAD_REQUEST and zod issues in data.issues', async () => {
    const res = await http(t.url, 'POST', '/trpc/auth.register', {
      body: { json: { username: 'x', email: 'bad', password: 'short', role: 'patient' } },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.json.data.code).toBe('BAD_REQUEST');
    expect(res.body.error.json.data.issues.map((i: { path: string[] }) => i.path[0])).toEqual([
      'username',
      'email',
      'password',
    ]);
    expect(JSON.stringify(res.body)).not.toMatch(/stack|at .*\.ts:\d+/);
  });
});

/**
 * One address trying many accounts, on a server of its own (its address counter starts empty)
 * with a low address cap set through the configuration. The full throttle policy is
 * `security-signin.test.ts`'s subject.
 */
describe('sign-in throttle per address', () => {
  it('throttles one address that tries many accounts', async () => {
    const t = await startTestServer({ LOGIN_ADDRESS_MAX_FAILURES: '20' });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 21; i++) {
        statuses.push(
          (await http(t.url, 'POST', '/login', { body: { username: `nobody${i}`, password: 'wrong-pass' } }))
            .status,
        );
      }
      expect(statuses.slice(0, 20).every((s) => s === 401)).toBe(true);
      expect(statuses[20]).toBe(429);
    } finally {
      await t.close();
    }
  });
});

describe('security headers and health', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    await t.close();
  });

  it('sends security headers, a request id and no-store on every response', async () => {
    for (const [method, path] of [
      ['GET', '/healthz'],
      ['GET', '/doctors'],
      ['POST', '/login'],
      ['GET', '/nowhere'],
    ] as const) {
      const res = await http(t.url, method, path, method === 'POST' ? { body: {} } : {});
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
      expect(res.headers.get('strict-transport-security')).toMatch(/max-age/);
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('answers an unknown path with a JSON 404', async () => {
    const res = await http(t.url, 'GET', '/nowhere');
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ error: expect.stringMatching(/^GET \/nowhere is not an endpoint/) });
  });

  it('answers /healthz 200, then 503 once the database is gone', async () => {
    expect((await http(t.url, 'GET', '/healthz')).body).toEqual({ status: 'ok' });
    await t.db.sequelize.close();
    const down = await http(t.url, 'GET', '/healthz');
    expect(down.status).toBe(503);
    expect(down.body.status).toBe('unavailable');
    const login = await http(t.url, 'POST', '/login', {
      body: { username: 'a-user', password: 'a-password' },
    });
    expect(login.status).toBe(503);
    expect(login.body).toEqual({ error: 'Database unavailable' });
  });
});
