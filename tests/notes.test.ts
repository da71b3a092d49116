import type { AppRouter } from '../server/src/routers/_app';
import type { TRPCClient } from '@trpc/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appRouter } from '../server/src/routers/_app';
import { type CareTeam, careTeam, lastAuditId, linkedPatient, serviceToken } from './helpers/clinical';
import { signedInUser, startTestServer, type TestServer, trpcClient, trpcCode } from './helpers/server';

describe('notes', () => {
  let t: TestServer;
  let team: CareTeam;
  let doctorA: TRPCClient<AppRouter>;
  let patientA: TRPCClient<AppRouter>;

  const counts = async () => ({
    notes: await t.db.models.Note.count(),
    audit: await t.db.models.AuditEvent.count(),
  });
  const auditSince = async (id: number) =>
    (await t.db.models.AuditEvent.findAll({ order: [['id', 'ASC']] })).filter((r) => r.id > id);

  beforeAll(async () => {
    t = await startTestServer();
    team = await careTeam(t);
    doctorA = trpcClient(t.url, team.doctorA.token);
    patientA = trpcClient(t.url, team.patientA.token);
  });

  afterAll(async () => {
    await t?.close();
  });

  it("doctor adds a note to their patient, signed with the Doctor record's name, and it is audited", async () => {
    const last = await lastAuditId(t);
    const note = await doctorA.notes.create.mutate({
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
    const rows = await auditSince(last);
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
      await trpcCode(doctorA.notes.create.mutate({ patientId: team.patientB.patientId, body: 'intrusion' })),
    ).toBe('NOT_FOUND');
    expect(await trpcCode(doctorA.notes.create.mutate({ patientId: 999_999, body: 'nobody' }))).toBe(
      'NOT_FOUND',
    );
    expect(await counts()).toEqual(before);
  });

  it("doctor cannot read another doctor's patient's notes", async () => {
    const doctorB = trpcClient(t.url, team.doctorB.token);
    expect(await trpcCode(doctorB.notes.list.query({ patientId: team.patientA.patientId }))).toBe(
      'NOT_FOUND',
    );
  });

  it('only doctors write notes: patients and admins are FORBIDDEN, services have no scope for notes', async () => {
    const before = await counts();
    const input = { patientId: team.patientA.patientId, body: 'not allowed' };
    expect(await trpcCode(patientA.notes.create.mutate(input))).toBe('FORBIDDEN');
    expect(await trpcCode(trpcClient(t.url, team.admin.token).notes.create.mutate(input))).toBe('FORBIDDEN');
    const svc = await serviceToken(t, team.admin.id, ['checkHistory:write', 'patients:write']);
    expect(await trpcCode(trpcClient(t.url, svc.token).notes.create.mutate(input))).toBe('FORBIDDEN');
    expect(await trpcCode(trpcClient(t.url).notes.create.mutate(input))).toBe('UNAUTHORIZED');
    expect(await counts()).toEqual(before);
  });

  it("a patient reads their own notes but not another patient's", async () => {
    await trpcClient(t.url, team.doctorB.token).notes.create.mutate({
      patientId: team.patientB.patientId,
      body: 'B only',
    });
    const own = await patientA.notes.list.query({ patientId: team.patientA.patientId });
    expect(own.items.length).toBeGreaterThan(0);
    expect(own.items.every((n) => n.patientId === team.patientA.patientId)).toBe(true);
    expect(await trpcCode(patientA.notes.list.query({ patientId: team.patientB.patientId }))).toBe(
      'NOT_FOUND',
    );
    expect(await trpcCode(patientA.notes.list.query({ patientId: 999_999 }))).toBe('NOT_FOUND');
  });

  it('admins are FORBIDDEN from notes (clinical content), even with a patient in reach; services too', async () => {
    const last = await lastAuditId(t);
    const admin = trpcClient(t.url, team.admin.token);
    expect(await trpcCode(admin.notes.list.query({ patientId: team.patientA.patientId }))).toBe('FORBIDDEN');
    const svc = await serviceToken(t, team.admin.id, ['patients:read', 'checkHistory:read', 'audit:read']);
    expect(
      await trpcCode(trpcClient(t.url, svc.token).notes.list.query({ patientId: team.patientA.patientId })),
    ).toBe('FORBIDDEN');
    expect(await auditSince(last)).toHaveLength(0);
  });

  it('an unlinked account sees no notes', async () => {
    const patient = await signedInUser(t, 'patient');
    const doctor = await signedInUser(t, 'doctor');
    for (const token of [patient.token, doctor.token]) {
      expect(
        await trpcCode(trpcClient(t.url, token).notes.list.query({ patientId: team.patientA.patientId })),
      ).toBe('NOT_FOUND');
    }
  });

  it('validates the body: 1 to 20000 characters, not blank', async () => {
    const patientId = team.patientA.patientId;
    const before = await counts();
    for (const body of ['', '   \n\t', 'x'.repeat(20_001)]) {
      expect(await trpcCode(doctorA.notes.create.mutate({ patientId, body })), `length ${body.length}`).toBe(
        'BAD_REQUEST',
      );
    }
    expect(
      await trpcCode(doctorA.notes.create.mutate({ patientId, body: 'ok', diagnosis: 'x' } as never)),
    ).toBe('BAD_REQUEST');
    expect(await counts()).toEqual(before);
    const longest = await doctorA.notes.create.mutate({ patientId, body: 'y'.repeat(20_000) });
    expect((await t.db.models.Note.findByPk(longest.id))!.body).toHaveLength(20_000);
  });

  describe('corrections', () => {
    let patientId: number;
    let doctor: TRPCClient<AppRouter>;

    beforeAll(async () => {
      patientId = (await linkedPatient(t, team.doctorA.doctorId)).patientId;
      doctor = doctorA;
    });

    it('form a chain: each note says what it corrects and what corrected it', async () => {
      const first = await doctor.notes.create.mutate({ patientId, body: 'BP 140/90' });
      const second = await doctor.notes.create.mutate({
        patientId,
        body: 'BP 130/90',
        correctsNoteId: first.id,
      });
      const third = await doctor.notes.create.mutate({
        patientId,
        body: 'BP 130/85',
        correctsNoteId: second.id,
      });
      expect(second.correctsNoteId).toBe(first.id);
      const { items } = await doctor.notes.list.query({ patientId });
      const byId = new Map(items.map((n) => [n.id, n]));
      expect(items.map((n) => n.id)).toEqual([third.id, second.id, first.id]);
      expect(byId.get(first.id)).toMatchObject({ correctsNoteId: null, correctedByNoteId: second.id });
      expect(byId.get(second.id)).toMatchObject({ correctsNoteId: first.id, correctedByNoteId: third.id });
      expect(byId.get(third.id)).toMatchObject({ correctsNoteId: second.id, correctedByNoteId: null });
      expect(byId.get(first.id)!.body).toBe('BP 140/90');
    });

    it('a note that is already corrected cannot be corrected again (correct the latest instead)', async () => {
      const original = await doctor.notes.create.mutate({ patientId, body: 'original' });
      const fix = await doctor.notes.create.mutate({ patientId, body: 'fix', correctsNoteId: original.id });
      const before = await counts();
      const error = await doctor.notes.create
        .mutate({ patientId, body: 'second fix', correctsNoteId: original.id })
        .catch((e) => e);
      expect(error.data.code).toBe('BAD_REQUEST');
      expect(error.message).toContain(`corrected by note ${fix.id}`);
      expect(await counts()).toEqual(before);
    });

    it('two simultaneous corrections of one note: exactly one wins', async () => {
      const original = await doctor.notes.create.mutate({ patientId, body: 'race' });
      const results = await Promise.all(
        [1, 2, 3].map((i) =>
          trpcCode(doctor.notes.create.mutate({ patientId, body: `fix ${i}`, correctsNoteId: original.id })),
        ),
      );
      expect(results.sort()).toEqual(['BAD_REQUEST', 'BAD_REQUEST', 'OK']);
      expect(await t.db.models.Note.count({ where: { correctsNoteId: original.id } })).toBe(1);
    });

    it("a correction must point to a note of the same patient; another patient's note answers like an absent one", async () => {
      const foreign = await trpcClient(t.url, team.doctorB.token).notes.create.mutate({
        patientId: team.patientB.patientId,
        body: 'foreign',
      });
      const ownOtherPatient = await doctor.notes.create.mutate({
        patientId: team.patientA.patientId,
        body: 'A',
      });
      const before = await counts();
      const answers = [];
      for (const correctsNoteId of [foreign.id, ownOtherPatient.id, 999_999]) {
        const error = await doctor.notes.create
          .mutate({ patientId, body: 'fix', correctsNoteId })
          .catch((e) => e);
        answers.push({ code: error.data.code, message: error.message, issues: error.data.issues });
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
    const created = [];
    for (let i = 0; i < 5; i++)
      created.push(await doctorA.notes.create.mutate({ patientId, body: `note ${i}` }));
    const last = await lastAuditId(t);
    const first = await doctorA.notes.list.query({ patientId, limit: 3 });
    const second = await doctorA.notes.list.query({ patientId, limit: 3, cursor: first.nextCursor });
    expect([...first.items, ...second.items].map((n) => n.body)).toEqual([
      'note 4',
      'note 3',
      'note 2',
      'note 1',
      'note 0',
    ]);
    expect(second.nextCursor).toBeNull();
    const rows = await auditSince(last);
    expect(rows.map((r) => [r.action, r.patientId, r.procedure, r.actorId])).toEqual([
      ['read', patientId, 'notes.list', team.doctorA.id],
      ['read', patientId, 'notes.list', team.doctorA.id],
    ]);
    expect(rows[0]!.requestId).not.toBe(rows[1]!.requestId);
  });

  it('writes no note when its audit row cannot be written (same transaction)', async () => {
    const before = await counts();
    t.db.models.AuditEvent.addHook('beforeBulkCreate', 'fail-audit', () => {
      throw new Error('audit store unavailable');
    });
    try {
      expect(
        await trpcCode(doctorA.notes.create.mutate({ patientId: team.patientA.patientId, body: 'lost' })),
      ).toBe('INTERNAL_SERVER_ERROR');
    } finally {
      t.db.models.AuditEvent.removeHook('beforeBulkCreate', 'fail-audit');
    }
    expect(await counts()).toEqual(before);
  });
});
