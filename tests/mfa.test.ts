import type { Role } from '@hdms/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccount, sha256Hex, totpCode } from '../server/src/auth/index';
import { outcome, sessionOf } from './helpers/callers';
import { auditSince, lastAuditId } from './helpers/clinical';
import { runToExit } from './helpers/serverProcess';
import { TEST_DB_KIND } from './helpers/db';
import { adminToken, http, startTestServer, type TestServer, trpcClient } from './helpers/server';

/*
 * Multi-factor sign-in (TOTP), through real servers on this project's database (SQLite, and MySQL
 * in the mysql project): the MFA rules read a clock the suite sets (`startTestServer`'s `clock`),
 * so codes, drift and challenge expiry are exact.
 */

/** 30-second TOTP steps. */
const STEP_MS = 30_000;

describe(`MFA on ${TEST_DB_KIND}`, () => {
  const kind = TEST_DB_KIND;
  let t: TestServer;
  /** The MFA clock: starts 10 s into a step, moves only when a test moves it. */
  let now = Date.UTC(2030, 0, 7, 9, 0, 0) + 10_000;
  let counter = 0;

  beforeAll(async () => {
    t = await startTestServer({}, { kind, clock: () => now });
  });
  afterAll(() => t?.close());

  /** The current TOTP step of the suite's clock. */
  const step = () => Math.floor(now / STEP_MS);
  /** Moves the clock on by whole steps (and so past any code used so far). */
  const advance = (steps: number) => {
    now += steps * STEP_MS;
  };
  /** The code an authenticator app shows during step `at`. */
  const codeAt = (secret: string, at: number) => totpCode(secret, at * STEP_MS + 1_000);

  /** A fresh account of `role`, signed in (a session without MFA). */
  async function account(role: Role = 'patient') {
    const username = `mfa_${kind}_${++counter}`;
    const password = `lantern-${counter}-harbour-${kind}`;
    const user = await createAccount(t.db, { username, email: `${username}@example.org`, password, role });
    const session = sessionOf(await trpcClient(t.url).auth.login.mutate({ username, password }));
    return {
      id: user.id,
      username,
      password,
      token: session.token,
      client: trpcClient(t.url, session.token),
    };
  }
  type Account = Awaited<ReturnType<typeof account>>;

  /** Turns MFA on for `a` through the API: the secret and the recovery codes. */
  async function turnOn(a: Account) {
    const { secret } = await a.client.auth.mfa.enroll.mutate({ password: a.password });
    const { recoveryCodes } = await a.client.auth.mfa.confirm.mutate({ code: codeAt(secret, step()) });
    advance(1);
    return { secret, recoveryCodes };
  }

  /** `auth.login` for an account with MFA: its challenge. */
  async function challengeOf(a: Pick<Account, 'username' | 'password'>) {
    const answer = await trpcClient(t.url).auth.login.mutate({ username: a.username, password: a.password });
    if (!answer.mfaRequired) throw new Error(`${a.username} was expected to need MFA`);
    expect(answer.expiresAt.getTime()).toBe(now + 5 * 60_000);
    return answer.challenge;
  }

  /** The code of one `auth.loginMfa` call. */
  const loginMfa = async (challenge: string, code: string) =>
    outcome(trpcClient(t.url).auth.loginMfa.mutate({ challenge, code }));

  const sessionsOf = (userId: number) => t.db.models.Session.count({ where: { userId } });
  const factorOf = async (userId: number) =>
    (await t.db.models.MfaFactor.findByPk(userId))?.get({ plain: true }) ?? null;
  /** An account's sign-in, as `auth.login` takes it. */
  const credentials = (a: Pick<Account, 'username' | 'password'>) => ({
    username: a.username,
    password: a.password,
  });

  it('enroll answers a secret, its otpauth URI and a QR code (SVG); nothing changes until confirm', async () => {
    const a = await account();
    const since = await lastAuditId(t);
    const enrolled = await a.client.auth.mfa.enroll.mutate({ password: a.password });
    expect(enrolled.secret).toMatch(/^[A-Z2-7]{32}$/);
    const uri = new URL(enrolled.otpauthUri);
    expect(`${uri.protocol}//${uri.host}${decodeURIComponent(uri.pathname)}`).toBe(
      `otpauth://totp/HDMS:${a.username}`,
    );
    expect(Object.fromEntries(uri.searchParams)).toEqual({
      issuer: 'HDMS',
      secret: enrolled.secret,
      algorithm: 'SHA1',
      digits: '6',
      period: '30',
    });
    expect(enrolled.qrSvg).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"[\s\S]*<\/svg>\s*$/);

    expect(await a.client.auth.me.query()).toMatchObject({ mfaEnabled: false, mfaRequired: false });
    expect(sessionOf(await trpcClient(t.url).auth.login.mutate(credentials(a))).token).toMatch(
      /^[0-9a-f]{64}$/,
    );
    expect(await factorOf(a.id)).toMatchObject({ secret: enrolled.secret, enabledAt: null });
    expect((await auditSince(t, since)).map((r) => [r.procedure, r.action, r.targetId])).toEqual([
      ['auth.mfa.enroll', 'create', a.id],
    ]);
  });

  it('enroll needs the current password, checked within the sign-in throttle', async () => {
    const a = await account();
    const codes: string[] = [];
    for (let i = 0; i < 6; i++) {
      codes.push((await outcome(a.client.auth.mfa.enroll.mutate({ password: `guess-${i}-password` }))).code);
    }
    expect(codes).toEqual([...Array(5).fill('BAD_REQUEST'), 'TOO_MANY_REQUESTS']);
    const wrong = await outcome(a.client.auth.mfa.enroll.mutate({ password: 'guess-again-password' }));
    expect(wrong.code).toBe('TOO_MANY_REQUESTS');
    // Even the right password now waits: the guesses count as failed sign-ins of the account.
    expect((await outcome(a.client.auth.mfa.enroll.mutate({ password: a.password }))).code).toBe(
      'TOO_MANY_REQUESTS',
    );
    expect(await factorOf(a.id)).toBeNull();

    const b = await account();
    const bad = await outcome(b.client.auth.mfa.enroll.mutate({ password: 'not-the-password' }));
    expect(bad).toMatchObject({ code: 'BAD_REQUEST', issues: [{ path: ['password'] }] });
  });

  it('enroll is refused while MFA is on (a stolen session cannot replace the device)', async () => {
    const a = await account();
    const { secret } = await turnOn(a);
    const again = await outcome(a.client.auth.mfa.enroll.mutate({ password: a.password }));
    expect(again.code).toBe('CONFLICT');
    expect(again.message).toMatch(/MFA is already on/);
    expect(await factorOf(a.id)).toMatchObject({ secret, enabledAt: expect.any(Date) });
  });

  it('confirm turns MFA on with the current code, answers ten recovery codes stored hashed, and ends the other sessions', async () => {
    const a = await account();
    const other = sessionOf(await trpcClient(t.url).auth.login.mutate(credentials(a))).token;
    const { secret } = await a.client.auth.mfa.enroll.mutate({ password: a.password });

    const wrong = await outcome(a.client.auth.mfa.confirm.mutate({ code: codeAt(secret, step() + 2) }));
    expect(wrong).toMatchObject({ code: 'BAD_REQUEST', issues: [{ path: ['code'] }] });
    expect((await outcome(a.client.auth.mfa.confirm.mutate({ code: '12345' }))).code).toBe('BAD_REQUEST');
    expect(await factorOf(a.id)).toMatchObject({ enabledAt: null });
    expect(await sessionsOf(a.id)).toBe(2);

    const since = await lastAuditId(t);
    const { recoveryCodes } = await a.client.auth.mfa.confirm.mutate({ code: codeAt(secret, step()) });
    expect(recoveryCodes).toHaveLength(10);
    expect(new Set(recoveryCodes).size).toBe(10);
    for (const code of recoveryCodes) expect(code).toMatch(/^[a-z2-9]{4}(-[a-z2-9]{4}){3}$/);
    const stored = await t.db.models.MfaRecoveryCode.findAll({ where: { userId: a.id }, raw: true });
    expect(stored).toHaveLength(10);
    const text = JSON.stringify(stored);
    for (const code of recoveryCodes) {
      expect(text).not.toContain(code);
      expect(text).not.toContain(code.replaceAll('-', ''));
    }
    expect(await factorOf(a.id)).toMatchObject({ enabledAt: expect.any(Date), lastStep: step() });

    expect(await a.client.auth.me.query()).toMatchObject({ mfaEnabled: true });
    expect((await outcome(trpcClient(t.url, other).auth.me.query())).code).toBe('UNAUTHORIZED');
    expect(await sessionsOf(a.id)).toBe(1);
    expect((await auditSince(t, since)).map((r) => [r.procedure, r.action, r.actorId, r.targetId])).toEqual([
      ['auth.mfa.confirm', 'update', a.id, a.id],
    ]);
    // Confirming twice is refused.
    advance(1);
    expect((await outcome(a.client.auth.mfa.confirm.mutate({ code: codeAt(secret, step()) }))).code).toBe(
      'CONFLICT',
    );
  });

  it('login answers a challenge; loginMfa with the current code answers a session as login does (tRPC and REST)', async () => {
    const a = await account();
    const { secret } = await turnOn(a);
    const challenge = await challengeOf(a);
    expect(challenge).toMatch(/^[0-9a-f]{64}$/);
    expect(await sessionsOf(a.id)).toBe(1);

    const session = await trpcClient(t.url).auth.loginMfa.mutate({ challenge, code: codeAt(secret, step()) });
    expect(session).toMatchObject({
      mfaRequired: false,
      token: expect.stringMatching(/^[0-9a-f]{64}$/),
      expiresAt: expect.any(Date),
      user: { id: a.id, username: a.username, role: 'patient', mfaEnabled: true },
    });
    expect((await trpcClient(t.url, session.token).auth.me.query()).id).toBe(a.id);

    advance(1);
    const first = await http(t.url, 'POST', '/login', {
      body: { username: a.username, password: a.password },
    });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      mfa_required: true,
      challenge: expect.any(String),
      expires_at: expect.any(String),
    });
    expect(first.headers.get('set-cookie')).toBeNull();
    const second = await http(t.url, 'POST', '/login/mfa', {
      body: { challenge: first.body.challenge, code: codeAt(secret, step()) },
    });
    expect(second.status).toBe(200);
    expect(second.body).toEqual({
      token: expect.stringMatching(/^[0-9a-f]{64}$/),
      expires_at: expect.any(String),
      user: {
        id: a.id,
        username: a.username,
        email: `${a.username}@example.org`,
        role: 'patient',
        doctor_id: null,
        patient_id: null,
      },
    });
    expect(second.headers.get('set-cookie')).toMatch(/^hdms_session=[0-9a-f]{64};.*HttpOnly/);
    expect((await http(t.url, 'GET', '/doctors', { token: second.body.token })).status).toBe(200);
  });

  it('accepts a code one step of clock drift either side, and refuses two', async () => {
    const a = await account();
    const { secret } = await turnOn(a);
    advance(2);
    expect((await loginMfa(await challengeOf(a), codeAt(secret, step() - 1))).code).toBe('OK');
    advance(2);
    expect((await loginMfa(await challengeOf(a), codeAt(secret, step() + 1))).code).toBe('OK');
    advance(4);
    const challenge = await challengeOf(a);
    expect(await loginMfa(challenge, codeAt(secret, step() - 2))).toMatchObject({
      code: 'UNAUTHORIZED',
      message: 'Invalid code',
    });
    expect((await loginMfa(challenge, codeAt(secret, step() + 2))).code).toBe('UNAUTHORIZED');
    expect((await loginMfa(challenge, codeAt(secret, step()))).code).toBe('OK');
  });

  it('accepts a code once: the same code, or one of an earlier step, is refused as a replay', async () => {
    const a = await account();
    const { secret } = await turnOn(a);
    const code = codeAt(secret, step());
    expect((await loginMfa(await challengeOf(a), code)).code).toBe('OK');
    expect((await factorOf(a.id))?.lastStep).toBe(step());
    const replay = await challengeOf(a);
    expect((await loginMfa(replay, code)).code).toBe('UNAUTHORIZED');
    expect((await loginMfa(replay, codeAt(secret, step() - 1))).code).toBe('UNAUTHORIZED');
    // Two sign-ins racing with one code: exactly one gets a session.
    advance(1);
    const fresh = codeAt(secret, step());
    const [c1, c2] = [await challengeOf(a), await challengeOf(a)];
    const raced = await Promise.all([loginMfa(c1, fresh), loginMfa(c2, fresh)]);
    expect(raced.map((r) => r.code).sort()).toEqual(['OK', 'UNAUTHORIZED']);
  });

  it('a recovery code signs in once (in any letter case, with or without dashes); each use is audited', async () => {
    const a = await account();
    const { recoveryCodes } = await turnOn(a);
    const since = await lastAuditId(t);
    expect((await loginMfa(await challengeOf(a), recoveryCodes[0]!)).code).toBe('OK');
    expect((await loginMfa(await challengeOf(a), recoveryCodes[0]!)).code).toBe('UNAUTHORIZED');
    expect(
      (await loginMfa(await challengeOf(a), recoveryCodes[1]!.toUpperCase().replaceAll('-', ''))).code,
    ).toBe('OK');
    expect(await t.db.models.MfaRecoveryCode.count({ where: { userId: a.id, usedAt: null } })).toBe(8);
    const rows = await auditSince(t, since);
    expect(rows.map((r) => [r.procedure, r.action, r.actorType, r.actorId, r.targetId])).toEqual([
      ['auth.loginMfa:recovery-code', 'update', 'user', a.id, a.id],
      ['auth.loginMfa:recovery-code', 'update', 'user', a.id, a.id],
    ]);
  });

  it('codes are sign-in attempts: guessing is throttled with the password, and a refusal writes nothing', async () => {
    const a = await account();
    const { secret } = await turnOn(a);
    const challenge = await challengeOf(a);
    const guesses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await http(t.url, 'POST', '/login/mfa', {
        body: { challenge, code: String(100_000 + i) },
      });
      guesses.push(res.status);
      if (res.status === 429) expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    expect(guesses).toEqual([401, 401, 401, 401, 401, 429]);
    // The right code waits too, and so does the password: one throttle for the account.
    const right = await http(t.url, 'POST', '/login/mfa', {
      body: { challenge, code: codeAt(secret, step()) },
    });
    expect(right.status).toBe(429);
    expect(right.body.error).toMatch(/^Too many failed sign-in attempts/);
    const password = await http(t.url, 'POST', '/login', {
      body: { username: a.username, password: a.password },
    });
    expect(password.status).toBe(429);
    expect(await sessionsOf(a.id)).toBe(1);
    expect((await factorOf(a.id))?.lastStep).toBe(step() - 1);
  });

  it('a challenge lasts five minutes, is used once, is stored hashed, and is bound to its account', async () => {
    const a = await account();
    const b = await account();
    const { secret } = await turnOn(a);
    const { secret: secretB } = await turnOn(b);

    const challenge = await challengeOf(a);
    const row = await t.db.models.MfaChallenge.findOne({ where: { userId: a.id }, raw: true });
    expect(row!.id).toBe(sha256Hex(challenge));
    expect(JSON.stringify(row)).not.toContain(challenge);
    // Bound to A: B's current code is a wrong code for A's challenge.
    expect(await loginMfa(challenge, codeAt(secretB, step()))).toMatchObject({
      code: 'UNAUTHORIZED',
      message: 'Invalid code',
    });

    now += 5 * 60_000;
    const expired = await loginMfa(challenge, codeAt(secret, step()));
    expect(expired.code).toBe('UNAUTHORIZED');
    expect(expired.message).toMatch(/expired or was already completed; sign in with your password again/);

    const fresh = await challengeOf(a);
    expect((await loginMfa(fresh, codeAt(secret, step()))).code).toBe('OK');
    advance(1);
    const reused = await loginMfa(fresh, codeAt(secret, step()));
    expect(reused.message).toMatch(/expired or was already completed/);
    expect(await t.db.models.MfaChallenge.count({ where: { id: sha256Hex(fresh) } })).toBe(0);

    // Malformed input is a 400 naming the field; an unknown challenge a 401.
    const noCode = await http(t.url, 'POST', '/login/mfa', { body: { challenge: fresh } });
    expect(noCode.status).toBe(400);
    expect(noCode.body.issues).toEqual([{ path: 'code', message: expect.any(String) }]);
    const badChallenge = await http(t.url, 'POST', '/login/mfa', {
      body: { challenge: 'x', code: '123456' },
    });
    expect(badChallenge.status).toBe(400);
    expect(badChallenge.body.issues[0].path).toBe('challenge');
    const unknown = await http(t.url, 'POST', '/login/mfa', {
      body: { challenge: 'ab'.repeat(32), code: '123456' },
    });
    expect(unknown.status).toBe(401);
  });

  it('disable turns MFA off with a code, deletes the secret and recovery codes, and ends the other sessions', async () => {
    const a = await account();
    const { secret } = await turnOn(a);
    const other = sessionOf(
      await trpcClient(t.url).auth.loginMfa.mutate({
        challenge: await challengeOf(a),
        code: codeAt(secret, step()),
      }),
    ).token;
    advance(1);
    const wrong = await outcome(a.client.auth.mfa.disable.mutate({ code: codeAt(secret, step() + 3) }));
    expect(wrong).toMatchObject({ code: 'BAD_REQUEST', issues: [{ path: ['code'] }] });
    expect(await factorOf(a.id)).toMatchObject({ enabledAt: expect.any(Date) });

    const since = await lastAuditId(t);
    expect(await a.client.auth.mfa.disable.mutate({ code: codeAt(secret, step()) })).toEqual({
      mfaEnabled: false,
    });
    expect(await factorOf(a.id)).toBeNull();
    expect(await t.db.models.MfaRecoveryCode.count({ where: { userId: a.id } })).toBe(0);
    expect((await outcome(trpcClient(t.url, other).auth.me.query())).code).toBe('UNAUTHORIZED');
    expect(await a.client.auth.me.query()).toMatchObject({ mfaEnabled: false });
    expect(sessionOf(await trpcClient(t.url).auth.login.mutate(credentials(a))).user.id).toBe(a.id);
    expect((await auditSince(t, since)).map((r) => [r.procedure, r.action, r.targetId])).toEqual([
      ['auth.mfa.disable', 'update', a.id],
    ]);
    expect((await outcome(a.client.auth.mfa.disable.mutate({ code: '123456' }))).code).toBe('BAD_REQUEST');
  });

  it('users.resetMfa (admin) turns an account’s MFA off and ends its sessions; audited; others are refused', async () => {
    const a = await account('doctor');
    await turnOn(a);
    const other = await account();
    const refused = await outcome(other.client.users.resetMfa.mutate({ userId: a.id }));
    expect(refused.code).toBe('FORBIDDEN');
    expect(await factorOf(a.id)).not.toBeNull();

    const admin = trpcClient(t.url, await adminToken(t));
    const since = await lastAuditId(t);
    const view = await admin.users.resetMfa.mutate({ userId: a.id });
    expect(view).toMatchObject({ id: a.id, mfaEnabled: false });
    expect(await factorOf(a.id)).toBeNull();
    expect(await sessionsOf(a.id)).toBe(0);
    expect((await outcome(a.client.auth.me.query())).code).toBe('UNAUTHORIZED');
    expect(sessionOf(await trpcClient(t.url).auth.login.mutate(credentials(a))).user.mfaEnabled).toBe(false);
    const rows = await auditSince(t, since);
    expect(rows.map((r) => [r.procedure, r.action, r.actorName, r.targetId])).toEqual([
      ['users.resetMfa', 'update', 'admin', a.id],
    ]);
    expect((await outcome(admin.users.resetMfa.mutate({ userId: 2_000_000 }))).code).toBe('NOT_FOUND');
    expect((await admin.users.list.query({ search: a.username })).items[0]).toMatchObject({
      mfaEnabled: false,
    });
  });

  it('the reset-mfa command turns an account’s MFA off while the server runs; audited as a command', async () => {
    const a = await account();
    await turnOn(a);
    const since = await lastAuditId(t);
    const run = await runToExit(['--import', 'tsx', 'server/src/admin.ts', 'reset-mfa', a.username], {
      DATABASE_URL: t.target.url,
    });
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    expect(run.out).toContain(`MFA of "${a.username}" was turned off`);
    expect(await factorOf(a.id)).toBeNull();
    expect(await sessionsOf(a.id)).toBe(0);
    expect((await outcome(a.client.auth.me.query())).code).toBe('UNAUTHORIZED');
    const rows = await auditSince(t, since);
    expect(rows.map((r) => [r.actorType, r.actorRole, r.procedure, r.action, r.targetId])).toEqual([
      ['command', 'operator', 'admin reset-mfa', 'update', a.id],
    ]);

    const unknown = await runToExit(['--import', 'tsx', 'server/src/admin.ts', 'reset-mfa', 'nobody_here'], {
      DATABASE_URL: t.target.url,
    });
    expect(unknown.code).toBe(1);
    expect(unknown.err.trim()).toBe('No account "nobody_here" exists: nothing was changed.');
  }, 60_000);

  describe('MFA_REQUIRED_ROLES', () => {
    let strict: TestServer;
    beforeAll(async () => {
      // A second instance on the same database, as after a restart with the setting.
      strict = await startTestServer(
        { MFA_REQUIRED_ROLES: 'doctor' },
        { target: t.target, clock: () => now },
      );
    });
    afterAll(() => strict?.close());

    it('holds an account of such a role to enrolling, from the next request of a session already open', async () => {
      const doctor = await account('doctor');
      const patient = await account('patient');
      // Opened before the rule applied; it is held to it at its next request.
      const client = trpcClient(strict.url, doctor.token);
      const refused = await outcome(client.doctors.list.query({}));
      expect(refused.code).toBe('FORBIDDEN');
      expect(refused.message).toMatch(/^MFA enrollment is required for doctor accounts/);
      const rest = await http(strict.url, 'GET', '/doctors', { token: doctor.token });
      expect(rest.status).toBe(403);
      expect(rest.body).toEqual({ error: expect.stringMatching(/^MFA enrollment is required/) });
      expect(
        (
          await outcome(
            client.auth.changePassword.mutate({
              currentPassword: doctor.password,
              newPassword: 'another-long-passphrase',
            }),
          )
        ).code,
      ).toBe('FORBIDDEN');
      expect(await client.auth.me.query()).toMatchObject({
        id: doctor.id,
        mfaEnabled: false,
        mfaRequired: true,
      });
      expect((await trpcClient(strict.url, patient.token).doctors.list.query({})).items).toBeDefined();

      // A new sign-in is a normal session, held to the same rule.
      const fresh = sessionOf(await trpcClient(strict.url).auth.login.mutate(credentials(doctor)));
      expect((await outcome(trpcClient(strict.url, fresh.token).patients.list.query({}))).code).toBe(
        'FORBIDDEN',
      );

      // Enrolling is open to it; once on, everything its role may do is.
      const { secret } = await client.auth.mfa.enroll.mutate({ password: doctor.password });
      await client.auth.mfa.confirm.mutate({ code: codeAt(secret, step()) });
      advance(1);
      expect((await client.doctors.list.query({})).items).toBeDefined();
      expect((await http(strict.url, 'GET', '/doctors', { token: doctor.token })).status).toBe(200);
      expect(await client.auth.me.query()).toMatchObject({ mfaEnabled: true, mfaRequired: true });

      // Logout stays open to a held account.
      const held = await account('doctor');
      expect((await outcome(trpcClient(strict.url, held.token).auth.logout.mutate())).code).toBe('OK');
    });
  });
});
