import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appRouter } from '../server/src/trpc/appRouter';
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
import { signedInUser, startTestServer, type TestServer } from './helpers/server';

/** Notes, called in process; the world is the care team, and each test writes the notes it reads. */
describe('notes', () => {
  let t: TestServer;
  let team: CareTeam;
  let doctorA: Caller;
  let doctorB: Caller;
  let patientA: Caller;
  let admin: Caller;

  const counts = async () => ({
    notes: await t.db.models.Note.count(),
    audit: await auditedActs(t),
  });

  beforeAll(async () => {
    t = await startTestServer();
    team = await careTeam(t);
    doctorA = callerFor(t, team.doctorA.token);
    doctorB = callerFor(t, team.doctorB.token);
    patientA = callerFor(t, team.patientA.token);
    admin = callerFor(t, team.admin.token);
  });

  afterAll(async () => {
    await t?.close();
  });

  it("doctor adds a note to their patient, signed with the Doctor record's name, and it is audited", async () => {
    const last = await lastAuditId(t);
    const note = await doctorA.notes.create({
      patientId: team.patientA.patientId,
      body: 'Responds well to treatment.',
    });
    expect(note).toEqual({
      id: expect.any(Number),
      patientId: team.patientA.patientId,
      authorName: team.doctorA.name,
      body: 'Responds well to treatment.',
      correctsNoteId: null,
      correctedByNoteId: null,
      createdAt: expect.any(Date),
    });
    const rows = await auditSince(t, last);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      actorType: 'user',
      actorId: team.doctorA.id,
      actorRole: 'doctor',
      action: 'create',
      patientId: team.patientA.patientId,
      procedure: 'notes.create',
    });
    expect(rows[0]!.requestId).toBeTruthy();
  });

  it("doctor cannot add a note for another doctor's patient (NOT_FOUND, as if absent)", async () => {
    const before = await counts();
    expect(
      (await outcome(doctorA.notes.create({ patientId: team.patientB.patientId, body: 'intrusion' }))).code,
    ).toBe('NOT_FOUND');
    expect((await outcome(doctorA.notes.create({ patientId: 999_999, body: 'nobody' }))).code).toBe(
      'NOT_FOUND',
    );
    expect(await counts()).toEqual(before);
  });

  it("doctor cannot read another doctor's patient's notes", async () => {
    await doctorA.notes.create({ patientId: team.patientA.patientId, body: 'for A only' });
    const refused = await outcome(doctorB.notes.list({ patientId: team.patientA.patientId }));
    expect(refused.code).toBe('NOT_FOUND');
    expect(refused.message).not.toContain('for A only');
  });

  it('only doctors write notes: patients and admins are FORBIDDEN, services have no scope for notes', async () => {
    const svc = await serviceToken(t, team.admin.token, ['checkHistory:write', 'patients:write']);
    const before = await counts();
    const input = { patientId: team.patientA.patientId, body: 'not allowed' };
    expect((await outcome(patientA.notes.create(input))).code).toBe('FORBIDDEN');
    expect((await outcome(admin.notes.create(input))).code).toBe('FORBIDDEN');
    expect((await outcome(callerFor(t, svc.token).notes.create(input))).code).toBe('FORBIDDEN');
    expect((await outcome(callerFor(t).notes.create(input))).code).toBe('UNAUTHORIZED');
    expect(await counts()).toEqual(before);
  });

  it("a patient reads their own notes but not another patient's", async () => {
    const mine = await doctorA.notes.create({ patientId: team.patientA.patientId, body: 'A, for A' });
    await doctorB.notes.create({ patientId: team.patientB.patientId, body: 'B only' });
    const own = await patientA.notes.list({ patientId: team.patientA.patientId });
    expect(own.items.map((n) => n.id)).toContain(mine.id);
    expect(own.items.every((n) => n.patientId === team.patientA.patientId)).toBe(true);
    expect((await outcome(patientA.notes.list({ patientId: team.patientB.patientId }))).code).toBe(
      'NOT_FOUND',
    );
    expect((await outcome(patientA.notes.list({ patientId: 999_999 }))).code).toBe('NOT_FOUND');
  });

  it('admins are FORBIDDEN from notes (clinical content), even with a patient in reach; services too', async () => {
    await doctorA.notes.create({ patientId: team.patientA.patientId, body: 'clinical, not for admins' });
    const svc = await serviceToken(t, team.admin.token, ['patients:read', 'checkHistory:read', 'audit:read']);
    const last = await lastAuditId(t);
    expect((await outcome(admin.notes.list({ patientId: team.patientA.patientId }))).code).toBe('FORBIDDEN');
    expect(
      (await outcome(callerFor(t, svc.token).notes.list({ patientId: team.patientA.patientId }))).code,
    ).toBe('FORBIDDEN');
    // Nothing was read, so nothing is audited as read (a refused attempt may be on the trail).
    expect((await auditSince(t, last)).filter((r) => r.action !== 'denied')).toEqual([]);
  });

  it('an unlinked account sees no notes', async () => {
    await doctorA.notes.create({ patientId: team.patientA.patientId, body: 'not for strangers' });
    const patient = await signedInUser(t, 'patient');
    const doctor = await signedInUser(t, 'doctor');
    for (const token of [patient.token, doctor.token]) {
      expect(
        (await outcome(callerFor(t, token).notes.list({ patientId: team.patientA.patientId }))).code,
      ).toBe('NOT_FOUND');
    }
  });

  it('validates the body: 1 to 20000 characters, not blank', async () => {
    const patientId = team.patientA.patientId;
    const before = await counts();
    for (const body of ['', '   \n\t', 'x'.repeat(20_001)]) {
      expect((await outcome(doctorA.notes.create({ patientId, body }))).code, `length ${body.length}`).toBe(
        'BAD_REQUEST',
      );
    }
    expect(
      (await outcome(doctorA.notes.create({ patientId, body: 'ok', diagnosis: 'x' } as never))).code,
    ).toBe('BAD_REQUEST');
    expect(await counts()).toEqual(before);
    const longest = await doctorA.notes.create({ patientId, body: 'y'.repeat(20_000) });
    expect((await t.db.models.Note.findByPk(longest.id))!.body).toHaveLength(20_000);
  });

  describe('corrections', () => {
    let patientId: number;

    beforeAll(async () => {
      patientId = (await linkedPatient(t, team.doctorA.doctorId)).patientId;
    });

    it('form a chain: each note says what it corrects and what corrected it', async () => {
      const chainPatient = (await linkedPatient(t, team.doctorA.doctorId)).patientId;
      const first = await doctorA.notes.create({ patientId: chainPatient, body: 'BP 140/90' });
      const second = await doctorA.notes.create({
        patientId: chainPatient,
        body: 'BP 130/90',
        correctsNoteId: first.id,
      });
      const third = await doctorA.notes.create({
        patientId: chainPatient,
        body: 'BP 130/85',
        correctsNoteId: second.id,
      });
      expect(second.correctsNoteId).toBe(first.id);
      const { items } = await doctorA.notes.list({ patientId: chainPatient });
      const byId = new Map(items.map((n) => [n.id, n]));
      expect(items.map((n) => n.id)).toEqual([third.id, second.id, first.id]);
      expect(byId.get(first.id)).toMatchObject({ correctsNoteId: null, correctedByNoteId: second.id });
      expect(byId.get(second.id)).toMatchObject({ correctsNoteId: first.id, correctedByNoteId: third.id });
      expect(byId.get(third.id)).toMatchObject({ correctsNoteId: second.id, correctedByNoteId: null });
      expect(byId.get(first.id)!.body).toBe('BP 140/90');
    });

    it('a note that is already corrected cannot be corrected again (correct the latest instead)', async () => {
      const original = await doctorA.notes.create({ patientId, body: 'original' });
      const fix = await doctorA.notes.create({ patientId, body: 'fix', correctsNoteId: original.id });
      const before = await counts();
      const error = await outcome(
        doctorA.notes.create({ patientId, body: 'second fix', correctsNoteId: original.id }),
      );
      expect(error.code).toBe('BAD_REQUEST');
      expect(error.message).toContain(`corrected by note ${fix.id}`);
      expect(await counts()).toEqual(before);
    });

    it('two simultaneous corrections of one note: exactly one wins', async () => {
      const original = await doctorA.notes.create({ patientId, body: 'race' });
      const results = await Promise.all(
        [1, 2, 3].map(
          async (i) =>
            (
              await outcome(
                doctorA.notes.create({ patientId, body: `fix ${i}`, correctsNoteId: original.id }),
              )
            ).code,
        ),
      );
      expect(results.sort()).toEqual(['BAD_REQUEST', 'BAD_REQUEST', 'OK']);
      expect(await t.db.models.Note.count({ where: { correctsNoteId: original.id } })).toBe(1);
    });

    it("a correction must point to a note of the same patient; another patient's note answers like an absent one", async () => {
      const foreign = await doctorB.notes.create({ patientId: team.patientB.patientId, body: 'foreign' });
      const ownOtherPatient = await doctorA.notes.create({ patientId: team.patientA.patientId, body: 'A' });
      const before = await counts();
      const answers = [];
      for (const correctsNoteId of [foreign.id, ownOtherPatient.id, 999_999]) {
        answers.push(await outcome(doctorA.notes.create({ patientId, body: 'fix', correctsNoteId })));
      }
      expect(answers[0]).toEqual({
        code: 'BAD_REQUEST',
        message: expect.stringContaining('must be a note of the same patient'),
        issues: [{ path: ['correctsNoteId'], message: 'must be a note of the same patient' }],
      });
      expect(answers[1]).toEqual(answers[0]);
      expect(answers[2]).toEqual(answers[0]);
      expect(await counts()).toEqual(before);
    });
  });

  it('notes are append-only: the router has no procedure to change or delete one', () => {
    const names = Object.keys(appRouter._def.procedures).filter((p) => p.startsWith('notes.'));
    expect(names.sort()).toEqual(['notes.create', 'notes.list']);
  });

  it('pages newest first with a cursor, and audits each read for the reader', async () => {
    const patientId = (await linkedPatient(t, team.doctorA.doctorId)).patientId;
    for (let i = 0; i < 5; i++) await doctorA.notes.create({ patientId, body: `note ${i}` });
    const last = await lastAuditId(t);
    const first = await doctorA.notes.list({ patientId, limit: 3 });
    const second = await doctorA.notes.list({ patientId, limit: 3, cursor: first.nextCursor });
    expect([...first.items, ...second.items].map((n) => n.body)).toEqual([
      'note 4',
      'note 3',
      'note 2',
      'note 1',
      'note 0',
    ]);
    expect(second.nextCursor).toBeNull();
    const rows = await auditSince(t, last);
    expect(rows.map((r) => [r.action, r.patientId, r.procedure, r.actorId])).toEqual([
      ['read', patientId, 'notes.list', team.doctorA.id],
      ['read', patientId, 'notes.list', team.doctorA.id],
    ]);
    expect(rows[0]!.requestId).not.toBe(rows[1]!.requestId);
  });

  it('writes no note when its audit row cannot be written (same transaction)', async () => {
    const before = await counts();
    await withAuditFailing(t, async () => {
      expect(
        (await outcome(doctorA.notes.create({ patientId: team.patientA.patientId, body: 'lost' }))).code,
      ).toBe('INTERNAL_SERVER_ERROR');
    });
    expect(await counts()).toEqual(before);
  });
});
