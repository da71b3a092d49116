import { createTRPCClient, httpBatchLink, TRPCClientError } from '@trpc/client';
import { TRPCError } from '@trpc/server';
import superjson from 'superjson';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createAccount,
  hashPassword,
  preparePasswordHashing,
  verifyPassword,
} from '../server/src/auth/index';
import { createContextInner } from '../server/src/context';
import { loadConfig } from '../server/src/env';
import { retryAfterOf } from '../server/src/errors';
import { createLogger } from '../server/src/logger';
import type { AppRouter } from '../server/src/trpc/appRouter';
import { createCaller } from '../server/src/trpc/appRouter';
import { type RunningServer, startServer } from '../server/src/server';
import { sessionOf } from './helpers/callers';
import { TEST_DB_KIND } from './helpers/db';
import { ADMIN, http, startTestServer, type TestServer } from './helpers/server';
import { pause, waitFor } from './helpers/wait';

/** The defaults of LOGIN_PAIR_FREE_FAILURES, LOGIN_PAIR_DELAY_SECONDS and REGISTER_PER_HOUR. */
const FREE = 5;
const DELAY_SECONDS = 10;
const REGISTER_PER_HOUR = 20;

let accounts = 0;

/** A fresh account made directly in the database. */
async function account(
  t: TestServer,
): Promise<{ id: number; username: string; email: string; password: string }> {
  const username = `signin_${++accounts}_${Math.random().toString(36).slice(2, 8)}`;
  const email = `${username}@example.org`;
  const password = `right-${username}`;
  const user = await createAccount(t.db, { username, email, password, role: 'patient' });
  return { id: user.id, username, email, password };
}

/** A tRPC caller for an anonymous client at `ip`, in the server's own process. */
function callerAt(t: TestServer, ip: string) {
  return createCaller(
    createContextInner({ ...t.server.services, actor: null, requestId: `test-${ip}-${Math.random()}`, ip }),
  );
}

/** The tRPC error code of a settled call, or 'OK'. */
function codeOf(result: PromiseSettledResult<unknown>): string {
  if (result.status === 'fulfilled') return 'OK';
  const error = result.reason;
  if (error instanceof TRPCClientError) return String(error.data?.code);
  if (error instanceof TRPCError) return error.code;
  throw error;
}

/** One raw tRPC batch request of `path` with each of `inputs`: the HTTP answer and each call's code. */
async function trpcBatch(url: string, path: string, inputs: unknown[]) {
  const paths = inputs.map(() => path).join(',');
  const body = Object.fromEntries(inputs.map((input, i) => [i, superjson.serialize(input)]));
  const res = await fetch(`${url}/trpc/${paths}?batch=1`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const items = (await res.json()) as (
    | { error: { json: { data: { code: string } } } }
    | { result: unknown }
  )[];
  return {
    status: res.status,
    headers: res.headers,
    codes: items.map((item) => ('error' in item ? item.error.json.data.code : 'OK')),
  };
}

const count = (codes: (string | number)[], code: string | number) => codes.filter((c) => c === code).length;

/** The failures an account's pair with `address` holds in the database. */
async function pairFailures(t: TestServer, userId: number, address = '127.0.0.1'): Promise<number> {
  const row = await t.db.models.ThrottleCounter.findOne({ where: { kind: 'pair', userId, address } });
  return row?.count ?? 0;
}

/** Asserts that a REST answer is a 429 that says how long to wait. */
function expectRetryAfter(res: { status: number; headers: Headers }, atMost?: number): number {
  expect(res.status).toBe(429);
  const header = res.headers.get('retry-after');
  expect(header).toMatch(/^[1-9]\d*$/);
  const seconds = Number(header);
  if (atMost !== undefined) expect(seconds).toBeLessThanOrEqual(atMost);
  return seconds;
}

describe('sign-in throttle', () => {
  let t: TestServer;
  beforeAll(async () => {
    // A generous hashing wait: these tests count registrations, not a busy server's refusals.
    t = await startTestServer({ MAX_BATCH_CALLS: '1000', PASSWORD_HASH_MAX_WAIT_MS: '10000' });
    await preparePasswordHashing(t.server.services.config.passwordHashing);
  });
  afterAll(async () => {
    await t.close();
  });
  // Every test starts with no counted attempts: the address counters are shared by all of them.
  beforeEach(async () => {
    await t.db.models.ThrottleCounter.destroy({ where: {} });
  });

  it('one tRPC batch of 30 wrong passwords then the right one: 5 are checked, the right one gets 429 and no session', async () => {
    const victim = await account(t);
    let requests = 0;
    const client = createTRPCClient<AppRouter>({
      links: [
        httpBatchLink({
          url: `${t.url}/trpc`,
          transformer: superjson,
          fetch: (input, init) => {
            requests++;
            return fetch(input, init);
          },
        }),
      ],
    });
    const passwords = [...Array.from({ length: 30 }, (_, i) => `wrong-guess-${i}`), victim.password];
    const results = await Promise.allSettled(
      passwords.map((password) => client.auth.login.mutate({ username: victim.username, password })),
    );
    const codes = results.map(codeOf);
    expect(requests).toBe(1);
    expect(codes.slice(0, FREE)).toEqual(Array(FREE).fill('UNAUTHORIZED'));
    expect(codes.slice(FREE)).toEqual(Array(31 - FREE).fill('TOO_MANY_REQUESTS'));
    expect(codes[30]).toBe('TOO_MANY_REQUESTS');
    expect(await pairFailures(t, victim.id)).toBe(FREE);
    expect(await t.db.models.Session.count({ where: { userId: victim.id } })).toBe(0);
  });

  it('40 concurrent POST /login (39 wrong, one right) check at most 5 wrong passwords', async () => {
    const victim = await account(t);
    const bodies = [
      ...Array.from({ length: 39 }, (_, i) => ({ username: victim.username, password: `wrong-guess-${i}` })),
      { username: victim.username, password: victim.password },
    ];
    const answers = await Promise.all(bodies.map((body) => http(t.url, 'POST', '/login', { body })));
    const statuses = answers.map((a) => a.status);
    expect(count(statuses, 401)).toBeLessThanOrEqual(FREE);
    expect(count(statuses, 401) + count(statuses, 200)).toBeLessThanOrEqual(FREE + 1);
    expect(count(statuses, 429)).toBeGreaterThanOrEqual(40 - FREE - 1);
    expect(count(statuses, 401) + count(statuses, 429) + count(statuses, 200)).toBe(40);
    for (const answer of answers.filter((a) => a.status === 429)) expectRetryAfter(answer, DELAY_SECONDS);
    expect(await pairFailures(t, victim.id)).toBe(count(statuses, 401));
  });

  it('concurrent guesses by username and by email share one count', async () => {
    const victim = await account(t);
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        http(t.url, 'POST', '/login', {
          body: {
            username: i % 2 ? victim.email.toUpperCase() : victim.username,
            password: `wrong-guess-${i}`,
          },
        }),
      ),
    );
    const statuses = answers.map((a) => a.status);
    expect(count(statuses, 401)).toBe(FREE);
    expect(count(statuses, 429)).toBe(40 - FREE);
    expect(await pairFailures(t, victim.id)).toBe(FREE);
  });

  it('the owner signs in from another address while the attacking address waits', async () => {
    const victim = await account(t);
    for (let i = 0; i < FREE; i++) {
      const res = await http(t.url, 'POST', '/login', {
        body: { username: victim.username, password: `nope-${i}-x` },
      });
      expect(res.status).toBe(401);
    }
    const attacker = await http(t.url, 'POST', '/login', {
      body: { username: victim.username, password: victim.password },
    });
    expectRetryAfter(attacker, DELAY_SECONDS);
    expect(attacker.body.error).toMatch(/^Too many failed sign-in attempts; try again in \d+ seconds?$/);

    const owner = sessionOf(
      await callerAt(t, '203.0.113.7').auth.login({
        username: victim.email,
        password: victim.password,
      }),
    );
    expect(owner.user.id).toBe(victim.id);
    expect(owner.token).toMatch(/^[0-9a-f]{64}$/);
    // The owner's success did not reopen the attacker's pair.
    expect(
      (await http(t.url, 'POST', '/login', { body: { username: victim.username, password: 'x-guess-1' } }))
        .status,
    ).toBe(429);
  });

  it("a pair's wait doubles with each further failure", async () => {
    const victim = await account(t);
    const attempt = (password: string) =>
      http(t.url, 'POST', '/login', { body: { username: victim.username, password } });
    for (let i = 0; i < FREE; i++) expect((await attempt(`nope-${i}-x`)).status).toBe(401);
    const first = expectRetryAfter(await attempt('nope-later'), DELAY_SECONDS);
    expect(first).toBeGreaterThan(DELAY_SECONDS / 2);
    // The wait has passed: one more guess is checked, then the pair waits twice as long.
    await t.db.models.ThrottleCounter.update(
      { blockedUntil: new Date(Date.now() - 1000) },
      { where: { kind: 'pair' } },
    );
    expect((await attempt('nope-after-wait')).status).toBe(401);
    const second = expectRetryAfter(await attempt('nope-too-soon'), 2 * DELAY_SECONDS);
    expect(second).toBeGreaterThan(DELAY_SECONDS);
    // And once that wait has passed, the right password signs in from this address.
    await t.db.models.ThrottleCounter.update(
      { blockedUntil: new Date(Date.now() - 1000) },
      { where: { kind: 'pair' } },
    );
    expect((await attempt(victim.password)).status).toBe(200);
  });

  it('a successful sign-in does not count as a failure', async () => {
    const victim = await account(t);
    const attempt = (password: string) =>
      http(t.url, 'POST', '/login', { body: { username: victim.username, password } });
    for (let i = 0; i < FREE - 1; i++) expect((await attempt(`nope-${i}-x`)).status).toBe(401);
    expect((await attempt(victim.password)).status).toBe(200);
    expect(await pairFailures(t, victim.id)).toBe(FREE - 1);
    expect((await attempt('nope-last-one')).status).toBe(401);
    expectRetryAfter(await attempt('nope-one-more'));
  });

  it('an unknown name is throttled exactly like an account, with the same answers', async () => {
    const victim = await account(t);
    const statuses = async (username: string) => {
      const out: number[] = [];
      for (let i = 0; i <= FREE; i++) {
        out.push(
          (await http(t.url, 'POST', '/login', { body: { username, password: `nope-${i}-x` } })).status,
        );
      }
      return out;
    };
    const expected = [...Array(FREE).fill(401), 429];
    expect(await statuses(victim.username)).toEqual(expected);
    expect(await statuses('no-such-user-at-all')).toEqual(expected);
  });

  it('throttles guesses of the current password through a stolen session, and counts them with sign-ins', async () => {
    const victim = await account(t);
    const login = await http(t.url, 'POST', '/login', {
      body: { username: victim.username, password: victim.password },
    });
    const token = login.body.token as string;
    const codes: number[] = [];
    for (let i = 0; i <= FREE; i++) {
      const res = await http(t.url, 'POST', '/trpc/auth.changePassword', {
        token,
        body: { json: { currentPassword: `guess-${i}-pw`, newPassword: 'taken-over-1' } },
      });
      codes.push(res.status);
    }
    expect(codes).toEqual([...Array(FREE).fill(400), 429]);
    expectRetryAfter(
      await http(t.url, 'POST', '/login', { body: { username: victim.username, password: victim.password } }),
    );
    const user = await t.db.models.User.findByPk(victim.id);
    expect(await verifyPassword(user!.passwordHash, victim.password)).toBe(true);
  });

  // Passes once app.ts sets `Retry-After` on tRPC answers too (the HTTP layer's part, not this module's).
  it('a tRPC 429 carries Retry-After', async () => {
    const victim = await account(t);
    for (let i = 0; i < FREE; i++) {
      await http(t.url, 'POST', '/login', { body: { username: victim.username, password: `nope-${i}-x` } });
    }
    const res = await http(t.url, 'POST', '/trpc/auth.login', {
      body: { json: { username: victim.username, password: victim.password } },
    });
    expect(res.body.error.json.data.code).toBe('TOO_MANY_REQUESTS');
    expectRetryAfter(res, DELAY_SECONDS);
  });

  it(`limits registrations to ${REGISTER_PER_HOUR} an hour per address, counted before any password is hashed`, async () => {
    const inputs = Array.from({ length: REGISTER_PER_HOUR + 10 }, (_, i) => ({
      username: `reg_${i}_${Math.random().toString(36).slice(2, 8)}`,
      email: `reg_${i}_${Math.random().toString(36).slice(2, 8)}@example.org`,
      password: 'registered-password',
      role: 'patient' as const,
    }));
    const before = await t.db.models.User.count();
    const batch = await trpcBatch(t.url, 'auth.register', inputs);
    expect(count(batch.codes, 'OK')).toBe(REGISTER_PER_HOUR);
    expect(count(batch.codes, 'TOO_MANY_REQUESTS')).toBe(10);
    expect(await t.db.models.User.count()).toBe(before + REGISTER_PER_HOUR);

    const rest = await http(t.url, 'POST', '/register', {
      body: {
        username: 'one_too_many',
        email: 'one_too_many@example.org',
        password: 'registered-password',
        role: 'patient',
      },
    });
    const wait = expectRetryAfter(rest, 3600);
    expect(wait).toBeGreaterThan(3000);
    expect(rest.body.error).toMatch(/^Too many registrations from this address; try again in \d+ minutes?$/);

    // Another address registers as usual.
    const other = await callerAt(t, '198.51.100.23').auth.register({
      username: 'elsewhere_ok',
      email: 'elsewhere_ok@example.org',
      password: 'registered-password',
      role: 'doctor',
    });
    expect(other.username).toBe('elsewhere_ok');
  });

  it('counts an IPv6 client by its /64, and an IPv4-mapped address as IPv4', async () => {
    const victim = await account(t);
    for (let i = 0; i < FREE; i++) {
      const ip = `2001:db8:1:2::${(i + 1).toString(16)}`;
      await expect(
        callerAt(t, ip).auth.login({ username: victim.username, password: `nope-${i}-x` }),
      ).rejects.toThrow('Invalid username or password');
    }
    const sameNetwork = await Promise.allSettled([
      callerAt(t, '2001:db8:1:2:ffff::9').auth.login({
        username: victim.username,
        password: victim.password,
      }),
    ]);
    expect(codeOf(sameNetwork[0]!)).toBe('TOO_MANY_REQUESTS');
    const otherNetwork = sessionOf(
      await callerAt(t, '2001:db8:1:3::1').auth.login({
        username: victim.username,
        password: victim.password,
      }),
    );
    expect(otherNetwork.user.id).toBe(victim.id);

    const mapped = await account(t);
    for (let i = 0; i < FREE; i++) {
      await http(t.url, 'POST', '/login', { body: { username: mapped.username, password: `nope-${i}-x` } });
    }
    const viaMapped = await Promise.allSettled([
      callerAt(t, '::ffff:127.0.0.1').auth.login({ username: mapped.username, password: mapped.password }),
    ]);
    expect(codeOf(viaMapped[0]!)).toBe('TOO_MANY_REQUESTS');
  });
});

describe('account and address caps', () => {
  const ACCOUNT_MAX = 12;
  const ADDRESS_MAX = 8;
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({
      LOGIN_ACCOUNT_MAX_FAILURES: String(ACCOUNT_MAX),
      LOGIN_ADDRESS_MAX_FAILURES: String(ADDRESS_MAX),
    });
  });
  afterAll(async () => {
    await t.close();
  });
  beforeEach(async () => {
    await t.db.models.ThrottleCounter.destroy({ where: {} });
  });

  it('after the absolute cap of failures from many addresses, the account is throttled for everyone', async () => {
    const victim = await account(t);
    const addresses = ['192.0.2.1', '192.0.2.2', '192.0.2.3'];
    for (const ip of addresses) {
      for (let i = 0; i < ACCOUNT_MAX / addresses.length; i++) {
        await expect(
          callerAt(t, ip).auth.login({ username: victim.username, password: `nope-${i}-x` }),
        ).rejects.toThrow('Invalid username or password');
      }
    }
    const owner = await Promise.allSettled([
      callerAt(t, '203.0.113.50').auth.login({ username: victim.username, password: victim.password }),
    ]);
    expect(codeOf(owner[0]!)).toBe('TOO_MANY_REQUESTS');
    const error = (owner[0] as PromiseRejectedResult).reason as Error;
    expect(retryAfterOf(error)).toBeGreaterThan(23 * 3600);
    expect(error.message).toMatch(/try again in 2[34] hours$/);
  });

  it('one address is capped over all accounts; other addresses are not', async () => {
    const names = Array.from({ length: ADDRESS_MAX + 1 }, (_, i) => `sprayed_${i}`);
    const statuses: number[] = [];
    for (const username of names) {
      statuses.push(
        (await http(t.url, 'POST', '/login', { body: { username, password: 'Summer2024!' } })).status,
      );
    }
    expect(statuses).toEqual([...Array(ADDRESS_MAX).fill(401), 429]);
    const victim = await account(t);
    expectRetryAfter(
      await http(t.url, 'POST', '/login', { body: { username: victim.username, password: victim.password } }),
      3600,
    );
    const elsewhere = sessionOf(
      await callerAt(t, '203.0.113.8').auth.login({
        username: victim.username,
        password: victim.password,
      }),
    );
    expect(elsewhere.user.id).toBe(victim.id);
  });
});

describe('password hashing under load', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ MAX_BATCH_CALLS: '1000' });
  });
  afterAll(async () => {
    await t.close();
  });
  beforeEach(async () => {
    await t.db.models.ThrottleCounter.destroy({ where: {} });
    await preparePasswordHashing(t.server.services.config.passwordHashing);
  });

  it('400 registrations in one request: /healthz stays fast, a sign-in gets through, the excess gets 429', async () => {
    const user = await account(t);
    const inputs = Array.from({ length: 400 }, (_, i) => ({
      username: `flood_${i}`,
      email: `flood_${i}@example.org`,
      password: `flood-password-${i}`,
      role: 'patient' as const,
    }));
    const before = await t.db.models.User.count();
    const started = performance.now();
    let done = false;
    const batch = trpcBatch(t.url, 'auth.register', inputs).finally(() => {
      done = true;
    });

    const health: number[] = [];
    const probe = (async () => {
      while (!done) {
        const t0 = performance.now();
        const res = await fetch(`${t.url}/healthz`);
        await res.text();
        expect(res.status).toBe(200);
        health.push(performance.now() - t0);
        await pause(20, 'the interval between /healthz samples');
      }
    })();

    // The sign-in goes in once the flood is under way: its first registrations are in.
    await waitFor(async () => done || (await t.db.models.User.count()) > before, {
      what: 'the flood of registrations to be under way',
    });
    const signInStarted = performance.now();
    const signIn = await http(t.url, 'POST', '/login', {
      body: { username: user.username, password: user.password },
    });
    const signInMs = performance.now() - signInStarted;

    const { status, codes } = await batch;
    await probe;
    const batchMs = performance.now() - started;

    expect(signIn.status).toBe(200);
    expect(signInMs).toBeLessThan(2000);
    expect(health.length).toBeGreaterThan(0);
    health.sort((a, b) => a - b);
    const p99 = health[Math.min(health.length - 1, Math.floor(health.length * 0.99))]!;
    expect(p99).toBeLessThan(1000);

    expect(status).not.toBe(500);
    expect(count(codes, 'OK')).toBe(REGISTER_PER_HOUR);
    expect(count(codes, 'TOO_MANY_REQUESTS')).toBe(400 - REGISTER_PER_HOUR);
    expect(await t.db.models.User.count()).toBe(before + REGISTER_PER_HOUR);
    // Refused calls are answered at once: the batch never stalls.
    expect(batchMs).toBeLessThan(15_000);
  });

  it('hashing is bounded: excess hashes are refused with TOO_MANY_REQUESTS within the wait limit, sign-ins go first', async () => {
    await preparePasswordHashing({ concurrency: 1, maxWaitMs: 300 });
    const stored = await hashPassword('stored-password');
    const started = performance.now();
    const settledAt: number[] = [];
    const hashes = Array.from({ length: 60 }, (_, i) =>
      hashPassword(`queued-password-${i}`).finally(() => settledAt.push(performance.now() - started)),
    );
    const settled = Promise.allSettled(hashes);
    const verifyStarted = performance.now();
    expect(await verifyPassword(stored, 'stored-password')).toBe(true);
    const verifyMs = performance.now() - verifyStarted;
    const results = await settled;

    const refused = results.filter((r) => r.status === 'rejected');
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) {
      const error = (r as PromiseRejectedResult).reason;
      expect(retryAfterOf(error)).toBeGreaterThanOrEqual(1);
    }
    expect(results.some((r) => r.status === 'fulfilled')).toBe(true);
    // Nothing waits much longer than the limit: a refusal comes at once or when the wait is up.
    expect(Math.max(...settledAt)).toBeLessThan(3000);
    // The sign-in's check went ahead of the 60 queued hashes.
    expect(verifyMs).toBeLessThan(1000);
  });

  it('a registration the server is too busy to hash gets 429 and does not count against the address', async () => {
    await preparePasswordHashing({ concurrency: 1, maxWaitMs: 0 });
    // Keeps the only hashing slot taken, one hash after another, until the registration is answered.
    let answered = false;
    const busy = (async () => {
      while (!answered) await hashPassword('keeps-the-only-slot');
    })();
    const refused = await Promise.allSettled([
      callerAt(t, '198.51.100.77').auth.register({
        username: 'too_busy_now',
        email: 'too_busy_now@example.org',
        password: 'registered-password',
        role: 'patient',
      }),
    ]);
    answered = true;
    await busy;
    expect(codeOf(refused[0]!)).toBe('TOO_MANY_REQUESTS');
    const counter = await t.db.models.ThrottleCounter.findOne({
      where: { kind: 'register', address: '198.51.100.77' },
    });
    expect(counter?.count).toBe(0);
    expect(await t.db.models.User.count({ where: { usernameKey: 'too_busy_now' } })).toBe(0);
  });
});

describe.skipIf(TEST_DB_KIND !== 'mysql')('two server instances on one MySQL database', () => {
  let t: TestServer;
  let second: RunningServer;
  beforeAll(async () => {
    t = await startTestServer({ PASSWORD_HASH_MAX_WAIT_MS: '10000' });
    await preparePasswordHashing(t.server.services.config.passwordHashing);
    const config = loadConfig({
      PORT: '0',
      DATABASE_URL: t.target.url,
      ADMIN_USERNAME: ADMIN.username,
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
      LOG_LEVEL: 'silent',
      PASSWORD_HASH_MAX_WAIT_MS: '10000',
    });
    second = await startServer(config, createLogger('silent'));
  });
  afterAll(async () => {
    await second?.close(1000);
    await t.close();
  });
  beforeEach(async () => {
    await t.db.models.ThrottleCounter.destroy({ where: {} });
  });

  it('share the failure count: 40 concurrent guesses over both check at most 5', async () => {
    const victim = await account(t);
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        http(i % 2 ? second.url : t.url, 'POST', '/login', {
          body: { username: victim.username, password: `wrong-guess-${i}` },
        }),
      ),
    );
    const statuses = answers.map((a) => a.status);
    expect(count(statuses, 401)).toBe(FREE);
    expect(count(statuses, 429)).toBe(40 - FREE);
    // The owner from another address still gets in, through either instance.
    const owner = sessionOf(
      await createCaller(
        createContextInner({ ...second.services, actor: null, requestId: 'owner', ip: '203.0.113.7' }),
      ).auth.login({ username: victim.username, password: victim.password }),
    );
    expect(owner.user.id).toBe(victim.id);
  });

  it('share the registration count', async () => {
    const register = (url: string, i: number) =>
      http(url, 'POST', '/register', {
        body: {
          username: `twin_${i}`,
          email: `twin_${i}@example.org`,
          password: 'registered-password',
          role: 'patient',
        },
      });
    const answers = await Promise.all(
      Array.from({ length: REGISTER_PER_HOUR + 10 }, (_, i) => register(i % 2 ? second.url : t.url, i)),
    );
    const statuses = answers.map((a) => a.status);
    expect(count(statuses, 201)).toBe(REGISTER_PER_HOUR);
    expect(count(statuses, 429)).toBe(10);
  });
});
