import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Caller, callerFor, outcome } from './helpers/callers';
import {
  auditedActs,
  auditSince,
  type CareTeam,
  careTeam,
  lastAuditId,
  linkedPatient,
  serviceToken,
  withAuditFailing,
} from './helpers/clinical';
import { http, signedInUser, startTestServer, type TestServer } from './helpers/server';

/*
 * Check-ups: the original REST endpoints over HTTP (the wire is their point), the procedures in
 * process. The world is the care team; tests that need checks to exist write them first.
 */
describe('check history', () => {
  let t: TestServer;
  let team: CareTeam;
  let doctorA: Caller;
  let admin: Caller;

  const checksOf = (patientId: number) =>
    t.db.models.CheckHistory.findAll({ where: { patientId }, order: [['id', 'ASC']] });
  const counts = async () => ({
    checks: await t.db.models.CheckHistory.count(),
    audit: await auditedActs(t),
  });

  beforeAll(async () => {
    t = await startTestServer();
    team = await careTeam(t);
    doctorA = callerFor(t, team.doctorA.token);
    admin = callerFor(t, team.admin.token);
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

  describe('create and createMany (procedures)', () => {
    it('adds a check with the default time and returns {id, patientId, checkTime} with a Date', async () => {
      const before = Date.now();
      const check = await doctorA.checkHistory.create({ patientId: team.patientA.patientId });
      expect(Object.keys(check).sort()).toEqual(['checkTime', 'id', 'patientId']);
      expect(check.patientId).toBe(team.patientA.patientId);
      expect(check.checkTime).toBeInstanceOf(Date);
      expect(check.checkTime.getTime()).toBeGreaterThanOrEqual(before - 5);
      expect(check.checkTime.getTime()).toBeLessThanOrEqual(Date.now() + 5);
      const row = await t.db.models.CheckHistory.findByPk(check.id);
      expect(row!.checkTime.getTime()).toBe(check.checkTime.getTime());
    });

    it('create takes one object and returns one; createMany takes an array and returns an array in order', async () => {
      const when = new Date('2023-12-24T18:45:00.123Z');
      const single = await doctorA.checkHistory.create({
        patientId: team.patientA.patientId,
        checkTime: when,
      });
      expect(Array.isArray(single)).toBe(false);
      expect(single.checkTime.toISOString()).toBe(when.toISOString());
      const batch = await doctorA.checkHistory.createMany([
        { patientId: team.patientA.patientId, checkTime: when },
        { patientId: team.patientA.patientId },
      ]);
      expect(batch).toHaveLength(2);
      expect(batch[0]!.checkTime.toISOString()).toBe(when.toISOString());
      expect(batch[1]!.checkTime.getTime()).toBeGreaterThan(when.getTime());
      expect(batch[1]!.id).toBeGreaterThan(batch[0]!.id);
    });

    it('create given an array is BAD_REQUEST naming checkHistory.createMany, and nothing is written', async () => {
      const before = await counts();
      const refused = await outcome(
        doctorA.checkHistory.create([{ patientId: team.patientA.patientId }] as never),
      );
      expect(refused.code).toBe('BAD_REQUEST');
      expect(refused.message).toContain('checkHistory.createMany');
      expect(await counts()).toEqual(before);
    });

    it('createMany is all or nothing: an unknown patient at index 1 rejects the batch, naming the index', async () => {
      const before = await counts();
      const error = await outcome(
        doctorA.checkHistory.createMany([
          { patientId: team.patientA.patientId },
          { patientId: 999_999 },
          { patientId: team.patientA.patientId },
        ]),
      );
      expect(error).toEqual({
        code: 'BAD_REQUEST',
        message: 'Invalid input: item 1: patientId: Patient not found',
        issues: [{ path: [1, 'patientId'], message: 'Patient not found' }],
      });
      expect(await counts()).toEqual(before);
    });

    it('accepts a time up to 5 minutes ahead (clock skew) and rejects one further in the future', async () => {
      const soon = new Date(Date.now() + 60_000);
      expect(
        (await outcome(doctorA.checkHistory.create({ patientId: team.patientA.patientId, checkTime: soon })))
          .code,
      ).toBe('OK');
      const later = new Date(Date.now() + 10 * 60_000);
      const before = await counts();
      const error = await outcome(
        doctorA.checkHistory.createMany([
          { patientId: team.patientA.patientId },
          { patientId: team.patientA.patientId, checkTime: later },
        ]),
      );
      expect(error.code).toBe('BAD_REQUEST');
      expect(error.issues).toEqual([
        { path: [1, 'checkTime'], message: 'must not be more than 5 minutes in the future' },
      ]);
      expect(await counts()).toEqual(before);
    });

    it("doctor cannot add a check for another doctor's patient (NOT_FOUND)", async () => {
      const before = await counts();
      expect((await outcome(doctorA.checkHistory.create({ patientId: team.patientB.patientId }))).code).toBe(
        'NOT_FOUND',
      );
      expect(await counts()).toEqual(before);
    });

    it('an unlinked doctor account reaches no patient', async () => {
      const unlinked = callerFor(t, (await signedInUser(t, 'doctor')).token);
      const before = await counts();
      expect((await outcome(unlinked.checkHistory.create({ patientId: team.patientA.patientId }))).code).toBe(
        'NOT_FOUND',
      );
      expect((await outcome(unlinked.checkHistory.list({ patientId: team.patientA.patientId }))).code).toBe(
        'NOT_FOUND',
      );
      expect((await counts()).checks).toBe(before.checks);
    });

    it('services need checkHistory:write to add and checkHistory:read to list', async () => {
      const writer = await serviceToken(t, team.admin.token, ['checkHistory:write']);
      const reader = await serviceToken(t, team.admin.token, ['checkHistory:read']);
      const w = callerFor(t, writer.token);
      const r = callerFor(t, reader.token);
      const check = await w.checkHistory.create({ patientId: team.patientB.patientId });
      expect(check.patientId).toBe(team.patientB.patientId);
      expect((await outcome(r.checkHistory.create({ patientId: team.patientB.patientId }))).code).toBe(
        'FORBIDDEN',
      );
      expect((await outcome(w.checkHistory.list({ patientId: team.patientB.patientId }))).code).toBe(
        'FORBIDDEN',
      );
      const page = await r.checkHistory.list({ patientId: team.patientB.patientId });
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
      await admin.checkHistory.createMany([
        { patientId: team.patientA.patientId },
        { patientId: team.patientB.patientId },
        { patientId: team.patientA.patientId },
      ]);
      const rows = await auditSince(t, last);
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
          procedure: 'checkHistory.createMany',
        });
        expect(row.requestId).toMatch(/\S{8,}/);
      }
      expect(new Set(rows.map((r) => r.requestId)).size).toBe(1);
    });

    it('writes nothing at all when the audit row cannot be written (same transaction)', async () => {
      const before = await counts();
      await withAuditFailing(t, async () => {
        const res = await http(t.url, 'POST', '/check_history', {
          token: team.doctorA.token,
          body: [{ patient_id: team.patientA.patientId }, { patient_id: team.patientA.patientId }],
        });
        expect(res.status).toBe(500);
        expect(res.body).toEqual({ error: 'Internal server error' });
      });
      expect(await counts()).toEqual(before);
    });
  });

  describe('list', () => {
    let patientId: number;
    let patientToken: string;
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
      await doctorA.checkHistory.createMany(times.map((s) => ({ patientId, checkTime: new Date(s) })));
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
          await doctorA.checkHistory.list({
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
      const result = await doctorA.checkHistory.list({
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
        (
          await outcome(
            doctorA.checkHistory.list({
              patientId,
              from: new Date('2024-02-01'),
              to: new Date('2024-01-01'),
            }),
          )
        ).code,
      ).toBe('BAD_REQUEST');
    });

    it('lets the patient themself and an admin read it, not another patient or doctor', async () => {
      const self = await callerFor(t, patientToken).checkHistory.list({ patientId });
      expect(self.items).toHaveLength(times.length);
      expect(Object.keys(self.items[0]!).sort()).toEqual(['checkTime', 'id', 'patientId']);
      const asAdmin = await admin.checkHistory.list({ patientId });
      expect(asAdmin.items).toHaveLength(times.length);
      for (const token of [team.patientB.token, team.doctorB.token]) {
        expect((await outcome(callerFor(t, token).checkHistory.list({ patientId }))).code).toBe('NOT_FOUND');
      }
      expect((await outcome(callerFor(t).checkHistory.list({ patientId }))).code).toBe('UNAUTHORIZED');
    });

    it('rejects a cursor from another list', async () => {
      const other = await doctorA.checkHistory.create({ patientId: team.patientA.patientId });
      expect((await outcome(doctorA.checkHistory.list({ patientId, cursor: other.id }))).code).toBe(
        'BAD_REQUEST',
      );
    });

    it('audits every read with the reader and the patient', async () => {
      const last = await lastAuditId(t);
      await callerFor(t, patientToken).checkHistory.list({ patientId });
      const rows = await auditSince(t, last);
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
