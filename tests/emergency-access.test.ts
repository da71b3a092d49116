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
import { waitFor } from './helpers/wait';

/*
 * Emergency ("break-the-glass") access: access.emergency / access.endEmergency, what the doctor may
 * do under it, its audit (rows with the reason, the patient's myAccess, the admins' list), its
 * event, who is refused, its limits, and how reads and live subscriptions follow its end.
 */

const REASON = 'Unconscious in the emergency room, allergy check before treatment';

describe('emergency access', () => {
  let t: TestServer;
  let team: CareTeam;
  let admin: Caller;
  let doctorA: Caller;
  const subscriptions: Subscription[] = [];

  /** A doctor of their own (linked, signed in), so that no test's open accesses count in another's. */
  const freshDoctor = () => doctorWithCaller(t);

  /** A patient of doctor A's with their own signed-in account. */
  const patientOfA = () => patientWithCaller(t, team.doctorA.doctorId);

  /** What a refused call must leave as it was. */
  const counts = async () => ({
    accesses: await t.db.models.EmergencyAccess.count(),
    acts: await auditedActs(t),
    events: await t.db.models.ChangeEvent.count({ where: { type: 'emergency.opened' } }),
  });

  async function follow(token: string, input: Parameters<typeof subscribe>[2] = {}) {
    const sub = await subscribe(t.url, token, input);
    subscriptions.push(sub);
    return sub;
  }

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

  it('opens a patient outside the care team to a doctor with a reason: the care team’s reads and clinical writes, until it is ended', async () => {
    const doctor = await freshDoctor();
    const patient = await patientOfA();
    expect((await outcome(doctor.caller.patients.get({ id: patient.patientId }))).code).toBe('NOT_FOUND');

    const before = Date.now();
    const opened = await doctor.caller.access.emergency({ patientId: patient.patientId, reason: REASON });
    expect(opened).toEqual({
      id: expect.any(Number),
      patientId: patient.patientId,
      expiresAt: expect.any(Date),
    });
    const lasts = opened.expiresAt.getTime() - before;
    expect(lasts).toBeGreaterThan(59 * 60_000);
    expect(lasts).toBeLessThanOrEqual(60 * 60_000 + 5_000);

    const record = await doctor.caller.patients.get({ id: patient.patientId });
    expect(record).toMatchObject({
      id: patient.patientId,
      doctorId: team.doctorA.doctorId,
      diagnosis: 'secret diagnosis',
      access: 'emergency',
    });
    const listed = await doctor.caller.patients.list({});
    expect(listed.items.map((p) => [p.id, p.access])).toEqual([[patient.patientId, 'emergency']]);
    const rest = await http(t.url, 'GET', '/patients', { token: doctor.token });
    expect(rest.body.map((p: { id: number }) => p.id)).toEqual([patient.patientId]);

    const updated = await doctor.caller.patients.update({ id: patient.patientId, diagnosis: 'anaphylaxis' });
    expect(updated).toMatchObject({ diagnosis: 'anaphylaxis', access: 'emergency' });
    await doctor.caller.notes.create({ patientId: patient.patientId, body: 'Given adrenaline 0.5 mg IM.' });
    await doctor.caller.checkHistory.create({ patientId: patient.patientId });
    expect((await doctor.caller.notes.list({ patientId: patient.patientId })).items).toHaveLength(1);
    expect((await doctor.caller.checkHistory.list({ patientId: patient.patientId })).items).toHaveLength(1);
    expect(
      (await doctor.caller.patients.history({ patientId: patient.patientId })).items.length,
    ).toBeGreaterThan(0);
    const { jobId } = await doctor.caller.patients.updateAsync({
      id: patient.patientId,
      prescribedMedicine: 'cetirizine',
    });
    expect(await waitForJob(t.db, jobId, ['succeeded'])).toMatchObject({ status: 'succeeded' });

    // The assigned doctor is unchanged, and still sees it as theirs.
    expect(await doctorA.patients.get({ id: patient.patientId })).toMatchObject({
      doctorId: team.doctorA.doctorId,
      prescribedMedicine: 'cetirizine',
      access: 'assigned',
    });

    const ended = await doctor.caller.access.endEmergency({ patientId: patient.patientId });
    expect(ended).toEqual({ id: opened.id, patientId: patient.patientId, endedAt: expect.any(Date) });
    expect((await outcome(doctor.caller.patients.get({ id: patient.patientId }))).code).toBe('NOT_FOUND');
    expect((await outcome(doctor.caller.notes.list({ patientId: patient.patientId }))).code).toBe(
      'NOT_FOUND',
    );
    expect((await doctor.caller.patients.list({})).items).toEqual([]);
    const again = await outcome(doctor.caller.access.endEmergency({ patientId: patient.patientId }));
    expect(again).toMatchObject({
      code: 'NOT_FOUND',
      message: 'You hold no open emergency access to this patient',
    });
  });

  it('keeps admission data the admins’ and the export the care team’s: FORBIDDEN, saying why, with nothing written', async () => {
    const doctor = await freshDoctor();
    const patient = await patientOfA();
    await doctor.caller.access.emergency({ patientId: patient.patientId, reason: REASON });
    const row = async () => (await t.db.models.Patient.findByPk(patient.patientId, { raw: true }))!;
    const stored = await row();
    const revisions = await t.db.models.PatientRevision.count();
    const jobs = () => t.db.models.Job.count({ where: { createdByType: { [Op.ne]: 'system' } } });
    const jobsBefore = await jobs();

    for (const change of [
      { age: 41 },
      { name: 'Renamed' },
      { roomNumber: '9' },
      { doctorId: doctor.doctorId },
    ]) {
      const refused = await outcome(doctor.caller.patients.update({ id: patient.patientId, ...change }));
      expect(refused.code, JSON.stringify(change)).toBe('FORBIDDEN');
    }
    const age = await outcome(
      doctor.caller.patients.update({ id: patient.patientId, age: 41, diagnosis: 'x' }),
    );
    expect(age.message).toMatch(/^You may not change age: you reach this patient by emergency access/);
    expect(
      (await outcome(doctor.caller.patients.updateAsync({ id: patient.patientId, gender: 'x' }))).code,
    ).toBe('FORBIDDEN');

    const exported = await outcome(doctor.caller.patients.export({ patientId: patient.patientId }));
    expect(exported).toMatchObject({
      code: 'FORBIDDEN',
      message: expect.stringMatching(/^Emergency access does not allow exports/),
    });
    const rest = await http(t.url, 'POST', `/patients/${patient.patientId}/export`, { token: doctor.token });
    expect(rest.status).toBe(403);
    expect(rest.body.error).toMatch(/^Emergency access does not allow exports/);

    // Nor the download of an export the care team made.
    const { jobId } = await doctorA.patients.export({ patientId: patient.patientId });
    await waitForJob(t.db, jobId, ['succeeded']);
    const download = await http(t.url, 'GET', `/jobs/${jobId}/result`, { token: doctor.token });
    expect(download).toMatchObject({ status: 404, body: { error: 'Export not found' } });

    expect(await row()).toEqual(stored);
    expect(await t.db.models.PatientRevision.count()).toBe(revisions);
    expect(await jobs()).toBe(jobsBefore + 1);
  });

  it('audits every read and write under it with the reason; the patient sees them flagged, admins list the access', async () => {
    const doctor = await freshDoctor();
    const patient = await patientOfA();
    const since = await lastAuditId(t);
    const { id } = await doctor.caller.access.emergency({ patientId: patient.patientId, reason: REASON });
    await doctor.caller.patients.get({ id: patient.patientId });
    await doctor.caller.patients.list({});
    await doctor.caller.patients.update({ id: patient.patientId, diagnosis: 'fracture' });
    await doctor.caller.notes.create({ patientId: patient.patientId, body: 'Splinted.' });
    await doctorA.patients.get({ id: patient.patientId });

    const rows = await auditSince(t, since);
    const byDoctor = rows.filter((r) => r.actorId === doctor.id);
    expect(byDoctor.map((r) => [r.action, r.procedure])).toEqual([
      ['create', 'access.emergency'],
      ['read', 'patients.get'],
      ['read', 'patients.list'],
      ['update', 'patients.update'],
      ['create', 'notes.create'],
    ]);
    for (const row of byDoctor) {
      expect(row).toMatchObject({ patientId: patient.patientId, emergencyAccessId: id, reason: REASON });
    }
    const assigned = rows.find((r) => r.actorId === team.doctorA.id)!;
    expect(assigned).toMatchObject({ emergencyAccessId: null, reason: null });

    const mine = await patient.caller.audit.myAccess({});
    const flagged = mine.items.filter((item) => item.emergency);
    expect(flagged.map((item) => [item.actorName, item.action, item.procedure, item.reason])).toEqual([
      [doctor.username, 'create', 'notes.create', REASON],
      [doctor.username, 'update', 'patients.update', REASON],
      [doctor.username, 'read', 'patients.list', REASON],
      [doctor.username, 'read', 'patients.get', REASON],
      [doctor.username, 'create', 'access.emergency', REASON],
    ]);
    expect(mine.items.find((item) => item.actorName === team.doctorA.username)).toMatchObject({
      emergency: false,
      reason: null,
    });

    const viaAudit = await admin.audit.list({ patientId: patient.patientId, limit: 100 });
    expect(viaAudit.items.filter((r) => r.emergency).every((r) => r.emergencyAccessId === id)).toBe(true);

    const listed = await admin.audit.emergencyAccess({ patientId: patient.patientId });
    expect(listed).toEqual({
      items: [
        {
          id,
          patientId: patient.patientId,
          patientName: expect.any(String),
          doctorId: doctor.doctorId,
          doctorName: doctor.name,
          openedBy: { userId: doctor.id, username: doctor.username },
          reason: REASON,
          createdAt: expect.any(Date),
          expiresAt: expect.any(Date),
          endedAt: null,
          status: 'open',
        },
      ],
      nextCursor: null,
    });
    expect(
      (await admin.audit.emergencyAccess({ search: 'ALLERGY CHECK', status: 'open' })).items.map((a) => a.id),
    ).toContain(id);
    expect((await admin.audit.emergencyAccess({ doctorId: doctor.doctorId, status: 'ended' })).items).toEqual(
      [],
    );
    await doctor.caller.access.endEmergency({ patientId: patient.patientId });
    expect((await admin.audit.emergencyAccess({ doctorId: doctor.doctorId })).items[0]).toMatchObject({
      status: 'ended',
      endedAt: expect.any(Date),
    });
    const ending = (await auditSince(t, since)).filter((r) => r.procedure === 'access.endEmergency');
    expect(ending).toMatchObject([
      { action: 'revoke', patientId: patient.patientId, emergencyAccessId: id, reason: REASON },
    ]);

    // Audit services may read the list too; reading it is audited.
    const auditor = await serviceToken(t, team.admin.token, ['audit:read']);
    const viaService = await callerFor(t, auditor.token).audit.emergencyAccess({
      patientId: patient.patientId,
    });
    expect(viaService.items.map((a) => a.id)).toEqual([id]);
    const reads = await t.db.models.AuditEvent.count({
      where: { procedure: 'audit.emergencyAccess', patientId: patient.patientId },
    });
    expect(reads).toBe(2);
  });

  it('lists every access a page at a time, newest first', async () => {
    const doctor = await freshDoctor();
    const patients = [await patientOfA(), await patientOfA(), await patientOfA()];
    const ids: number[] = [];
    for (const p of patients) {
      ids.push((await doctor.caller.access.emergency({ patientId: p.patientId, reason: REASON })).id);
    }
    const first = await admin.audit.emergencyAccess({ doctorId: doctor.doctorId, limit: 2 });
    expect(first.items.map((a) => a.id)).toEqual([ids[2], ids[1]]);
    const second = await admin.audit.emergencyAccess({
      doctorId: doctor.doctorId,
      limit: 2,
      cursor: first.nextCursor,
    });
    expect(second).toMatchObject({ items: [{ id: ids[0] }], nextCursor: null });
  });

  it('ends by itself at its expiry: reads answer NOT_FOUND, the list says expired, it no longer counts as open', async () => {
    const doctor = await freshDoctor();
    const patient = await patientOfA();
    const { id } = await doctor.caller.access.emergency({
      patientId: patient.patientId,
      reason: REASON,
      minutes: 5,
    });
    expect((await doctor.caller.patients.get({ id: patient.patientId })).access).toBe('emergency');
    // Its time passes: the row's end moves to just before now (no wait for five minutes).
    await t.db.models.EmergencyAccess.update({ expiresAt: new Date(Date.now() - 1) }, { where: { id } });
    expect((await outcome(doctor.caller.patients.get({ id: patient.patientId }))).code).toBe('NOT_FOUND');
    expect((await outcome(doctor.caller.checkHistory.create({ patientId: patient.patientId }))).code).toBe(
      'NOT_FOUND',
    );
    expect((await admin.audit.emergencyAccess({ doctorId: doctor.doctorId })).items[0]).toMatchObject({
      id,
      status: 'expired',
      endedAt: null,
    });
    expect((await outcome(doctor.caller.access.endEmergency({ patientId: patient.patientId }))).code).toBe(
      'NOT_FOUND',
    );
    // A new one may be opened.
    await doctor.caller.access.emergency({ patientId: patient.patientId, reason: REASON });
    expect((await doctor.caller.patients.get({ id: patient.patientId })).access).toBe('emergency');
  });

  it('publishes emergency.opened to the admins and the patient’s assigned doctor only', async () => {
    const doctor = await freshDoctor();
    const patient = await patientOfA();
    const watchers = {
      admin: await follow(team.admin.token),
      assigned: await follow(team.doctorA.token),
      other: await follow(team.doctorB.token),
      opener: await follow(doctor.token),
      patient: await follow(patient.token),
    };
    const { id } = await doctor.caller.access.emergency({ patientId: patient.patientId, reason: REASON });
    await settle(Object.values(watchers), doctorMarker);
    const opened = (sub: Subscription) => sub.events.filter((e) => e.type === 'emergency.opened');
    for (const name of ['admin', 'assigned'] as const) {
      expect(opened(watchers[name]), name).toEqual([
        {
          id: expect.any(Number),
          type: 'emergency.opened',
          entity: 'emergency',
          entityId: id,
          patientId: patient.patientId,
          fields: [],
          at: expect.any(Date),
          position: null,
        },
      ]);
    }
    for (const name of ['other', 'opener', 'patient'] as const)
      expect(opened(watchers[name]), name).toEqual([]);
    expect(JSON.stringify(watchers.admin.events)).not.toContain(REASON);
    for (const sub of Object.values(watchers)) sub.close();
  });

  it('is refused to admins, patients, service tokens, unlinked doctors and the anonymous: cleanly, with nothing written', async () => {
    const patient = await patientOfA();
    const unlinked = await signedInUser(t, 'doctor');
    const service = await serviceToken(t, team.admin.token, [
      'patients:read',
      'patients:write',
      'audit:read',
    ]);
    const other = await serviceToken(t, team.admin.token, ['patients:read']);
    const input = { patientId: patient.patientId, reason: REASON };
    const before = await counts();
    const cases: [string, Caller, string, RegExp][] = [
      ['admin', admin, 'FORBIDDEN', /^Only for doctor accounts$/],
      ['patient', patient.caller, 'FORBIDDEN', /^Only for doctor accounts$/],
      ['service', callerFor(t, service.token), 'FORBIDDEN', /^Not available to service tokens$/],
      ['unlinked doctor', callerFor(t, unlinked.token), 'FORBIDDEN', /not linked to a doctor record/],
      ['anonymous', callerFor(t), 'UNAUTHORIZED', /./],
    ];
    for (const [who, caller, code, message] of cases) {
      const opened = await outcome(caller.access.emergency(input));
      expect(opened.code, who).toBe(code);
      expect(opened.message, who).toMatch(message);
      expect((await outcome(caller.access.endEmergency({ patientId: patient.patientId }))).code, who).toBe(
        code,
      );
    }
    for (const [who, caller] of [cases[1]!, cases[3]!]) {
      expect((await outcome(caller.audit.emergencyAccess({}))).code, who).toBe('FORBIDDEN');
    }
    expect((await outcome(doctorA.audit.emergencyAccess({}))).code).toBe('FORBIDDEN');
    expect((await outcome(callerFor(t, other.token).audit.emergencyAccess({}))).message).toBe(
      'This token lacks the audit:read scope',
    );
    expect(await counts()).toEqual(before);
  });

  it('answers a doctor who already reaches the patient with CONFLICT saying how, and a missing patient with NOT_FOUND', async () => {
    const doctor = await freshDoctor();
    const patient = await patientOfA();
    const before = await counts();
    const assigned = await outcome(
      doctorA.access.emergency({ patientId: patient.patientId, reason: REASON }),
    );
    expect(assigned).toMatchObject({
      code: 'CONFLICT',
      message: 'You already have access to this patient: they are assigned to you',
    });
    await patient.caller.consent.grant({ doctorId: doctor.doctorId });
    const consented = await outcome(
      doctor.caller.access.emergency({ patientId: patient.patientId, reason: REASON }),
    );
    expect(consented).toMatchObject({
      code: 'CONFLICT',
      message: expect.stringMatching(/through their consent/),
    });
    const missing = await outcome(
      doctor.caller.access.emergency({ patientId: 2_000_000_000, reason: REASON }),
    );
    expect(missing).toMatchObject({ code: 'NOT_FOUND', message: 'Patient not found' });
    expect((await counts()).accesses).toBe(before.accesses);

    const other = await patientOfA();
    const { expiresAt } = await doctor.caller.access.emergency({
      patientId: other.patientId,
      reason: REASON,
    });
    const twice = await outcome(
      doctor.caller.access.emergency({ patientId: other.patientId, reason: REASON }),
    );
    expect(twice).toMatchObject({
      code: 'CONFLICT',
      message: `You already have emergency access to this patient until ${expiresAt.toISOString()}; end it (access.endEmergency) to open a new one`,
    });
  });

  it('checks the input: a reason of 10-500 characters, minutes at most EMERGENCY_MAX_MINUTES', async () => {
    const doctor = await freshDoctor();
    const patient = await patientOfA();
    const before = await counts();
    const bad: [object, string, string][] = [
      [{ reason: 'too short' }, 'reason', 'must be at least 10 characters'],
      [{ reason: '          padded   ' }, 'reason', 'must be at least 10 characters'],
      [{ reason: 'x'.repeat(501) }, 'reason', 'must be at most 500 characters'],
      [{ reason: `${REASON}\u0000` }, 'reason', 'must not contain control characters'],
      [{ reason: REASON, minutes: 241 }, 'minutes', 'must be at most 240 (EMERGENCY_MAX_MINUTES)'],
      [{ reason: REASON, minutes: 0 }, 'minutes', 'must be at least 1'],
      [{ reason: REASON, minutes: 1.5 }, 'minutes', 'must be a whole number of minutes'],
    ];
    for (const [input, path, message] of bad) {
      const refused = await outcome(
        doctor.caller.access.emergency({ patientId: patient.patientId, ...input } as never),
      );
      expect(refused.code, JSON.stringify(input)).toBe('BAD_REQUEST');
      expect(refused.issues, JSON.stringify(input)).toEqual([{ path: [path], message }]);
    }
    expect(await counts()).toEqual(before);
    const longest = await doctor.caller.access.emergency({
      patientId: patient.patientId,
      reason: '😀'.repeat(250),
      minutes: 240,
    });
    expect(longest.expiresAt.getTime() - Date.now()).toBeGreaterThan(239 * 60_000);
    expect((await admin.audit.emergencyAccess({ patientId: patient.patientId })).items[0]!.reason).toBe(
      '😀'.repeat(250),
    );
  });

  it('lets a doctor hold at most EMERGENCY_MAX_OPEN open accesses (TOO_MANY_REQUESTS with Retry-After), and defaults to EMERGENCY_MAX_MINUTES when it is under an hour', async () => {
    const small = await startTestServer({ EMERGENCY_MAX_OPEN: '2', EMERGENCY_MAX_MINUTES: '30' });
    try {
      const doctor = await linkedDoctor(small);
      const caller = callerFor(small, doctor.token);
      const assigned = await linkedDoctor(small);
      const patients = [
        await linkedPatient(small, assigned.doctorId),
        await linkedPatient(small, assigned.doctorId),
        await linkedPatient(small, assigned.doctorId),
      ];
      const first = await caller.access.emergency({ patientId: patients[0]!.patientId, reason: REASON });
      const lasts = first.expiresAt.getTime() - Date.now();
      expect(lasts).toBeGreaterThan(29 * 60_000);
      expect(lasts).toBeLessThanOrEqual(30 * 60_000);
      await caller.access.emergency({ patientId: patients[1]!.patientId, reason: REASON });
      const before = await small.db.models.EmergencyAccess.count();

      const third = await http(small.url, 'POST', '/trpc/access.emergency', {
        token: doctor.token,
        body: { json: { patientId: patients[2]!.patientId, reason: REASON } },
      });
      expect(third.status).toBe(429);
      expect(third.body.error.json.message).toBe(
        'You hold 2 open emergency accesses, the most allowed at once (EMERGENCY_MAX_OPEN = 2); end one with access.endEmergency first',
      );
      const retryAfter = Number(third.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThan(29 * 60);
      expect(retryAfter).toBeLessThanOrEqual(30 * 60);
      expect(await small.db.models.EmergencyAccess.count()).toBe(before);

      await caller.access.endEmergency({ patientId: patients[0]!.patientId });
      await caller.access.emergency({ patientId: patients[2]!.patientId, reason: REASON });
      expect((await caller.patients.list({})).items.map((p) => p.id).sort()).toEqual(
        [patients[1]!.patientId, patients[2]!.patientId].sort(),
      );
    } finally {
      await small.close();
    }
  });

  it('opens concurrently at most EMERGENCY_MAX_OPEN at once, 10x past it, while /healthz answers (the doctor’s openings take turns)', async () => {
    const doctor = await freshDoctor();
    const patients: Awaited<ReturnType<typeof patientOfA>>[] = [];
    for (let i = 0; i < 50; i += 10)
      patients.push(...(await Promise.all(Array.from({ length: 10 }, () => patientOfA()))));
    const [results, health] = await Promise.all([
      Promise.all(
        patients.map((p) =>
          outcome(doctor.caller.access.emergency({ patientId: p.patientId, reason: REASON })),
        ),
      ),
      fetch(`${t.url}/healthz`),
    ]);
    expect(health.status).toBe(200);
    expect(results.filter((r) => r.code === 'OK')).toHaveLength(5);
    expect(results.filter((r) => r.code === 'TOO_MANY_REQUESTS')).toHaveLength(45);
    expect(
      await t.db.models.EmergencyAccess.count({
        where: { doctorId: doctor.doctorId, endedAt: { [Op.is]: null } },
      }),
    ).toBe(5);
  });

  it('a live subscription follows it: the patient’s changes while open, none once ended or expired', async () => {
    const doctor = await freshDoctor();
    const patient = await patientOfA();
    const sub = await follow(doctor.token, { types: ['patient.updated', 'note.created', 'doctor.created'] });
    const touch = async (diagnosis: string) => {
      await doctorA.patients.update({ id: patient.patientId, diagnosis });
      await doctorA.notes.create({ patientId: patient.patientId, body: diagnosis });
    };
    const mine = () => sub.events.filter((e) => e.patientId === patient.patientId).map((e) => e.type);

    await touch('before');
    await doctor.caller.access.emergency({ patientId: patient.patientId, reason: REASON });
    await touch('while open');
    await settle([sub], doctorMarker);
    expect(mine()).toEqual(['patient.updated', 'note.created']);

    await doctor.caller.access.endEmergency({ patientId: patient.patientId });
    await touch('after the end');
    await settle([sub], doctorMarker);
    expect(mine()).toEqual(['patient.updated', 'note.created']);
    sub.close();

    // Expiry: a subscription opened while the access is open stops receiving when its time is up,
    // with no event to say so (the subscription knows when its scope ends).
    const { id } = await doctor.caller.access.emergency({ patientId: patient.patientId, reason: REASON });
    const endsAt = new Date(Date.now() + 2_000);
    await t.db.models.EmergencyAccess.update({ expiresAt: endsAt }, { where: { id } });
    const late = await follow(doctor.token, { types: ['patient.updated', 'doctor.created'] });
    await doctorA.patients.update({ id: patient.patientId, diagnosis: 'open for two seconds' });
    await late.waitFor((events) => events.some((e) => e.patientId === patient.patientId));
    await waitFor(() => Date.now() > endsAt.getTime(), { what: 'the emergency access to expire' });
    await doctorA.patients.update({ id: patient.patientId, diagnosis: 'after the expiry' });
    await settle([late], doctorMarker);
    expect(late.events.filter((e) => e.patientId === patient.patientId)).toHaveLength(1);
    expect((await outcome(doctor.caller.patients.get({ id: patient.patientId }))).code).toBe('NOT_FOUND');
    late.close();
  });
});
