import { Op } from '@hdms/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Caller, callerFor, outcome } from './helpers/callers';
import {
  auditedActs,
  auditSince,
  type CareTeam,
  careTeam,
  lastAuditId,
  doctorWithCaller,
  linkedDoctor,
  linkedPatient,
  patientWithCaller,
  serviceToken,
} from './helpers/clinical';
import { type ReceivedEvent, settle, subscribe, type Subscription } from './helpers/events';
import { waitForJob } from './helpers/jobs';
import { http, signedInUser, startTestServer, type TestServer } from './helpers/server';

/*
 * Consent: consent.grant / revoke / list, what a consented doctor may do (the care team's rights,
 * not admission data), and how reads, jobs, exports and live subscriptions follow a grant and its
 * end; the scope's facts are one indexed query per doctor request.
 */

describe('consent', () => {
  let t: TestServer;
  let team: CareTeam;
  let admin: Caller;
  let doctorA: Caller;
  const subscriptions: Subscription[] = [];

  /** A doctor of their own (linked, signed in). */
  const freshDoctor = () => doctorWithCaller(t);

  /** A patient of doctor A's with their own signed-in account. */
  const patientOfA = () => patientWithCaller(t, team.doctorA.doctorId);

  /** What a refused call must leave as it was. */
  const counts = async () => ({
    grants: await t.db.models.ConsentGrant.count(),
    revoked: await t.db.models.ConsentGrant.count({ where: { revokedAt: { [Op.ne]: null } } }),
    acts: await auditedActs(t),
    accessEvents: await t.db.models.ChangeEvent.count({ where: { type: 'access.changed' } }),
  });

  /** A new doctor of the register: an event every signed-in subscriber receives (a `settle` marker). */
  async function doctorMarker() {
    const doctor = await admin.doctors.create({ name: 'Dr. Marker', specialization: 'Markers' });
    return (e: ReceivedEvent) => e.type === 'doctor.created' && e.entityId === doctor.id;
  }

  beforeAll(async () => {
    t = await startTestServer();
    team = await careTeam(t);
    admin = callerFor(t, team.admin.token);
    doctorA = callerFor(t, team.doctorA.token);
  });

  afterAll(async () => {
    for (const sub of subscriptions) sub.close();
    await t?.close();
  });

  it("gives a doctor the care team's rights over the record without changing the assigned doctor", async () => {
    const doctor = await freshDoctor();
    const patient = await patientOfA();
    expect((await outcome(doctor.caller.patients.get({ id: patient.patientId }))).code).toBe('NOT_FOUND');

    const grant = await patient.caller.consent.grant({ doctorId: doctor.doctorId });
    expect(grant).toEqual({
      id: expect.any(Number),
      patientId: patient.patientId,
      patientName: expect.any(String),
      doctorId: doctor.doctorId,
      doctorName: doctor.name,
      until: null,
      createdAt: expect.any(Date),
      revokedAt: null,
      status: 'active',
    });

    expect(await doctor.caller.patients.get({ id: patient.patientId })).toMatchObject({
      doctorId: team.doctorA.doctorId,
      diagnosis: 'secret diagnosis',
      access: 'consent',
    });
    expect((await doctor.caller.patients.list({})).items.map((p) => [p.id, p.access])).toEqual([
      [patient.patientId, 'consent'],
    ]);
    expect((await doctorA.patients.get({ id: patient.patientId })).access).toBe('assigned');
    const updated = await doctor.caller.patients.update({
      id: patient.patientId,
      diagnosis: 'second opinion',
    });
    expect(updated).toMatchObject({ diagnosis: 'second opinion', access: 'consent' });
    await doctor.caller.notes.create({ patientId: patient.patientId, body: 'Seen for a second opinion.' });
    await doctor.caller.checkHistory.create({ patientId: patient.patientId });
    expect((await patient.caller.notes.list({ patientId: patient.patientId })).items[0]).toMatchObject({
      authorName: doctor.name,
    });
    expect(
      (await doctor.caller.patients.history({ patientId: patient.patientId })).items[0]!.changes,
    ).toEqual({
      diagnosis: { old: 'secret diagnosis', new: 'second opinion' },
    });

    // Admission data stays with the admins and the assigned doctor.
    const refused = await outcome(doctor.caller.patients.update({ id: patient.patientId, age: 50 }));
    expect(refused).toMatchObject({
      code: 'FORBIDDEN',
      message: expect.stringMatching(
        /^You may not change age: you reach this patient through the patient's consent/,
      ),
    });
    expect(
      (await outcome(doctor.caller.patients.update({ id: patient.patientId, bedNumber: '3' }))).code,
    ).toBe('FORBIDDEN');
    expect((await t.db.models.Patient.findByPk(patient.patientId))!.doctorId).toBe(team.doctorA.doctorId);

    // The export: requested, run and downloaded by the consented doctor.
    const { jobId } = await doctor.caller.patients.export({ patientId: patient.patientId });
    expect((await waitForJob(t.db, jobId)).status).toBe('succeeded');
    const download = await http(t.url, 'GET', `/jobs/${jobId}/result`, { token: doctor.token });
    expect(download.status).toBe(200);
    expect(download.body).toMatchObject({ patient: { id: patient.patientId, diagnosis: 'second opinion' } });
  });

  it('ends with a revocation at once: reads, notes, exports and downloads answer NOT_FOUND', async () => {
    const doctor = await freshDoctor();
    const patient = await patientOfA();
    const grant = await patient.caller.consent.grant({ doctorId: doctor.doctorId });
    const { jobId } = await doctor.caller.patients.export({ patientId: patient.patientId });
    await waitForJob(t.db, jobId);

    const since = await lastAuditId(t);
    const revoked = await patient.caller.consent.revoke({ id: grant.id });
    expect(revoked).toMatchObject({ id: grant.id, status: 'revoked', revokedAt: expect.any(Date) });
    for (const call of [
      () => doctor.caller.patients.get({ id: patient.patientId }),
      () => doctor.caller.notes.list({ patientId: patient.patientId }),
      () => doctor.caller.checkHistory.create({ patientId: patient.patientId }),
      () => doctor.caller.patients.update({ id: patient.patientId, diagnosis: 'too late' }),
      () => doctor.caller.patients.export({ patientId: patient.patientId }),
    ]) {
      expect((await outcome(call())).code).toBe('NOT_FOUND');
    }
    expect((await doctor.caller.patients.list({})).items).toEqual([]);
    const download = await http(t.url, 'GET', `/jobs/${jobId}/result`, { token: doctor.token });
    expect(download).toMatchObject({ status: 404, body: { error: 'Export not found' } });

    const rows = (await auditSince(t, since)).filter((r) => r.procedure === 'consent.revoke');
    expect(rows).toMatchObject([
      {
        action: 'revoke',
        actorId: patient.id,
        patientId: patient.patientId,
        targetType: 'doctor',
        targetId: doctor.doctorId,
      },
    ]);
    // Revoking again changes nothing and writes nothing.
    const before = await counts();
    expect(await patient.caller.consent.revoke({ id: grant.id })).toEqual(revoked);
    expect(await counts()).toEqual(before);
  });

  it('lists the grants a patient gave and the grants a doctor holds, newest first, filtered and audited', async () => {
    const doctor = await freshDoctor();
    const other = await freshDoctor();
    const patient = await patientOfA();
    const second = await patientOfA();
    const first = await patient.caller.consent.grant({ doctorId: doctor.doctorId });
    const toOther = await patient.caller.consent.grant({ doctorId: other.doctorId });
    const fromSecond = await second.caller.consent.grant({ doctorId: doctor.doctorId });
    await patient.caller.consent.revoke({ id: toOther.id });

    const gave = await patient.caller.consent.list({});
    expect(gave.items.map((g) => [g.id, g.doctorName, g.status])).toEqual([
      [toOther.id, other.name, 'revoked'],
      [first.id, doctor.name, 'active'],
    ]);
    expect((await patient.caller.consent.list({ status: 'active' })).items.map((g) => g.id)).toEqual([
      first.id,
    ]);
    expect(
      (await patient.caller.consent.list({ search: other.name.toUpperCase() })).items.map((g) => g.id),
    ).toEqual([toOther.id]);
    const page = await patient.caller.consent.list({ limit: 1 });
    expect(page.items.map((g) => g.id)).toEqual([toOther.id]);
    expect(
      (await patient.caller.consent.list({ limit: 1, cursor: page.nextCursor })).items.map((g) => g.id),
    ).toEqual([first.id]);

    const since = await lastAuditId(t);
    const held = await doctor.caller.consent.list({});
    expect(held.items.map((g) => [g.id, g.patientId])).toEqual([
      [fromSecond.id, second.patientId],
      [first.id, patient.patientId],
    ]);
    const reads = (await auditSince(t, since)).filter((r) => r.procedure === 'consent.list');
    expect(reads.map((r) => r.patientId).sort()).toEqual([patient.patientId, second.patientId].sort());
    expect((await other.caller.consent.list({ status: 'active' })).items).toEqual([]);

    const unlinkedDoctor = await signedInUser(t, 'doctor');
    const unlinkedPatient = await signedInUser(t, 'patient');
    for (const token of [unlinkedDoctor.token, unlinkedPatient.token]) {
      expect(await callerFor(t, token).consent.list({})).toEqual({ items: [], nextCursor: null });
    }
  });

  it('takes an `until` in the future (at most 10 years ahead) and ends by itself then', async () => {
    const doctor = await freshDoctor();
    const patient = await patientOfA();
    const before = await counts();
    for (const [until, message] of [
      [new Date(Date.now() - 1000), 'must be in the future'],
      [new Date(Date.now() + 11 * 365 * 86_400_000), 'must be at most 10 years from now'],
      [new Date('invalid'), 'Invalid date'],
    ] as const) {
      const refused = await outcome(patient.caller.consent.grant({ doctorId: doctor.doctorId, until }));
      expect(refused.code).toBe('BAD_REQUEST');
      expect(refused.issues).toEqual([{ path: ['until'], message }]);
    }
    expect(await counts()).toEqual(before);

    const until = new Date(Date.now() + 7 * 86_400_000);
    const grant = await patient.caller.consent.grant({ doctorId: doctor.doctorId, until });
    expect(grant).toMatchObject({ until, status: 'active' });
    expect((await doctor.caller.patients.get({ id: patient.patientId })).access).toBe('consent');
    // A week passes: the grant's end moves to just before now.
    await t.db.models.ConsentGrant.update(
      { expiresAt: new Date(Date.now() - 1) },
      { where: { id: grant.id } },
    );
    expect((await outcome(doctor.caller.patients.get({ id: patient.patientId }))).code).toBe('NOT_FOUND');
    expect((await patient.caller.consent.list({})).items[0]).toMatchObject({
      id: grant.id,
      status: 'expired',
    });
    expect((await patient.caller.consent.list({ status: 'expired' })).items.map((g) => g.id)).toEqual([
      grant.id,
    ]);
    // An ended grant is not revoked again, and a new one may be given.
    expect(await patient.caller.consent.revoke({ id: grant.id })).toMatchObject({
      status: 'expired',
      revokedAt: null,
    });
    await patient.caller.consent.grant({ doctorId: doctor.doctorId });
    expect((await doctor.caller.patients.get({ id: patient.patientId })).access).toBe('consent');
  });

  it('answers the assigned doctor and a second grant in force with CONFLICT, and refuses everyone but the patient', async () => {
    const doctor = await freshDoctor();
    const patient = await patientOfA();
    const grant = await patient.caller.consent.grant({ doctorId: doctor.doctorId });
    const unlinked = await signedInUser(t, 'patient');
    const service = await serviceToken(t, team.admin.token, ['patients:read', 'patients:write']);
    const otherPatient = await patientOfA();
    const before = await counts();

    expect(await outcome(patient.caller.consent.grant({ doctorId: team.doctorA.doctorId }))).toMatchObject({
      code: 'CONFLICT',
      message: `${team.doctorA.name} is your assigned doctor and already has access to your record`,
    });
    expect(await outcome(patient.caller.consent.grant({ doctorId: doctor.doctorId }))).toMatchObject({
      code: 'CONFLICT',
      message: `${doctor.name} already holds your consent (grant ${grant.id} until revoked); revoke it (consent.revoke) to give a new one`,
    });
    expect(await outcome(patient.caller.consent.grant({ doctorId: 2_000_000_000 }))).toMatchObject({
      code: 'BAD_REQUEST',
      issues: [{ path: ['doctorId'], message: 'Doctor not found' }],
    });
    expect(
      await outcome(callerFor(t, unlinked.token).consent.grant({ doctorId: doctor.doctorId })),
    ).toMatchObject({
      code: 'FORBIDDEN',
      message: 'Your account is not linked to a patient record yet; ask an admin to link it',
    });
    for (const [who, caller, code] of [
      ['admin', admin, 'FORBIDDEN'],
      ['doctor', doctor.caller, 'FORBIDDEN'],
      ['service', callerFor(t, service.token), 'FORBIDDEN'],
      ['anonymous', callerFor(t), 'UNAUTHORIZED'],
    ] as const) {
      expect((await outcome(caller.consent.grant({ doctorId: doctor.doctorId }))).code, who).toBe(code);
      expect((await outcome(caller.consent.revoke({ id: grant.id }))).code, who).toBe(code);
      if (who !== 'doctor') expect((await outcome(caller.consent.list({}))).code, who).toBe(code);
    }
    // Another patient's grant, and none at all, are alike.
    for (const id of [grant.id, 2_000_000_000]) {
      expect(await outcome(otherPatient.caller.consent.revoke({ id }))).toMatchObject({
        code: 'NOT_FOUND',
        message: 'Consent grant not found',
      });
    }
    expect((await outcome(callerFor(t, unlinked.token).consent.revoke({ id: grant.id }))).code).toBe(
      'NOT_FOUND',
    );
    expect(await counts()).toEqual(before);
    expect((await doctor.caller.patients.get({ id: patient.patientId })).access).toBe('consent');
  });

  it("is on the patient's audit trail: the grant, the consented doctor's reads, the revocation", async () => {
    const doctor = await freshDoctor();
    const patient = await patientOfA();
    const grant = await patient.caller.consent.grant({ doctorId: doctor.doctorId });
    await doctor.caller.patients.get({ id: patient.patientId });
    await patient.caller.consent.revoke({ id: grant.id });
    const mine = await patient.caller.audit.myAccess({});
    expect(mine.items.map((item) => [item.actorName, item.action, item.procedure, item.emergency])).toEqual([
      [patient.username, 'revoke', 'consent.revoke', false],
      [doctor.username, 'read', 'patients.get', false],
      [patient.username, 'create', 'consent.grant', false],
    ]);
    const trail = await admin.audit.list({ patientId: patient.patientId, action: 'create' });
    expect(trail.items[0]).toMatchObject({
      procedure: 'consent.grant',
      target: { type: 'doctor', id: doctor.doctorId, name: doctor.name },
    });
  });

  it("a live subscription follows it: the consented doctor receives the patient's changes, none after the revocation", async () => {
    const doctor = await freshDoctor();
    const patient = await patientOfA();
    const sub = await subscribe(t.url, doctor.token, {
      types: ['patient.updated', 'note.created', 'checkHistory.created', 'doctor.created'],
    });
    subscriptions.push(sub);
    const touch = async (what: string) => {
      await doctorA.patients.update({ id: patient.patientId, diagnosis: what });
      await doctorA.notes.create({ patientId: patient.patientId, body: what });
      await doctorA.checkHistory.create({ patientId: patient.patientId });
    };
    const mine = () => sub.events.filter((e) => e.patientId === patient.patientId).map((e) => e.type);

    await touch('before the grant');
    const grant = await patient.caller.consent.grant({ doctorId: doctor.doctorId });
    await touch('while granted');
    await settle([sub], doctorMarker);
    expect(mine()).toEqual(['patient.updated', 'note.created', 'checkHistory.created']);

    await patient.caller.consent.revoke({ id: grant.id });
    await touch('after the revocation');
    await settle([sub], doctorMarker);
    expect(mine()).toEqual(['patient.updated', 'note.created', 'checkHistory.created']);
    expect((await outcome(doctor.caller.patients.get({ id: patient.patientId }))).code).toBe('NOT_FOUND');
    expect(sub.errors).toEqual([]);
    sub.close();
  });

  it('background jobs follow it: an update and an export accepted under consent fail once it is revoked', async () => {
    const api = await startTestServer({}, { jobs: false });
    try {
      const assigned = await linkedDoctor(api);
      const doctor = await linkedDoctor(api);
      const patient = await linkedPatient(api, assigned.doctorId);
      const patientCaller = callerFor(api, patient.token);
      const doctorCaller = callerFor(api, doctor.token);
      const grant = await patientCaller.consent.grant({ doctorId: doctor.doctorId });
      const update = await doctorCaller.patients.updateAsync({ id: patient.patientId, diagnosis: 'queued' });
      const exported = await doctorCaller.patients.export({ patientId: patient.patientId });
      await patientCaller.consent.revoke({ id: grant.id });

      // Another instance on the same database runs the jobs, as the doctor stands now.
      const worker = await startTestServer({}, { target: api.target });
      try {
        for (const id of [update.jobId, exported.jobId]) {
          const job = await waitForJob(api.db, id);
          expect(job).toMatchObject({ status: 'failed', error: 'Patient not found' });
        }
        expect((await api.db.models.Patient.findByPk(patient.patientId))!.diagnosis).toBe('secret diagnosis');
      } finally {
        await worker.close();
      }
    } finally {
      await api.close();
    }
  });

  it("loads a doctor's consents and emergency accesses in one indexed query per request, and nothing for others", async () => {
    const doctor = await freshDoctor();
    const patient = await patientOfA();
    await patient.caller.consent.grant({ doctorId: doctor.doctorId });
    const statements: string[] = [];
    const { options } = t.db.sequelize as unknown as { options: { logging?: unknown } };
    const previous = options.logging;
    options.logging = (sql: string) => statements.push(sql.replace(/^Executing \([^)]*\): /, ''));
    const facts = () => statements.filter((sql) => /FROM consent_grants/.test(sql));
    try {
      await doctor.caller.patients.get({ id: patient.patientId });
      expect(facts()).toHaveLength(1);
      statements.length = 0;
      await patient.caller.patients.get({ id: patient.patientId });
      await admin.patients.get({ id: patient.patientId });
      await patient.caller.auth.me();
      expect(statements.filter((sql) => /consent_grants|emergency_accesses/.test(sql))).toEqual([]);
      statements.length = 0;
      await doctor.caller.patients.get({ id: patient.patientId });
    } finally {
      options.logging = previous;
    }
    const [sql] = facts();
    expect(sql).toMatch(/UNION ALL/);
    if (t.db.dialect === 'sqlite') {
      const [plan] = await t.db.sequelize.query(`EXPLAIN QUERY PLAN ${sql}`);
      const detail = (plan as { detail: string }[]).map((p) => p.detail).join('\n');
      expect(detail).toContain('consent_grants_doctor_open');
      expect(detail).toContain('emergency_accesses_doctor_open');
    } else {
      const [plan] = await t.db.sequelize.query(`EXPLAIN ${sql}`);
      const rows = plan as { table: string | null; key: string | null }[];
      const keys = Object.fromEntries(
        rows.filter((r) => r.table && !r.table.startsWith('<')).map((r) => [r.table, r.key]),
      );
      expect(keys.consent_grants).toMatch(/^consent_grants_doctor/);
      expect(keys.emergency_accesses).toBe('emergency_accesses_doctor_open');
    }
  });
});
