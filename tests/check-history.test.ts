import type { AppRouter } from '../server/src/routers/_app';
import type { TRPCClient } from '@trpc/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CareTeam,
  careTeam,
  lastAuditId,
  linkedPatient,
  many,
  one,
  serviceToken,
} from './helpers/clinical';
import { http, signedInUser, startTestServer, type TestServer, trpcClient, trpcCode } from './helpers/server';

describe('check history', () => {
  let t: TestServer;
  let team: CareTeam;
  let doctorA: TRPCClient<AppRouter>;

  const checksOf = (patientId: number) =>
    t.db.models.CheckHistory.findAll({ where: { patientId }, order: [['id', 'ASC']] });
  const counts = async () => ({
    checks: await t.db.models.CheckHistory.count(),
    audit: await t.db.models.AuditEvent.count(),
  });

  beforeAll(async () => {
    t = await startTestServer();
    team = await careTeam(t);
    doctorA = trpcClient(t.url, team.doctorA.token);
  });

  afterAll(async () => {
    await t?.close();
  });

  describe('create over REST (the original endpoints)', () => {
    it('adds a check with the default time (now, UTC) and answers 201 {id}', async () => {
      const before = Date.now();
      const res = await http(t.url, 'POST', '/check_history', {
        token: team.doctorA.token,
        body: { patient_id: team.patientA.patientId },
      });
      const after = Date.now();
      expect(res.status).toBe(201);
      expect(Object.keys(res.body)).toEqual(['id']);
      const row = await t.db.models.CheckHistory.findByPk(res.body.id);
      expect(row?.patientId).toBe(team.patientA.patientId);
      expect(row!.checkTime.getTime()).toBeGreaterThanOrEqual(before - 5);
      expect(row!.checkTime.getTime()).toBeLessThanOrEqual(after + 5);
    });

    it('answers the same at the /check-history alias', async () => {
      const res = await http(t.url, 'POST', '/check-history', {
        token: team.doctorA.token,
        body: { patient_id: team.patientA.patientId },
      });
      expect(res.status).toBe(201);
      expect(await t.db.models.CheckHistory.findByPk(res.body.id)).not.toBeNull();
    });

    it('stores an explicit ISO 8601 check_time exactly; an offset is honoured and no zone means UTC', async () => {
      const cases = [
        ['2024-03-01T09:30:15.250Z', '2024-03-01T09:30:15.250Z'],
        ['2024-03-01T11:30:00+02:00', '2024-03-01T09:30:00.000Z'],
        ['2024-03-01T09:30:00', '2024-03-01T09:30:00.000Z'],
        ['2024-03-01', '2024-03-01T00:00:00.000Z'],
      ];
      for (const [sent, stored] of cases) {
        const res = await http(t.url, 'POST', '/check_history', {
          token: team.doctorA.token,
          body: { patient_id: team.patientA.patientId, check_time: sent },
        });
        expect(res.status, sent).toBe(201);
        const row = await t.db.models.CheckHistory.findByPk(res.body.id);
        expect(row!.checkTime.toISOString(), sent).toBe(stored);
      }
    });

    it('adds an array of checks in one call and answers an array of {id} in order', async () => {
      const res = await http(t.url, 'POST', '/check_history', {
        token: team.doctorA.token,
        body: [
          { patient_id: team.patientA.patientId, check_time: '2024-04-01T08:00:00Z' },
          { patient_id: team.patientA.patientId, check_time: '2024-04-02T08:00:00Z' },
        ],
      });
      expect(res.status).toBe(201);
      expect(res.body).toHaveLength(2);
      const rows = await Promise.all(
        res.body.map((r: { id: number }) => t.db.models.CheckHistory.findByPk(r.id)),
      );
      expect(rows.map((r) => r!.checkTime.toISOString())).toEqual([
        '2024-04-01T08:00:00.000Z',
        '2024-04-02T08:00:00.000Z',
      ]);
    });

    it('lets an admin add a check for any patient', async () => {
      const res = await http(t.url, 'POST', '/check_history', {
        token: team.admin.token,
        body: [{ patient_id: team.patientA.patientId }, { patient_id: team.patientB.patientId }],
      });
      expect(res.status).toBe(201);
      expect(res.body).toHaveLength(2);
    });

    it('rejects the whole batch when the patient at index 1 is unknown: 400 naming index 1, nothing written', async () => {
      const before = await counts();
      const res = await http(t.url, 'POST', '/check_history', {
        token: team.doctorA.token,
        body: [
          { patient_id: team.patientA.patientId },
          { patient_id: 999_999 },
          { patient_id: team.patientA.patientId },
        ],
      });
      expect(res.status).toBe(400);
      expect(res.body.error).toContain('item 1');
      expect(res.body.issues).toEqual([{ path: '1.patient_id', message: 'Patient not found' }]);
      expect(await counts()).toEqual(before);
    });

    it("answers another doctor's patient in a batch exactly like an unknown one", async () => {
      const before = await counts();
      const res = await http(t.url, 'POST', '/check_history', {
        token: team.doctorA.token,
        body: [{ patient_id: team.patientA.patientId }, { patient_id: team.patientB.patientId }],
      });
      expect(res.status).toBe(400);
      expect(res.body.issues).toEqual([{ path: '1.patient_id', message: 'Patient not found' }]);
      expect(await counts()).toEqual(before);
    });

    it("answers 404 for one check on another doctor's patient, as for a patient that does not exist", async () => {
      const before = await counts();
      const other = await http(t.url, 'POST', '/check_history', {
        token: team.doctorA.token,
        body: { patient_id: team.patientB.patientId },
      });
      const absent = await http(t.url, 'POST', '/check_history', {
        token: team.doctorA.token,
        body: { patient_id: 999_999 },
      });
      expect(other.status).toBe(404);
      expect(absent.status).toBe(404);
      expect(other.body).toEqual(absent.body);
      expect(await counts()).toEqual(before);
    });

    it('answers 401 without a token and 403 to a patient', async () => {
      const anonymous = await http(t.url, 'POST', '/check_history', {
        body: { patient_id: team.patientA.patientId },
      });
      expect(anonymous.status).toBe(401);
      const patient = await http(t.url, 'POST', '/check_history', {
        token: team.patientA.token,
        body: { patient_id: team.patientA.patientId },
      });
      expect(patient.status).toBe(403);
    });

    it('answers 415 to a body that is not JSON and 400 to broken or invalid JSON, writing nothing', async () => {
      const before = await counts();
      const post = (options: Parameters<typeof http>[3]) =>
        http(t.url, 'POST', '/check_history', { token: team.doctorA.token, ...options });

      const notJson = await post({
        raw: `patient_id=${team.patientA.patientId}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(notJson.status).toBe(415);
      expect(notJson.body.error).toMatch(/application\/json/);

      const broken = await post({ raw: '{"patient_id": ', headers: { 'content-type': 'application/json' } });
      expect(broken.status).toBe(400);

      const badDate = await post({
        body: [
          { patient_id: team.patientA.patientId },
          { patient_id: team.patientA.patientId, check_time: '2024-02-30T10:00:00Z' },
        ],
      });
      expect(badDate.status).toBe(400);
      expect(badDate.body.issues).toEqual([
        { path: '1.check_time', message: 'must be a valid ISO 8601 date' },
      ]);

      const words = await post({ body: { patient_id: team.patientA.patientId, check_time: 'yesterday' } });
      expect(words.status).toBe(400);
      expect(words.body.issues[0].path).toBe('check_time');

      for (const body of [
        [],
        {},
        { patient_id: 'one' },
        { patient_id: team.patientA.patientId, diagnosis: 'x' },
        { patient_id: team.patientA.patientId, check_time: 1_700_000_000_000 },
      ]) {
        const res = await post({ body });
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error, JSON.stringify(body)).toEqual(expect.any(String));
        expect(res.body.issues, JSON.stringify(body)).toEqual(expect.any(Array));
      }
      expect(await counts()).toEqual(before);
    });
  });

  describe('create over tRPC', () => {
    it('adds a check with the default time and returns {id, patientId, checkTime} with a Date', async () => {
      const before = Date.now();
      const check = one(await doctorA.checkHistory.create.mutate({ patientId: team.patientA.patientId }));
      expect(Object.keys(check).sort()).toEqual(['checkTime', 'id', 'patientId']);
      expect(check.patientId).toBe(team.patientA.patientId);
      expect(check.checkTime).toBeInstanceOf(Date);
      expect(check.checkTime.getTime()).toBeGreaterThanOrEqual(before - 5);
      expect(check.checkTime.getTime()).toBeLessThanOrEqual(Date.now() + 5);
      const row = await t.db.models.CheckHistory.findByPk(check.id);
      expect(row!.checkTime.getTime()).toBe(check.checkTime.getTime());
    });

    it('takes an explicit Date and an array, returning the same shape as the input', async () => {
      const when = new Date('2023-12-24T18:45:00.123Z');
      const single = await doctorA.checkHistory.create.mutate({
        patientId: team.patientA.patientId,
        checkTime: when,
      });
      expect(Array.isArray(single)).toBe(false);
      expect(one(single).checkTime.toISOString()).toBe(when.toISOString());
      const batch = await doctorA.checkHistory.createMany.mutate([
        { patientId: team.patientA.patientId, checkTime: when },
        { patientId: team.patientA.patientId },
      ]);
      expect(many(batch)).toHaveLength(2);
      expect(many(batch)[0]!.checkTime.toISOString()).toBe(when.toISOString());
      expect(many(batch)[1]!.id).toBeGreaterThan(many(batch)[0]!.id);
    });

    it('accepts a time up to 5 minutes ahead (clock skew) and rejects one further in the future', async () => {
      const soon = new Date(Date.now() + 60_000);
      expect(
        await trpcCode(
          doctorA.checkHistory.create.mutate({ patientId: team.patientA.patientId, checkTime: soon }),
        ),
      ).toBe('OK');
      const later = new Date(Date.now() + 10 * 60_000);
      const before = await counts();
      const error = await doctorA.checkHistory.createMany
        .mutate([
          { patientId: team.patientA.patientId },
          { patientId: team.patientA.patientId, checkTime: later },
        ])
        .catch((e) => e);
      expect(error.data.code).toBe('BAD_REQUEST');
      expect(error.data.issues).toEqual([
        { path: [1, 'checkTime'], message: 'must not be more than 5 minutes in the future' },
      ]);
      expect(await counts()).toEqual(before);
    });

    it("doctor cannot add a check for another doctor's patient (NOT_FOUND)", async () => {
      const before = await counts();
      expect(await trpcCode(doctorA.checkHistory.create.mutate({ patientId: team.patientB.patientId }))).toBe(
        'NOT_FOUND',
      );
      expect(await counts()).toEqual(before);
    });

    it('an unlinked doctor account reaches no patient', async () => {
      const unlinked = await signedInUser(t, 'doctor');
      const client = trpcClient(t.url, unlinked.token);
      expect(await trpcCode(client.checkHistory.create.mutate({ patientId: team.patientA.patientId }))).toBe(
        'NOT_FOUND',
      );
      expect(await trpcCode(client.checkHistory.list.query({ patientId: team.patientA.patientId }))).toBe(
        'NOT_FOUND',
      );
    });

    it('services need checkHistory:write to add and checkHistory:read to list', async () => {
      const writer = await serviceToken(t, team.admin.id, ['checkHistory:write']);
      const reader = await serviceToken(t, team.admin.id, ['checkHistory:read']);
      const w = trpcClient(t.url, writer.token);
      const r = trpcClient(t.url, reader.token);
      const check = one(await w.checkHistory.create.mutate({ patientId: team.patientB.patientId }));
      expect(check.patientId).toBe(team.patientB.patientId);
      expect(await trpcCode(r.checkHistory.create.mutate({ patientId: team.patientB.patientId }))).toBe(
        'FORBIDDEN',
      );
      expect(await trpcCode(w.checkHistory.list.query({ patientId: team.patientB.patientId }))).toBe(
        'FORBIDDEN',
      );
      const page = await r.checkHistory.list.query({ patientId: team.patientB.patientId });
      expect(page.items.map((c) => c.id)).toContain(check.id);
      const audit = await t.db.models.AuditEvent.findOne({
        where: { actorType: 'service', actorId: writer.id, action: 'create' },
      });
      expect(audit).toMatchObject({
        actorName: writer.name,
        actorRole: 'service',
        patientId: team.patientB.patientId,
      });
    });
  });

  describe('audit of writes', () => {
    it('writes one create row per patient, in the same request, naming actor, procedure and request id', async () => {
      const last = await lastAuditId(t);
      const admin = trpcClient(t.url, team.admin.token);
      await admin.checkHistory.createMany.mutate([
        { patientId: team.patientA.patientId },
        { patientId: team.patientB.patientId },
        { patientId: team.patientA.patientId },
      ]);
      const rows = (await t.db.models.AuditEvent.findAll({ order: [['id', 'ASC']] })).filter(
        (r) => r.id > last,
      );
      expect(rows.map((r) => r.patientId).sort()).toEqual(
        [team.patientA.patientId, team.patientB.patientId].sort(),
      );
      for (const row of rows) {
        expect(row).toMatchObject({
          actorType: 'user',
          actorId: team.admin.id,
          actorName: team.admin.username,
          actorRole: 'admin',
          action: 'create',
          procedure: 'checkHistory.create',
        });
        expect(row.requestId).toMatch(/\S{8,}/);
      }
      expect(new Set(rows.map((r) => r.requestId)).size).toBe(1);
    });

    it('writes nothing at all when the audit row cannot be written (same transaction)', async () => {
      const before = await counts();
      t.db.models.AuditEvent.addHook('beforeBulkCreate', 'fail-audit', () => {
        throw new Error('audit store unavailable');
      });
      try {
        const res = await http(t.url, 'POST', '/check_history', {
          token: team.doctorA.token,
          body: [{ patient_id: team.patientA.patientId }, { patient_id: team.patientA.patientId }],
        });
        expect(res.status).toBe(500);
        expect(res.body).toEqual({ error: 'Internal server error' });
      } finally {
        t.db.models.AuditEvent.removeHook('beforeBulkCreate', 'fail-audit');
      }
      expect(await counts()).toEqual(before);
    });
  });

  describe('list', () => {
    let patientId: number;
    let patientToken: string;
    let doctor: TRPCClient<AppRouter>;
    const times = [
      '2024-01-05T10:00:00.000Z',
      '2024-01-01T10:00:00.000Z',
      '2024-01-03T10:00:00.000Z',
      '2024-01-03T10:00:00.000Z',
      '2024-01-02T10:00:00.000Z',
      '2024-01-04T10:00:00.000Z',
    ];

    beforeAll(async () => {
      const patient = await linkedPatient(t, team.doctorA.doctorId);
      patientId = patient.patientId;
      patientToken = patient.token;
      doctor = doctorA;
      await doctor.checkHistory.createMany.mutate(times.map((s) => ({ patientId, checkTime: new Date(s) })));
    });

    it('pages through the checks newest first, ties by id, with no gaps or repeats', async () => {
      const all = await checksOf(patientId);
      const expected = [...all]
        .sort((a, b) => b.checkTime.getTime() - a.checkTime.getTime() || b.id - a.id)
        .map((r) => r.id);
      const seen: number[] = [];
      let cursor: number | null = null;
      let pages = 0;
      do {
        const result: { items: { id: number }[]; nextCursor: number | null } =
          await doctor.checkHistory.list.query({
            patientId,
            limit: 4,
            cursor,
          });
        seen.push(...result.items.map((c) => c.id));
        cursor = result.nextCursor;
        pages++;
      } while (cursor !== null);
      expect(pages).toBe(2);
      expect(seen).toEqual(expected);
    });

    it('filters by check time: from inclusive, to exclusive', async () => {
      const result = await doctor.checkHistory.list.query({
        patientId,
        from: new Date('2024-01-02T10:00:00Z'),
        to: new Date('2024-01-04T10:00:00Z'),
      });
      expect(result.items.map((c) => c.checkTime.toISOString())).toEqual([
        '2024-01-03T10:00:00.000Z',
        '2024-01-03T10:00:00.000Z',
        '2024-01-02T10:00:00.000Z',
      ]);
      expect(
        await trpcCode(
          doctor.checkHistory.list.query({
            patientId,
            from: new Date('2024-02-01'),
            to: new Date('2024-01-01'),
          }),
        ),
      ).toBe('BAD_REQUEST');
    });

    it('lets the patient themself and an admin read it, not another patient or doctor', async () => {
      const self = await trpcClient(t.url, patientToken).checkHistory.list.query({ patientId });
      expect(self.items).toHaveLength(times.length);
      expect(Object.keys(self.items[0]!).sort()).toEqual(['checkTime', 'id', 'patientId']);
      const admin = await trpcClient(t.url, team.admin.token).checkHistory.list.query({ patientId });
      expect(admin.items).toHaveLength(times.length);
      expect(
        await trpcCode(trpcClient(t.url, team.patientB.token).checkHistory.list.query({ patientId })),
      ).toBe('NOT_FOUND');
      expect(
        await trpcCode(trpcClient(t.url, team.doctorB.token).checkHistory.list.query({ patientId })),
      ).toBe('NOT_FOUND');
      expect(await trpcCode(trpcClient(t.url).checkHistory.list.query({ patientId }))).toBe('UNAUTHORIZED');
    });

    it('rejects a cursor from another list', async () => {
      const [other] = await checksOf(team.patientA.patientId);
      expect(await trpcCode(doctor.checkHistory.list.query({ patientId, cursor: other!.id }))).toBe(
        'BAD_REQUEST',
      );
    });

    it('audits every read with the reader and the patient', async () => {
      const last = await lastAuditId(t);
      await trpcClient(t.url, patientToken).checkHistory.list.query({ patientId });
      const rows = (await t.db.models.AuditEvent.findAll()).filter((r) => r.id > last);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        actorType: 'user',
        actorRole: 'patient',
        action: 'read',
        patientId,
        procedure: 'checkHistory.list',
      });
      expect(rows[0]!.requestId).toBeTruthy();
    });
  });
});
