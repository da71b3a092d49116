import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES, type Scope } from '../server/src/domain/access/policy';
import { sha256Hex } from '../server/src/auth/tokens';
import { type Caller, callerFor, outcome } from './helpers/callers';
import { auditSince, lastAuditId } from './helpers/clinical';
import { adminToken, http, signedInUser, startTestServer, type TestServer } from './helpers/server';

/*
 * Service tokens: the procedures in process (a token is presented to `callerFor`, which resolves
 * it exactly as a request's bearer header is), the REST endpoints over HTTP.
 */

const DAY_MS = 24 * 60 * 60 * 1000;

describe('service tokens', () => {
  let t: TestServer;
  let admin: Caller;
  let adminBearer: string;
  let patientId: number;
  let seq = 0;

  /** Issues a token through the API as the admin. */
  async function issue(scopes: Scope[], name = `svc-${++seq}`) {
    return admin.serviceTokens.create({ name, scopes });
  }

  beforeAll(async () => {
    t = await startTestServer();
    adminBearer = await adminToken(t);
    admin = callerFor(t, adminBearer);
    const doctor = await t.db.models.Doctor.create({ name: 'Dr. Grey', specialization: 'Surgery' });
    const patient = await t.db.models.Patient.create({
      name: 'Pat Doe',
      age: 40,
      gender: 'female',
      doctorId: doctor.id,
      diagnosis: 'confidential diagnosis',
    });
    patientId = patient.id;
  });

  afterAll(async () => {
    await t?.close();
  });

  describe('issuing', () => {
    it('shows the token once and stores only its SHA-256', async () => {
      const before = Date.now();
      const { token, serviceToken } = await admin.serviceTokens.create({
        name: 'billing',
        scopes: ['doctors:read', 'patients:read', 'doctors:read'],
      });
      expect(token).toMatch(/^hdms_svc_[A-Za-z0-9_-]{43}$/);
      expect(serviceToken).toMatchObject({
        name: 'billing',
        scopes: ['doctors:read', 'patients:read'],
        tokenPrefix: token.slice(0, 17),
        status: 'active',
        revokedAt: null,
        lastUsedAt: null,
        createdBy: { username: 'admin' },
      });
      expect(serviceToken.expiresAt).toBeInstanceOf(Date);
      expect(serviceToken.expiresAt.getTime()).toBeGreaterThanOrEqual(before + 90 * DAY_MS);
      expect(serviceToken.expiresAt.getTime()).toBeLessThanOrEqual(Date.now() + 90 * DAY_MS);

      const row = await t.db.models.ServiceToken.findByPk(serviceToken.id);
      expect(row?.tokenHash).toBe(sha256Hex(token));
      const [raw] = await t.db.sequelize.query('SELECT * FROM service_tokens WHERE id = ?', {
        replacements: [serviceToken.id],
        plain: false,
      });
      const stored = JSON.stringify(raw);
      expect(stored).toContain(sha256Hex(token));
      expect(stored).not.toContain(token);

      const listed = await admin.serviceTokens.list({ search: 'billing' });
      expect(listed.items.map((i) => i.id)).toEqual([serviceToken.id]);
      expect(Object.keys(listed.items[0]!)).not.toContain('token');
      expect(Object.keys(listed.items[0]!)).not.toContain('tokenHash');
      expect(JSON.stringify(listed)).not.toContain(token);
      expect(JSON.stringify(listed)).not.toContain(sha256Hex(token));

      const rest = await http(t.url, 'GET', '/service-tokens', { token: adminBearer });
      expect(rest.status).toBe(200);
      expect(JSON.stringify(rest.body)).not.toContain(token);
      expect(JSON.stringify(rest.body)).not.toContain(sha256Hex(token));
    });

    it('POST /service-tokens answers 201 with the token and the snake_case record', async () => {
      const expiresAt = new Date(Date.now() + 30 * DAY_MS);
      const res = await http(t.url, 'POST', '/service-tokens', {
        token: adminBearer,
        body: { name: 'lab.sync', scopes: ['checkHistory:write'], expires_at: expiresAt.toISOString() },
      });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({
        name: 'lab.sync',
        scopes: ['checkHistory:write'],
        status: 'active',
        expires_at: expiresAt.toISOString(),
        revoked_at: null,
        last_used_at: null,
        created_by: { username: 'admin' },
      });
      expect(res.body.token).toMatch(/^hdms_svc_/);
      expect(res.body.token_prefix).toBe(res.body.token.slice(0, 17));
      expect(typeof res.body.id).toBe('number');
      expect(typeof res.body.created_at).toBe('string');
      expect(res.body).not.toHaveProperty('token_hash');

      const days = await http(t.url, 'POST', '/service-tokens', {
        token: adminBearer,
        body: { name: 'lab.sync-2', scopes: ['checkHistory:write'], expires_in_days: 7 },
      });
      expect(days.status).toBe(201);
      const expires = Date.parse(days.body.expires_at);
      expect(Math.abs(expires - (Date.now() + 7 * DAY_MS))).toBeLessThan(60_000);
    });

    it('reads an expiry without a zone as UTC, and one with an offset at that offset', async () => {
      const day = new Date(Date.now() + 20 * DAY_MS).toISOString().slice(0, 10);
      const plain = await http(t.url, 'POST', '/service-tokens', {
        token: adminBearer,
        body: { name: 'zone-utc', scopes: ['doctors:read'], expires_at: `${day}T10:30` },
      });
      expect(plain.status).toBe(201);
      expect(plain.body.expires_at).toBe(`${day}T10:30:00.000Z`);
      const offset = await http(t.url, 'POST', '/service-tokens', {
        token: adminBearer,
        body: { name: 'zone-offset', scopes: ['doctors:read'], expires_at: `${day}T10:30:00-02:30` },
      });
      expect(offset.status).toBe(201);
      expect(offset.body.expires_at).toBe(`${day}T13:00:00.000Z`);
      const dateOnly = await http(t.url, 'POST', '/service-tokens', {
        token: adminBearer,
        body: { name: 'zone-date', scopes: ['doctors:read'], expires_at: day },
      });
      expect(dateOnly.status).toBe(201);
      expect(dateOnly.body.expires_at).toBe(`${day}T00:00:00.000Z`);
    });

    it('rejects a name already taken, in any letter case, with 409', async () => {
      await issue(['doctors:read'], 'Reports');
      expect((await outcome(issue(['doctors:read'], 'reports'))).code).toBe('CONFLICT');
      const res = await http(t.url, 'POST', '/service-tokens', {
        token: adminBearer,
        body: { name: 'REPORTS', scopes: ['doctors:read'] },
      });
      expect(res.status).toBe(409);
      expect(res.body.error).toMatch(/REPORTS/);
    });

    it('rejects an unknown scope, naming it', async () => {
      const res = await http(t.url, 'POST', '/service-tokens', {
        token: adminBearer,
        body: { name: 'bad-scope', scopes: ['doctors:read', 'notes:read'] },
      });
      expect(res.status).toBe(400);
      expect(res.body.error).toContain("unknown scope 'notes:read'");
      expect(res.body.issues).toEqual([{ path: 'scopes.1', message: expect.stringContaining('notes:read') }]);
      expect(
        (await outcome(admin.serviceTokens.create({ name: 'bad-scope', scopes: ['users:read' as Scope] })))
          .code,
      ).toBe('BAD_REQUEST');
      expect(await t.db.models.ServiceToken.count({ where: { name: 'bad-scope' } })).toBe(0);
    });

    it.each([
      ['no scopes', { name: 'x1', scopes: [] }, 'scopes'],
      ['an empty name', { name: '', scopes: ['doctors:read'] }, 'name'],
      ['a name with spaces', { name: 'my service', scopes: ['doctors:read'] }, 'name'],
      ['a name of 81 characters', { name: 'a'.repeat(81), scopes: ['doctors:read'] }, 'name'],
      [
        'an expiry in the past',
        { name: 'x2', scopes: ['doctors:read'], expires_at: '2020-01-01T00:00:00Z' },
        'expires_at',
      ],
      [
        'an expiry over a year away',
        { name: 'x3', scopes: ['doctors:read'], expires_in_days: 400 },
        'expires_in_days',
      ],
      [
        'an expiry date two years away',
        {
          name: 'x4',
          scopes: ['doctors:read'],
          expires_at: new Date(Date.now() + 730 * DAY_MS).toISOString(),
        },
        'expires_at',
      ],
      [
        'an expiry on a day that does not exist',
        { name: 'x5', scopes: ['doctors:read'], expires_at: '2027-02-30T10:00:00Z' },
        'expires_at',
      ],
      [
        'both expiry forms',
        { name: 'x6', scopes: ['doctors:read'], expires_at: '2099-01-01T00:00:00Z', expires_in_days: 3 },
        'expires_at',
      ],
      ['an unknown field', { name: 'x7', scopes: ['doctors:read'], owner: 'me' }, 'owner'],
    ])('rejects %s with 400', async (_label, body, path) => {
      const res = await http(t.url, 'POST', '/service-tokens', { token: adminBearer, body });
      expect(res.status).toBe(400);
      expect(res.body.issues?.[0]?.path ?? '').toBe(path);
    });

    it('accepts an expiry given as a Date over tRPC', async () => {
      const expiresAt = new Date(Date.now() + 10 * DAY_MS);
      const { serviceToken } = await admin.serviceTokens.create({
        name: 'dated',
        scopes: ['audit:read'],
        expiresAt,
      });
      expect(serviceToken.expiresAt.getTime()).toBe(expiresAt.getTime());
    });

    it('is audited as an act of the admin on no patient', async () => {
      const mark = await lastAuditId(t);
      const { serviceToken } = await issue(['doctors:read'], 'audited-token');
      await admin.serviceTokens.revoke({ id: serviceToken.id });
      const rows = await auditSince(t, mark);
      expect(rows.map((r) => [r.procedure, r.action, r.actorType, r.actorName, r.patientId])).toEqual([
        ['serviceTokens.create', 'create', 'user', 'admin', null],
        ['serviceTokens.revoke', 'revoke', 'user', 'admin', null],
      ]);
    });
  });

  describe('who may manage tokens', () => {
    it('is admins only: doctors and patients get 403, the anonymous 401', async () => {
      const doctor = await signedInUser(t, 'doctor');
      const asDoctor = callerFor(t, doctor.token);
      expect(
        (await outcome(asDoctor.serviceTokens.create({ name: 'mine', scopes: ['doctors:read'] }))).code,
      ).toBe('FORBIDDEN');
      expect((await outcome(asDoctor.serviceTokens.list({}))).code).toBe('FORBIDDEN');
      expect((await outcome(asDoctor.serviceTokens.revoke({ id: 1 }))).code).toBe('FORBIDDEN');
      const patient = await signedInUser(t, 'patient');
      expect((await http(t.url, 'GET', '/service-tokens', { token: patient.token })).status).toBe(403);
      expect((await http(t.url, 'GET', '/service-tokens')).status).toBe(401);
      expect(
        (await http(t.url, 'POST', '/service-tokens', { body: { name: 'anon', scopes: ['doctors:read'] } }))
          .status,
      ).toBe(401);
      expect((await http(t.url, 'DELETE', '/service-tokens/1')).status).toBe(401);
    });

    it('is never a service: even a token with every scope gets 403 on serviceTokens.* and auth.me', async () => {
      const { token, serviceToken } = await issue([...SCOPES]);
      const svc = callerFor(t, token);
      expect(
        (await outcome(svc.serviceTokens.create({ name: 'child', scopes: ['doctors:read'] }))).code,
      ).toBe('FORBIDDEN');
      expect((await outcome(svc.serviceTokens.list({}))).code).toBe('FORBIDDEN');
      expect((await outcome(svc.serviceTokens.revoke({ id: serviceToken.id }))).code).toBe('FORBIDDEN');
      expect((await outcome(svc.auth.me())).code).toBe('FORBIDDEN');
      expect((await http(t.url, 'GET', '/service-tokens', { token })).status).toBe(403);
      expect(
        (
          await http(t.url, 'POST', '/service-tokens', {
            token,
            body: { name: 'child', scopes: ['audit:read'] },
          })
        ).status,
      ).toBe(403);
      expect((await http(t.url, 'POST', `/service-tokens/${serviceToken.id}/revoke`, { token })).status).toBe(
        403,
      );
      expect((await http(t.url, 'DELETE', `/service-tokens/${serviceToken.id}`, { token })).status).toBe(403);
      expect(await t.db.models.ServiceToken.count({ where: { name: 'child' } })).toBe(0);
      const row = await t.db.models.ServiceToken.findByPk(serviceToken.id);
      expect(row?.revokedAt).toBeNull();
    });
  });

  describe('calling the API as a service', () => {
    it('a doctors:read token lists doctors over tRPC and REST, and records when it was used', async () => {
      const { token, serviceToken } = await issue(['doctors:read'], 'directory');
      const svc = callerFor(t, token);
      const page = await svc.doctors.list({});
      expect(page.items.map((d) => d.name)).toContain('Dr. Grey');
      const res = await http(t.url, 'GET', '/doctors', { token });
      expect(res.status).toBe(200);
      expect(res.body.map((d: { name: string }) => d.name)).toContain('Dr. Grey');
      const row = await t.db.models.ServiceToken.findByPk(serviceToken.id);
      expect(row?.lastUsedAt).toBeInstanceOf(Date);
      const listed = await admin.serviceTokens.list({ search: 'directory' });
      expect(listed.items[0]?.lastUsedAt).toBeInstanceOf(Date);
    });

    it('a token without the needed scope gets 403', async () => {
      const { token } = await issue(['doctors:read']);
      const svc = callerFor(t, token);
      const checks = await t.db.models.CheckHistory.count({ where: { patientId } });
      const doctors = await t.db.models.Doctor.count();
      expect((await outcome(svc.checkHistory.create({ patientId }))).code).toBe('FORBIDDEN');
      expect((await outcome(svc.doctors.create({ name: 'Dr. No', specialization: 'None' }))).code).toBe(
        'FORBIDDEN',
      );
      expect((await outcome(svc.users.list({}))).code).toBe('FORBIDDEN');
      expect((await outcome(svc.audit.list({}))).code).toBe('FORBIDDEN');
      const res = await http(t.url, 'POST', '/check_history', { token, body: { patient_id: patientId } });
      expect(res.status).toBe(403);
      expect(res.body.error).toContain('checkHistory:write');
      expect(await t.db.models.CheckHistory.count({ where: { patientId } })).toBe(checks);
      expect(await t.db.models.Doctor.count()).toBe(doctors);
    });

    it('a service is audited under its token name', async () => {
      const { token, serviceToken } = await issue(
        ['checkHistory:write', 'checkHistory:read'],
        'ward-monitor',
      );
      const svc = callerFor(t, token);
      const mark = await lastAuditId(t);
      const check = await svc.checkHistory.create({ patientId });
      expect(check).toMatchObject({ patientId });
      const res = await http(t.url, 'POST', '/check_history', { token, body: { patient_id: patientId } });
      expect(res.status).toBe(201);
      await svc.checkHistory.list({ patientId });
      const rows = await auditSince(t, mark);
      expect(rows.map((r) => [r.procedure, r.action, r.patientId])).toEqual([
        ['checkHistory.create', 'create', patientId],
        ['checkHistory.create', 'create', patientId],
        ['checkHistory.list', 'read', patientId],
      ]);
      for (const row of rows) {
        expect(row).toMatchObject({
          actorType: 'service',
          actorId: serviceToken.id,
          actorName: 'ward-monitor',
          actorRole: 'service',
        });
      }

      const auditor = callerFor(t, (await issue(['audit:read'], 'auditor')).token);
      const trail = await auditor.audit.list({ limit: 20 });
      expect(
        trail.items.filter((r) => r.actorName === 'ward-monitor').map((r) => [r.actorType, r.procedure]),
      ).toEqual([
        ['service', 'checkHistory.list'],
        ['service', 'checkHistory.create'],
        ['service', 'checkHistory.create'],
      ]);
    });

    it('a revoked token gets 401 at once', async () => {
      const { token, serviceToken } = await issue(['doctors:read']);
      const svc = callerFor(t, token);
      expect((await outcome(svc.doctors.list({}))).code).toBe('OK');
      const revoked = await admin.serviceTokens.revoke({ id: serviceToken.id });
      expect(revoked.status).toBe('revoked');
      expect(revoked.revokedAt).toBeInstanceOf(Date);
      expect((await outcome(svc.doctors.list({}))).code).toBe('UNAUTHORIZED');
      expect((await http(t.url, 'GET', '/doctors', { token })).status).toBe(401);
    });

    it('an expired token gets 401 and lists as expired', async () => {
      const { token, serviceToken } = await issue(['doctors:read'], 'old-report');
      const svc = callerFor(t, token);
      expect((await outcome(svc.doctors.list({}))).code).toBe('OK');
      await t.db.models.ServiceToken.update(
        { expiresAt: new Date(Date.now() - 1000) },
        { where: { id: serviceToken.id } },
      );
      expect((await outcome(svc.doctors.list({}))).code).toBe('UNAUTHORIZED');
      expect((await http(t.url, 'GET', '/doctors', { token })).status).toBe(401);
      const listed = await admin.serviceTokens.list({ search: 'old-report' });
      expect(listed.items[0]?.status).toBe('expired');
    });

    it('an unknown token of the service kind gets 401', async () => {
      const svc = callerFor(t, `hdms_svc_${'A'.repeat(43)}`);
      expect((await outcome(svc.doctors.list({}))).code).toBe('UNAUTHORIZED');
    });
  });

  describe('revoking', () => {
    it('works through POST /service-tokens/:id/revoke and DELETE /service-tokens/:id', async () => {
      const a = await issue(['doctors:read']);
      const viaPost = await http(t.url, 'POST', `/service-tokens/${a.serviceToken.id}/revoke`, {
        token: adminBearer,
      });
      expect(viaPost.status).toBe(200);
      expect(viaPost.body).toMatchObject({ id: a.serviceToken.id, status: 'revoked' });
      expect(typeof viaPost.body.revoked_at).toBe('string');

      const b = await issue(['doctors:read']);
      const viaDelete = await http(t.url, 'DELETE', `/service-tokens/${b.serviceToken.id}`, {
        token: adminBearer,
      });
      expect(viaDelete.status).toBe(200);
      expect(viaDelete.body).toMatchObject({ id: b.serviceToken.id, status: 'revoked' });
      expect((await http(t.url, 'GET', '/doctors', { token: b.token })).status).toBe(401);
    });

    it('is idempotent: a second revoke keeps the first time and is not audited again', async () => {
      const { serviceToken } = await issue(['doctors:read']);
      const first = await admin.serviceTokens.revoke({ id: serviceToken.id });
      const mark = await lastAuditId(t);
      const second = await admin.serviceTokens.revoke({ id: serviceToken.id });
      expect(second.revokedAt?.getTime()).toBe(first.revokedAt?.getTime());
      const again = await http(t.url, 'DELETE', `/service-tokens/${serviceToken.id}`, { token: adminBearer });
      expect(again.status).toBe(200);
      expect(await auditSince(t, mark)).toEqual([]);
    });

    it('answers 404 for an unknown id and 400 for a malformed one', async () => {
      expect((await outcome(admin.serviceTokens.revoke({ id: 999_999 }))).code).toBe('NOT_FOUND');
      const missing = await http(t.url, 'DELETE', '/service-tokens/999999', { token: adminBearer });
      expect(missing.status).toBe(404);
      expect(missing.body).toEqual({ error: 'Service token not found' });
      const malformed = await http(t.url, 'POST', '/service-tokens/abc/revoke', { token: adminBearer });
      expect(malformed.status).toBe(400);
    });
  });

  describe('listing', () => {
    it('pages by id, searches name and prefix, and filters by status', async () => {
      const tag = `list${Date.now()}`;
      const made = [];
      for (let i = 0; i < 3; i++) made.push(await issue(['doctors:read'], `${tag}-${i}`));
      await admin.serviceTokens.revoke({ id: made[1]!.serviceToken.id });

      const first = await admin.serviceTokens.list({ search: tag, limit: 2 });
      expect(first.items.map((i) => i.name)).toEqual([`${tag}-0`, `${tag}-1`]);
      expect(first.nextCursor).toBe(made[1]!.serviceToken.id);
      const second = await admin.serviceTokens.list({
        search: tag,
        limit: 2,
        cursor: first.nextCursor,
      });
      expect(second.items.map((i) => i.name)).toEqual([`${tag}-2`]);
      expect(second.nextCursor).toBeNull();

      const byPrefix = await admin.serviceTokens.list({ search: made[2]!.serviceToken.tokenPrefix });
      expect(byPrefix.items.map((i) => i.id)).toEqual([made[2]!.serviceToken.id]);

      const active = await admin.serviceTokens.list({ search: tag, status: 'active' });
      expect(active.items.map((i) => i.name)).toEqual([`${tag}-0`, `${tag}-2`]);
      const revoked = await admin.serviceTokens.list({ search: tag, status: 'revoked' });
      expect(revoked.items.map((i) => i.name)).toEqual([`${tag}-1`]);

      const rest = await http(
        t.url,
        'GET',
        `/service-tokens?search=${tag}&limit=1&after=${made[0]!.serviceToken.id}`,
        {
          token: adminBearer,
        },
      );
      expect(rest.status).toBe(200);
      expect(rest.body).toEqual([
        expect.objectContaining({ name: `${tag}-1`, status: 'revoked', token_prefix: expect.any(String) }),
      ]);
      expect((await http(t.url, 'GET', '/service-tokens?limit=x', { token: adminBearer })).status).toBe(400);
      expect((await http(t.url, 'GET', '/service-tokens?status=gone', { token: adminBearer })).status).toBe(
        400,
      );
    });
  });
});
