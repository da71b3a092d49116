import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../server/src/env';
import { createLogger } from '../server/src/logger';
import { type RunningServer, startServer } from '../server/src/server';
import { freshDatabase, TEST_DB_KIND, type TestDatabase } from './helpers/db';
import {
  ADMIN,
  adminToken,
  http,
  signedInUser,
  startTestServer,
  type TestServer,
  trpcClient,
} from './helpers/server';
import { startTcpProxy, type TcpProxy } from './helpers/tcpProxy';
import { pause } from './helpers/wait';

/*
 * Attacks on the HTTP surface, played against a real server on this project's database: forged
 * request ids, NUL bytes, deep JSON, oversized batches and bodies, cross-site cookie requests,
 * missing security headers, refused access that must be on the audit trail. Nothing may answer
 * 500, and nothing secret or clinical may reach the log.
 */

/** A server whose log lines are kept, to prove what never reaches them. */
async function serverWithLog(env: Record<string, string> = {}): Promise<{
  t: TestServer;
  log: string[];
}> {
  const target = await freshDatabase();
  const log: string[] = [];
  const config = loadConfig({
    PORT: '0',
    DATABASE_URL: target.url,
    ADMIN_USERNAME: ADMIN.username,
    ADMIN_EMAIL: ADMIN.email,
    ADMIN_PASSWORD: ADMIN.password,
    LOG_LEVEL: 'info',
    ...env,
  });
  const server = await startServer(config, createLogger('info', { write: (line: string) => log.push(line) }));
  const t: TestServer = {
    url: server.url,
    db: server.services.db,
    server,
    target,
    async close() {
      await server.close(1000);
      await target.drop();
    },
  };
  return { t, log };
}

/** A tRPC mutation over raw HTTP, as a hostile client sends it. */
function rawMutation(url: string, path: string, body: string, headers: Record<string, string> = {}) {
  return fetch(`${url}/trpc/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
}

describe('the HTTP surface under attack', () => {
  let t: TestServer;
  let log: string[];
  let admin: string;
  let doctorId: number;
  let patientId: number;
  let doctor: { id: number; token: string };
  let otherDoctor: { id: number; token: string };

  beforeAll(async () => {
    ({ t, log } = await serverWithLog({ TRUSTED_PROXIES: '127.0.0.2', MAX_BATCH_CALLS: '20' }));
    admin = await adminToken(t);
    doctorId = (await t.db.models.Doctor.create({ name: 'Dr. Secure', specialization: 'Security' })).id;
    const other = await t.db.models.Doctor.create({ name: 'Dr. Other', specialization: 'Security' });
    patientId = (await t.db.models.Patient.create({ name: 'Pat Secure', age: 50, gender: 'F', doctorId })).id;
    doctor = await signedInUser(t, 'doctor', { doctorId });
    otherDoctor = await signedInUser(t, 'doctor', { doctorId: other.id });
  });
  afterAll(async () => {
    await t.close();
  });

  describe('request ids are the server’s', () => {
    it('a client X-Request-Id of 200 characters is neither stored in the audit trail nor echoed', async () => {
      const forged = `forged-${'x'.repeat(193)}`;
      const res = await http(t.url, 'GET', `/patients`, {
        token: admin,
        headers: { 'x-request-id': forged },
      });
      expect(res.status).toBe(200);
      const ours = res.headers.get('x-request-id');
      expect(ours).toMatch(/^[0-9a-f-]{36}$/);
      const rows = await t.db.models.AuditEvent.findAll({ where: { requestId: ours! } });
      expect(rows.length).toBeGreaterThan(0);
      expect(await t.db.models.AuditEvent.count({ where: { requestId: forged } })).toBe(0);
      const line = log.find((l) => l.includes(ours!) && l.includes('"request"'));
      expect(JSON.parse(line!).clientRequestId).toBe(forged.slice(0, 64));
    });
  });

  describe('NUL bytes', () => {
    const nul = 'bad\u0000value';
    it.each([
      ['a list search', () => trpcClient(t.url, admin).patients.list.query({ search: nul })],
      [
        'a login username',
        () => trpcClient(t.url).auth.login.mutate({ username: nul, password: 'whatever-1' }),
      ],
      [
        'a doctor’s name',
        () => trpcClient(t.url, admin).doctors.create.mutate({ name: nul, specialization: 'x' }),
      ],
      [
        'a patient’s name',
        () => trpcClient(t.url, admin).patients.create.mutate({ name: nul, age: 3, gender: 'F' }),
      ],
      ['a note body', () => trpcClient(t.url, doctor.token).notes.create.mutate({ patientId, body: nul })],
    ])('in %s is a 400 that writes nothing and logs nothing of the value', async (_label, call) => {
      const before = await t.db.models.Doctor.count();
      await expect(call()).rejects.toMatchObject({ data: { code: 'BAD_REQUEST', httpStatus: 400 } });
      expect(await t.db.models.Doctor.count()).toBe(before);
      expect(log.join('\n')).not.toContain('bad\\u0000value');
      expect(log.join('\n')).not.toMatch(/SQLITE_ERROR|statement/);
    });

    it('in a REST body is a 400, never a 500', async () => {
      const res = await http(t.url, 'POST', '/doctors', {
        token: admin,
        body: { name: nul, specialization: 'x' },
      });
      expect(res.status).toBe(400);
      expect(res.body.issues[0].path).toBe('name');
    });
  });

  describe('deeply nested JSON', () => {
    it.each([
      ['150,000 nested objects', `${'{"a":'.repeat(150_000)}1${'}'.repeat(150_000)}`],
      ['400,000 nested arrays', `${'['.repeat(400_000)}${']'.repeat(400_000)}`],
    ])('of %s is refused with 400 over REST', async (_label, raw) => {
      const res = await http(t.url, 'POST', '/doctors', {
        token: admin,
        raw,
        headers: { 'content-type': 'application/json' },
      });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatch(/nests deeper/);
    });

    it('of 150,000 nested objects is a 4xx over tRPC', async () => {
      const raw = `{"json":${'{"a":'.repeat(150_000)}1${'}'.repeat(150_000)}}`;
      const res = await rawMutation(t.url, 'doctors.create', raw, { authorization: `Bearer ${admin}` });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    });
  });

  describe('bounded work per request', () => {
    it('a tRPC batch over MAX_BATCH_CALLS is refused as a whole, naming the limit', async () => {
      const paths = Array.from({ length: 21 }, () => 'doctors.list').join(',');
      const res = await fetch(`${t.url}/trpc/${paths}?batch=1&input={}`, {
        headers: { authorization: `Bearer ${admin}` },
      });
      expect(res.status).toBe(400);
      expect(JSON.stringify(await res.json())).toMatch(/at most 20 calls/);
      const within = Array.from({ length: 20 }, () => 'doctors.list').join(',');
      const ok = await fetch(`${t.url}/trpc/${within}?batch=1&input={}`, {
        headers: { authorization: `Bearer ${admin}` },
      });
      expect(ok.status).toBe(200);
    });

    it('a body over the limit always gets its 413, even while the client is still sending', async () => {
      const body = 'x'.repeat(3 * 1024 * 1024);
      for (let i = 0; i < 10; i++) {
        const res = await fetch(`${t.url}/doctors`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
          body,
        });
        expect(res.status).toBe(413);
        expect((await res.json()).error).toMatch(/too large/);
      }
    });
  });

  describe('cross-site requests with the session cookie', () => {
    const cookieOf = (token: string) => `hdms_session=${token}`;
    const stillSignedIn = async (token: string) =>
      (await http(t.url, 'GET', '/doctors', { headers: { cookie: cookieOf(token) } })).status;

    it('a multipart form POST of auth.logout from a foreign origin changes nothing', async () => {
      const user = await signedInUser(t, 'patient');
      const form = new FormData();
      form.set('x', '1');
      const res = await fetch(`${t.url}/trpc/auth.logout`, {
        method: 'POST',
        headers: { cookie: cookieOf(user.token), origin: 'https://evil.example' },
        body: form,
      });
      expect([403, 415]).toContain(res.status);
      expect(await stillSignedIn(user.token)).toBe(200);
    });

    it('a form-encoded POST /logout is refused, from anywhere', async () => {
      const user = await signedInUser(t, 'patient');
      const res = await fetch(`${t.url}/logout`, {
        method: 'POST',
        headers: { cookie: cookieOf(user.token), 'content-type': 'application/x-www-form-urlencoded' },
        body: 'a=1',
      });
      expect(res.status).toBe(415);
      expect(await stillSignedIn(user.token)).toBe(200);
    });

    it('a JSON POST with the cookie from a foreign origin or a cross-site fetch is 403', async () => {
      const user = await signedInUser(t, 'patient');
      const foreign: Record<string, string>[] = [
        { origin: 'https://evil.example' },
        { 'sec-fetch-site': 'cross-site' },
      ];
      for (const headers of foreign) {
        const res = await rawMutation(t.url, 'auth.logout', '{}', {
          cookie: cookieOf(user.token),
          ...headers,
        });
        expect(res.status).toBe(403);
      }
      expect(await stillSignedIn(user.token)).toBe(200);
    });

    it('the same request from this server’s own page, or with a bearer token, goes through', async () => {
      const own = await signedInUser(t, 'patient');
      const host = new URL(t.url).host;
      const res = await rawMutation(t.url, 'auth.logout', '{}', {
        cookie: cookieOf(own.token),
        origin: `http://${host}`,
        'sec-fetch-site': 'same-origin',
      });
      expect(res.status).toBe(200);
      expect(await stillSignedIn(own.token)).toBe(401);
      const bearer = await signedInUser(t, 'patient');
      const viaBearer = await rawMutation(t.url, 'auth.logout', '{}', {
        authorization: `Bearer ${bearer.token}`,
        origin: 'https://evil.example',
      });
      expect(viaBearer.status).toBe(200);
    });
  });

  describe('Content-Security-Policy', () => {
    it('API answers allow nothing to load and nothing to frame them', async () => {
      for (const path of ['/healthz', '/doctors', '/trpc/doctors.list', '/no-such-path']) {
        const res = await fetch(t.url + path, { headers: { authorization: `Bearer ${admin}` } });
        expect(res.headers.get('content-security-policy'), path).toBe(
          "default-src 'none'; frame-ancestors 'none'",
        );
        expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
      }
    });

    it('the panel may run only its own script (by hash) and this server’s assets', async () => {
      const res = await fetch(`${t.url}/panel`);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toMatch(/default-src 'none'/);
      expect(csp).toMatch(/script-src 'self' 'unsafe-eval' 'sha256-[A-Za-z0-9+/=]+'/);
      expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
      expect(csp).toMatch(/connect-src 'self'/);
      expect(csp).toMatch(/frame-ancestors 'none'/);
    });
  });

  describe('client address', () => {
    /** GET /patients as admin from `localAddress`, claiming to forward for 198.51.100.9; the audited address. */
    const auditedAddress = (localAddress: string) =>
      new Promise<string | null>((resolve, reject) => {
        const req = request(
          `${t.url}/patients`,
          {
            localAddress,
            headers: { authorization: `Bearer ${admin}`, 'x-forwarded-for': '203.0.113.1, 198.51.100.9' },
          },
          (res) => {
            res.resume();
            res.on('end', async () => {
              const requestId = String(res.headers['x-request-id']);
              const row = await t.db.models.AuditEvent.findOne({ where: { requestId } });
              resolve(row?.ip ?? null);
            });
          },
        );
        req.on('error', reject);
        req.end();
      });

    it('X-Forwarded-For counts only from a proxy named in TRUSTED_PROXIES', async () => {
      expect(await auditedAddress('127.0.0.1')).toBe('127.0.0.1');
      expect(await auditedAddress('127.0.0.2')).toBe('198.51.100.9');
    });
  });

  describe('credentials', () => {
    it('a revoked or an expired service token is told so, not asked to sign in', async () => {
      const client = trpcClient(t.url, admin);
      const revoked = await client.serviceTokens.create.mutate({
        name: `revoked-${Date.now()}`,
        scopes: ['doctors:read'],
      });
      await client.serviceTokens.revoke.mutate({ id: revoked.serviceToken.id });
      const res = await http(t.url, 'GET', '/doctors', { token: revoked.token });
      expect(res.status).toBe(401);
      expect(res.body.error).toMatch(/revoked/);
      const expiring = await client.serviceTokens.create.mutate({
        name: `expired-${Date.now()}`,
        scopes: ['doctors:read'],
      });
      await t.db.models.ServiceToken.update(
        { expiresAt: new Date(Date.now() - 1000) },
        { where: { id: expiring.serviceToken.id } },
      );
      const expired = await http(t.url, 'GET', '/doctors', { token: expiring.token });
      expect(expired.status).toBe(401);
      expect(expired.body.error).toMatch(/expired/);
    });
  });

  describe('audit of refused and administrative acts', () => {
    it('a doctor’s refused read of another doctor’s patient is on the trail, and the answer reveals nothing', async () => {
      const res = await http(
        t.url,
        'GET',
        `/trpc/patients.get?input=${encodeURIComponent(JSON.stringify({ json: { id: patientId } }))}`,
        {
          token: otherDoctor.token,
        },
      );
      expect(res.status).toBe(404);
      const row = await t.db.models.AuditEvent.findOne({
        where: { requestId: res.headers.get('x-request-id')!, action: 'denied' },
      });
      expect(row).toMatchObject({
        actorId: otherDoctor.id,
        patientId,
        procedure: 'patients.get',
        actorType: 'user',
      });
    });

    it('a refusal by role (a patient changing their record) is on the trail too', async () => {
      const patient = await signedInUser(t, 'patient', { patientId });
      const res = await rawMutation(
        t.url,
        'patients.update',
        JSON.stringify({ json: { id: patientId, age: 51 } }),
        {
          authorization: `Bearer ${patient.token}`,
        },
      );
      expect(res.status).toBe(403);
      const row = await t.db.models.AuditEvent.findOne({
        where: { requestId: res.headers.get('x-request-id')!, action: 'denied' },
      });
      expect(row).toMatchObject({ actorId: patient.id, patientId, procedure: 'patients.update' });
      const mine = await trpcClient(t.url, patient.token).audit.myAccess.query({});
      expect(mine.items.map((i) => i.action)).not.toContain('denied');
    });

    it('reading the audit log is itself audited', async () => {
      const res = await http(
        t.url,
        'GET',
        `/trpc/audit.list?input=${encodeURIComponent(JSON.stringify({ json: { patientId } }))}`,
        {
          token: admin,
        },
      );
      expect(res.status).toBe(200);
      const row = await t.db.models.AuditEvent.findOne({
        where: { requestId: res.headers.get('x-request-id')! },
      });
      expect(row).toMatchObject({ action: 'read', procedure: 'audit.list', patientId });
    });

    it('service-token create and revoke rows name the token', async () => {
      const client = trpcClient(t.url, admin);
      const name = `named-${Date.now()}`;
      const created = await client.serviceTokens.create.mutate({ name, scopes: ['doctors:read'] });
      await client.serviceTokens.revoke.mutate({ id: created.serviceToken.id });
      const rows = await t.db.models.AuditEvent.findAll({
        where: { targetType: 'serviceToken', targetId: created.serviceToken.id },
        order: [['id', 'ASC']],
      });
      expect(rows.map((r) => [r.action, r.targetName])).toEqual([
        ['create', name],
        ['revoke', name],
      ]);
    });
  });

  it('a 250-character unknown username at sign-in is a plain 401', async () => {
    const res = await http(t.url, 'POST', '/login', {
      body: { username: 'u'.repeat(250), password: 'whatever-1' },
    });
    expect(res.status).toBe(401);
  });

  it('clinical values written through the API never reach the log', async () => {
    const marker = 'CLINICAL-LOG-MARKER';
    await trpcClient(t.url, doctor.token).patients.update.mutate({
      id: patientId,
      diagnosis: `${marker} diagnosis`,
      prescribedMedicine: `${marker} medicine`,
    });
    await trpcClient(t.url, doctor.token).notes.create.mutate({ patientId, body: `${marker} note` });
    await trpcClient(t.url, doctor.token).patients.get.query({ id: patientId });
    expect(log.join('\n')).not.toContain(marker);
  });

  it('no answer in this suite was a 500, and no stack or SQL reached the log', async () => {
    // Hostile requests of its own, so the check stands alone; the log holds every test's too.
    const hostile: [string, string, string][] = [
      ['POST', '/doctors', '{"name":'],
      ['POST', '/doctors', '{"name":"a\\u0000b","specialization":"x"}'],
      ['POST', '/patients', '[{"name":"x","age":"old","gender":1}]'],
      ['POST', '/check_history', '{"patient_id":99999999999,"check_time":"yesterday"}'],
      ['POST', '/trpc/doctors.create', '{"json":[[[[]]]]}'],
    ];
    for (const [method, path, raw] of hostile) {
      const res = await http(t.url, method, path, {
        token: admin,
        raw,
        headers: { 'content-type': 'application/json' },
      });
      expect(res.status, path).toBeGreaterThanOrEqual(400);
      expect(res.status, path).toBeLessThan(500);
    }
    const statuses = log.filter((l) => l.includes('"request"')).map((l) => JSON.parse(l).status as number);
    expect(statuses.length).toBeGreaterThanOrEqual(hostile.length);
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    expect(log.join('\n')).not.toMatch(/INSERT INTO|SELECT .* FROM/);
  });
});

describe('the largest valid clinical values', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    await t.close();
  });

  it('a doctor replaces 20,000-character diagnosis and medicine with new 20,000-character values', async () => {
    const doctorId = (await t.db.models.Doctor.create({ name: 'Dr. Max', specialization: 'Sizes' })).id;
    const patientId = (await t.db.models.Patient.create({ name: 'Max', age: 40, gender: 'F', doctorId })).id;
    const doctor = trpcClient(t.url, (await signedInUser(t, 'doctor', { doctorId })).token);
    const first = { diagnosis: '😀'.repeat(10_000), prescribedMedicine: '"\\\n'.repeat(6_666) };
    const second = { diagnosis: 'é"'.repeat(10_000), prescribedMedicine: '😀'.repeat(10_000) };
    await doctor.patients.update.mutate({ id: patientId, ...first });
    const updated = await doctor.patients.update.mutate({ id: patientId, ...second });
    expect(updated).toMatchObject(second);
    const history = await doctor.patients.history.query({ patientId });
    expect(history.items[0]!.changes.diagnosis).toEqual({ old: first.diagnosis, new: second.diagnosis });
    // 20,000 UTF-16 code units of 4-byte characters: 80,000 bytes in utf8mb4.
    const note = await doctor.notes.create.mutate({ patientId, body: '😀'.repeat(10_000) });
    expect(note.body).toHaveLength(20_000);
  });
});

describe.skipIf(TEST_DB_KIND !== 'mysql')('when MariaDB stalls or drops connections', () => {
  let proxy: TcpProxy;
  let target: TestDatabase;
  let server: RunningServer;
  let url: string;
  let admin: string;

  beforeAll(async () => {
    target = await freshDatabase('mysql');
    const real = new URL(target.url);
    proxy = await startTcpProxy({ host: real.hostname, port: Number(real.port || 3306) });
    const config = loadConfig({
      PORT: '0',
      DATABASE_URL: proxy.rewrite(target.url),
      ADMIN_USERNAME: ADMIN.username,
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
      LOG_LEVEL: 'silent',
      DATABASE_TIMEOUT_MS: '1000',
    });
    server = await startServer(config, createLogger('silent'));
    url = server.url;
    const login = await http(url, 'POST', '/login', {
      body: { username: ADMIN.username, password: ADMIN.password },
    });
    admin = login.body.token;
  });
  afterAll(async () => {
    proxy.resume();
    await server.close(1000);
    await proxy.close();
    await target.drop();
  });

  it('a frozen database: /healthz answers 503 within 2 s, API calls 503 within the deadline, and both recover', async () => {
    proxy.stall();
    try {
      let started = Date.now();
      const health = await fetch(`${url}/healthz`);
      expect(health.status).toBe(503);
      expect(Date.now() - started).toBeLessThan(2_000);
      started = Date.now();
      const list = await http(url, 'GET', '/doctors', { token: admin });
      expect(list.status).toBe(503);
      expect(Date.now() - started).toBeLessThan(15_000);
    } finally {
      proxy.resume();
    }
    await expect.poll(async () => (await fetch(`${url}/healthz`)).status, { timeout: 15_000 }).toBe(200);
    await expect
      .poll(async () => (await http(url, 'GET', '/doctors', { token: admin })).status, { timeout: 15_000 })
      .toBe(200);
  });

  it('a frozen database answers tRPC calls in tRPC’s shape: SERVICE_UNAVAILABLE, 503, Retry-After', async () => {
    proxy.stall();
    try {
      const res = await fetch(`${url}/trpc/doctors.list`, { headers: { authorization: `Bearer ${admin}` } });
      expect(res.status).toBe(503);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      const body = (await res.json()) as {
        error?: { json?: { data?: { code?: string }; message?: string } };
      };
      expect(body.error?.json?.data?.code).toBe('SERVICE_UNAVAILABLE');
      expect(body.error?.json?.message).toBe('Database unavailable');
    } finally {
      proxy.resume();
    }
  });

  it('a connection lost in the middle of a request answers 503, not 500', async () => {
    const pending = http(url, 'GET', '/doctors', { token: admin });
    proxy.stall();
    await pause(100, 'the request reaches the stalled database connection');
    proxy.cut();
    proxy.resume();
    const res = await pending;
    expect([200, 503]).toContain(res.status);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const call = http(url, 'GET', '/doctors', { token: admin });
      void pause(5, 'the request is under way when its connection is cut').then(() => proxy.cut());
      statuses.push((await call).status);
    }
    expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
    await expect
      .poll(async () => (await http(url, 'GET', '/doctors', { token: admin })).status, { timeout: 15_000 })
      .toBe(200);
  });
});
