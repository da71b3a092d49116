import { createDatabase } from '@hdms/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccount } from '../server/src/auth/index';
import { generatePassword } from '../server/src/auth/bootstrap';
import { commonPasswordCount, passwordProblem } from '../server/src/domain/users/passwordPolicy';
import { outcome, sessionOf } from './helpers/callers';
import { freshDatabase, TEST_DB_KIND } from './helpers/db';
import { http, startTestServer, type TestServer, trpcClient } from './helpers/server';

/*
 * The password policy (NIST SP 800-63B): a common password, or one holding the username or the
 * email's local part, is refused with the reason, on every way a password is chosen; a refusal
 * writes nothing.
 */

describe(`password policy on ${TEST_DB_KIND}`, () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(() => t?.close());

  const users = () => t.db.models.User.count();

  it('ships a list of at least 10,000 common passwords, compared ignoring letter case', () => {
    expect(commonPasswordCount()).toBeGreaterThanOrEqual(10_000);
    for (const common of ['password', 'password123', 'PassWord123', 'qwertyuiop', 'iloveyou', '12345678']) {
      expect(passwordProblem(common)?.rule, common).toBe('common');
    }
    expect(passwordProblem('correct horse battery staple')).toBeNull();
  });

  it.each([
    [
      'a common password',
      { username: 'ward_clerk', email: 'clerk@example.org', password: 'password123' },
      /common/,
    ],
    [
      'a common password in other letters',
      { username: 'ward_clerk', email: 'clerk@example.org', password: 'Sunshine1' },
      /common/,
    ],
    [
      'the username inside',
      { username: 'Ratched', email: 'nurse@example.org', password: 'big-RATCHED-2024' },
      /must not contain the username/,
    ],
    [
      'the email before the @',
      { username: 'fnightingale', email: 'Florence@example.org', password: 'lamp-florence-1854' },
      /before the @/,
    ],
  ])(
    'register refuses %s, with the reason on the password (REST 400 and tRPC), writing nothing',
    async (_, body, reason) => {
      const before = await users();
      const rest = await http(t.url, 'POST', '/register', { body: { ...body, role: 'patient' } });
      expect(rest.status).toBe(400);
      expect(rest.body.issues).toEqual([{ path: 'password', message: expect.stringMatching(reason) }]);
      expect(rest.body.error).toMatch(/^Invalid input: password: /);
      const trpc = await outcome(trpcClient(t.url).auth.register.mutate({ ...body, role: 'doctor' }));
      expect(trpc).toMatchObject({ code: 'BAD_REQUEST', issues: [{ path: ['password'] }] });
      expect(trpc.issues[0]!.message).toMatch(reason);
      expect(await users()).toBe(before);
    },
  );

  it('accepts a password holding a name part shorter than four characters, and any uncommon password', async () => {
    const rest = await http(t.url, 'POST', '/register', {
      body: { username: 'bob', email: 'bob@example.org', password: 'bob-builds-bridges-9', role: 'patient' },
    });
    expect(rest.status).toBe(201);
    const ok = await http(t.url, 'POST', '/login', {
      body: { username: 'bob', password: 'bob-builds-bridges-9' },
    });
    expect(ok.status).toBe(200);
  });

  it('a too-short password gets one issue, its length', async () => {
    const rest = await http(t.url, 'POST', '/register', {
      body: { username: 'shorty2', email: 'shorty2@example.org', password: 'abc', role: 'patient' },
    });
    expect(rest.status).toBe(400);
    expect(rest.body.issues).toEqual([{ path: 'password', message: 'must be at least 8 characters' }]);
  });

  it('changePassword refuses a common new password or one holding the username or email, without counting a failed sign-in', async () => {
    const password = 'quiet-meadow-stream-4';
    await createAccount(t.db, {
      username: 'changer2',
      email: 'm.curie@example.org',
      password,
      role: 'doctor',
    });
    const token = sessionOf(
      await trpcClient(t.url).auth.login.mutate({ username: 'changer2', password }),
    ).token;
    const client = trpcClient(t.url, token);
    const refusals = [
      ['letmein123', /common/],
      ['new-CHANGER2-secret', /must not contain the username/],
      ['m.curie-radium-88', /before the @/],
    ] as const;
    // More refusals than the throttle's free failures: a policy refusal is not a guess.
    for (let round = 0; round < 3; round++) {
      for (const [newPassword, reason] of refusals) {
        const refused = await outcome(
          client.auth.changePassword.mutate({ currentPassword: password, newPassword }),
        );
        expect(refused.code).toBe('BAD_REQUEST');
        expect(refused.issues).toEqual([{ path: ['newPassword'], message: expect.stringMatching(reason) }]);
      }
    }
    const rest = await http(t.url, 'POST', '/trpc/auth.changePassword', {
      token,
      body: { json: { currentPassword: password, newPassword: 'password1' } },
    });
    expect(rest.status).toBe(400);
    expect((await trpcClient(t.url, token).auth.me.query()).username).toBe('changer2');
    const changed = await client.auth.changePassword.mutate({
      currentPassword: password,
      newPassword: 'amber-lighthouse-keeper-2',
    });
    expect(changed.token).toMatch(/^[0-9a-f]{64}$/);
  });

  it('generated passwords (the first admin, admin reset-password) always pass the policy', () => {
    for (let i = 0; i < 200; i++) {
      const password = generatePassword({ username: 'admin', email: 'admin@hdms.local' });
      expect(passwordProblem(password, { username: 'admin', email: 'admin@hdms.local' })).toBeNull();
    }
  });
});

describe(`ADMIN_PASSWORD and the password policy on ${TEST_DB_KIND}`, () => {
  it.each([
    ['is a common password', { ADMIN_PASSWORD: 'password123' }, /ADMIN_PASSWORD is too common/],
    [
      'contains ADMIN_USERNAME',
      { ADMIN_USERNAME: 'chief', ADMIN_PASSWORD: 'the-CHIEF-of-staff' },
      /ADMIN_PASSWORD must not contain the admin's username \(ADMIN_USERNAME\)/,
    ],
    [
      'contains the local part of ADMIN_EMAIL',
      {
        ADMIN_USERNAME: 'chief',
        ADMIN_EMAIL: 'head.of.ward@example.org',
        ADMIN_PASSWORD: 'i-am-head.of.ward',
      },
      /ADMIN_PASSWORD must not contain the part of the admin's email before the @ \(ADMIN_EMAIL\)/,
    ],
  ])(
    'stops the start when it %s, naming the variable and the rule, creating nothing',
    async (_, env, message) => {
      const target = await freshDatabase();
      try {
        const start = startTestServer(
          { ADMIN_USERNAME: 'admin', ADMIN_EMAIL: 'admin@example.org', ...env },
          { target },
        );
        await expect(start).rejects.toThrow(message);
        await expect(start).rejects.toThrow(
          /^Invalid configuration: ADMIN_PASSWORD .*value not shown: it is a secret/,
        );
        await start.catch((error: Error) => expect(error.message).not.toContain(env.ADMIN_PASSWORD));
        const db = await createDatabase(target.url);
        try {
          expect(await db.models.User.count()).toBe(0);
        } finally {
          await db.close();
        }
      } finally {
        await target.drop();
      }
    },
  );

  it('leaves an existing admin alone: ADMIN_PASSWORD only creates an account', async () => {
    const target = await freshDatabase();
    try {
      const first = await startTestServer({}, { target });
      await first.close();
      const again = await startTestServer({ ADMIN_PASSWORD: 'password123' }, { target });
      expect(again.server.bootstrap).toMatchObject({ kind: 'kept', username: 'admin' });
      await again.close();
    } finally {
      await target.drop();
    }
  });
});
