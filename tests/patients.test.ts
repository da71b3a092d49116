import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceActor } from '../server/src/context';
import { updatePatient } from '../server/src/domain/patients/update';
import { linkFactsOf, scopeOf } from '../server/src/domain/access/scope';
import { type Caller, callerFor, outcome, serviceCaller } from './helpers/callers';
import { adminToken, signedInUser, type TestServer, startTestServer } from './helpers/server';

/*
 * The patients procedures, called in process. The world built once: doctors A and B; P_A (doctor
 * A's, with a diagnosis and medicine set by doctor A) and P_B (doctor B's). No test changes P_A
 * or P_B: a test that writes admits a patient of its own.
 */
describe('patients (procedures)', () => {
  let t: TestServer;
  let admin: Caller;
  let doctorA: Caller;
  let doctorB: Caller;
  let patientSelf: Caller;
  let unlinked: Caller;
  let drA: number;
  let drB: number;
  let pA: number;
  let pB: number;
  let seq = 0;

  const auditCount = (where: Record<string, unknown>) => t.db.models.AuditEvent.count({ where });
  const revisionCount = (patientId: number) => t.db.models.PatientRevision.count({ where: { patientId } });

  /** Admits a fresh patient of `doctorId` (as the admin), for a test that changes it. */
  async function admit(
    doctorId: number,
    fields: { name?: string; age?: number; gender?: string; roomNumber?: string; bedNumber?: string } = {},
  ): Promise<number> {
    const patient = await admin.patients.create({
      name: `Own patient ${++seq}`,
      age: 55,
      gender: 'M',
      doctorId,
      roomNumber: '202',
      bedNumber: '2',
      ...fields,
    });
    return patient.id;
  }

  beforeAll(async () => {
    t = await startTestServer();
    admin = callerFor(t, await adminToken(t));
    const [a, b] = await admin.doctors.createMany([
      { name: 'Dr. Alpha', specialization: 'Cardiology' },
      { name: 'Dr. Beta', specialization: 'Neurology' },
    ]);
    drA = a!.id;
    drB = b!.id;
    const [p1, p2] = await admin.patients.createMany([
      { name: 'Ann Example', age: 40, gender: 'F', doctorId: drA, roomNumber: '101', bedNumber: 1 },
      { name: 'Bob Example', age: 55, gender: 'M', doctorId: drB, roomNumber: '202', bedNumber: '2' },
    ]);
    pA = p1!.id;
    pB = p2!.id;
    doctorA = callerFor(t, (await signedInUser(t, 'doctor', { doctorId: drA })).token);
    doctorB = callerFor(t, (await signedInUser(t, 'doctor', { doctorId: drB })).token);
    patientSelf = callerFor(t, (await signedInUser(t, 'patient', { patientId: pA })).token);
    unlinked = callerFor(t, (await signedInUser(t, 'doctor')).token);
    await doctorA.patients.update({ id: pA, diagnosis: 'Hypertension', prescribedMedicine: 'Ramipril' });
  });
  afterAll(async () => {
    await t?.close();
  });

  describe('create and createMany', () => {
    it('admin admits a patient; room and bed given as integers are stored as strings', async () => {
      const created = await admin.patients.create({
        name: 'Cleo',
        age: 0,
        gender: 'F',
        doctorId: drA,
        roomNumber: 7,
        bedNumber: 3,
      });
      expect(created).toMatchObject({ name: 'Cleo', age: 0, roomNumber: '7', bedNumber: '3', doctorId: drA });
      expect(created).not.toHaveProperty('diagnosis');
      expect(created).not.toHaveProperty('prescribedMedicine');
      const row = await t.db.models.Patient.findByPk(created.id);
      expect(row?.bedNumber).toBe('3');
      expect(await auditCount({ action: 'create', patientId: row!.id })).toBe(1);
    });

    it('create takes one object only: an array is BAD_REQUEST naming patients.createMany, and nothing is written', async () => {
      const before = await t.db.models.Patient.count();
      const refused = await outcome(
        admin.patients.create([{ name: 'In an array', age: 1, gender: 'F', doctorId: drA }] as never),
      );
      expect(refused.code).toBe('BAD_REQUEST');
      expect(refused.message).toContain('patients.createMany');
      expect(await t.db.models.Patient.count()).toBe(before);
    });

    it('createMany admits an array and returns an array in the order given', async () => {
      const created = await admin.patients.createMany([
        { name: 'Many One', age: 11, gender: 'F', doctorId: drA },
        { name: 'Many Two', age: 12, gender: 'M', doctorId: drB },
        { name: 'Many Three', age: 13, gender: 'F', doctorId: drA },
      ]);
      expect(created.map((p) => [p.name, p.doctorId])).toEqual([
        ['Many One', drA],
        ['Many Two', drB],
        ['Many Three', drA],
      ]);
      for (const p of created)
        expect(await t.db.models.Patient.findByPk(p.id)).toMatchObject({ name: p.name });
    });

    it('a doctor admits patients assigned to their own doctor record by default', async () => {
      const created = await doctorA.patients.createMany([
        { name: 'Dora', age: 30, gender: 'F' },
        { name: 'Dan', age: 31, gender: 'M', doctorId: drA },
      ]);
      expect(created.map((p) => p.doctorId)).toEqual([drA, drA]);
      expect(created[0]).toHaveProperty('diagnosis', null);
    });

    it('a doctor cannot admit a patient for another doctor, and nothing is written', async () => {
      const before = await t.db.models.Patient.count();
      const error = await outcome(
        doctorA.patients.createMany([
          { name: 'Ok', age: 1, gender: 'F' },
          { name: 'Not mine', age: 2, gender: 'M', doctorId: drB },
        ]),
      );
      expect(error.code).toBe('FORBIDDEN');
      expect(error.message).toMatch(/item 1/);
      expect(await t.db.models.Patient.count()).toBe(before);
    });

    it('an unlinked doctor and a patient cannot admit patients', async () => {
      expect((await outcome(unlinked.patients.create({ name: 'X', age: 1, gender: 'F' }))).code).toBe(
        'FORBIDDEN',
      );
      expect((await outcome(patientSelf.patients.create({ name: 'X', age: 1, gender: 'F' }))).code).toBe(
        'FORBIDDEN',
      );
    });

    it('a batch whose item 2 names a missing doctor is bad input at [2, doctorId], writing nothing', async () => {
      const before = await t.db.models.Patient.count();
      const audits = await t.db.models.AuditEvent.count();
      const error = await outcome(
        admin.patients.createMany([
          { name: 'One', age: 1, gender: 'F', doctorId: drA },
          { name: 'Two', age: 2, gender: 'M', doctorId: drB },
          { name: 'Three', age: 3, gender: 'F', doctorId: 987_654 },
        ]),
      );
      expect(error).toEqual({
        code: 'BAD_REQUEST',
        message: 'Invalid input: item 2: doctorId: Doctor not found',
        issues: [{ path: [2, 'doctorId'], message: 'Doctor not found' }],
      });
      expect(await t.db.models.Patient.count()).toBe(before);
      expect(await t.db.models.AuditEvent.count()).toBe(audits);
    });

    it('one patient naming a missing doctor is bad input at doctorId, writing nothing', async () => {
      const before = await t.db.models.Patient.count();
      const error = await outcome(
        admin.patients.create({ name: 'Lone', age: 3, gender: 'F', doctorId: 987_654 }),
      );
      expect(error).toEqual({
        code: 'BAD_REQUEST',
        message: 'Invalid input: doctorId: Doctor not found',
        issues: [{ path: ['doctorId'], message: 'Doctor not found' }],
      });
      expect(await t.db.models.Patient.count()).toBe(before);
    });

    it('a batch whose item 2 is invalid is rejected, naming item 2 and the field', async () => {
      const before = await t.db.models.Patient.count();
      const error = await outcome(
        admin.patients.createMany([
          { name: 'One', age: 1, gender: 'F' },
          { name: 'Two', age: 2, gender: 'M' },
          { name: 'Three', age: 151, gender: 'F' },
        ]),
      );
      expect(error.code).toBe('BAD_REQUEST');
      expect(error.message).toMatch(/item 2/);
      expect(error.message).toMatch(/age/);
      expect(error.issues.map((i) => i.path)).toEqual([[2, 'age']]);
      expect(await t.db.models.Patient.count()).toBe(before);
    });

    it('clinical fields cannot be set at admission', async () => {
      const before = await t.db.models.Patient.count();
      expect(
        (
          await outcome(
            doctorA.patients.create({ name: 'X', age: 1, gender: 'F', diagnosis: 'flu' } as never),
          )
        ).code,
      ).toBe('BAD_REQUEST');
      expect(await t.db.models.Patient.count()).toBe(before);
    });
  });

  describe('reading', () => {
    it('admin never sees diagnosis or prescribed medicine (get, list, history)', async () => {
      const got = await admin.patients.get({ id: pA });
      expect(got).not.toHaveProperty('diagnosis');
      expect(got).not.toHaveProperty('prescribedMedicine');
      const listed = await admin.patients.list({ limit: 1000 });
      expect(listed.items.map((p) => p.id)).toContain(pA);
      for (const p of listed.items) {
        expect(p).not.toHaveProperty('diagnosis');
        expect(p).not.toHaveProperty('prescribedMedicine');
      }
      const history = await admin.patients.history({ patientId: pA });
      expect(history.items.length).toBeGreaterThan(0);
      expect(JSON.stringify(history)).not.toMatch(/Hypertension|Ramipril/);
      expect(history.items[0]!.changes).toEqual({
        diagnosis: { redacted: true },
        prescribedMedicine: { redacted: true },
      });
    });

    it("the patient's doctor and the patient see the full record", async () => {
      expect(await doctorA.patients.get({ id: pA })).toMatchObject({
        id: pA,
        diagnosis: 'Hypertension',
        prescribedMedicine: 'Ramipril',
      });
      expect(await patientSelf.patients.get({ id: pA })).toMatchObject({ diagnosis: 'Hypertension' });
    });

    it("a doctor cannot read or update another doctor's patient (NOT_FOUND)", async () => {
      expect((await outcome(doctorB.patients.get({ id: pA }))).code).toBe('NOT_FOUND');
      expect((await outcome(doctorB.patients.history({ patientId: pA }))).code).toBe('NOT_FOUND');
      expect((await outcome(doctorB.patients.update({ id: pA, diagnosis: 'x' }))).code).toBe('NOT_FOUND');
      expect((await doctorB.patients.list({ limit: 1000 })).items.map((p) => p.id)).not.toContain(pA);
      expect((await doctorB.patients.list({ doctorId: drA })).items).toEqual([]);
      expect((await t.db.models.Patient.findByPk(pA))?.diagnosis).toBe('Hypertension');
    });

    it('a patient sees only their own record', async () => {
      const listed = await patientSelf.patients.list();
      expect(listed.items.map((p) => p.id)).toEqual([pA]);
      expect((await outcome(patientSelf.patients.get({ id: pB }))).code).toBe('NOT_FOUND');
      expect((await outcome(patientSelf.patients.update({ id: pA, name: 'Me' }))).code).toBe('FORBIDDEN');
      expect((await t.db.models.Patient.findByPk(pA))?.name).toBe('Ann Example');
    });

    it('an unlinked account sees no patient', async () => {
      expect(await unlinked.patients.list()).toEqual({ items: [], nextCursor: null });
      expect((await outcome(unlinked.patients.get({ id: pA }))).code).toBe('NOT_FOUND');
      expect((await outcome(unlinked.patients.history({ patientId: pA }))).code).toBe('NOT_FOUND');
    });

    it('a doctor lists only their patients; search matches names ignoring case', async () => {
      const mine = await doctorA.patients.list({ limit: 1000 });
      expect(mine.items.map((p) => p.id)).toContain(pA);
      expect(mine.items.every((p) => p.doctorId === drA)).toBe(true);
      const found = await admin.patients.list({ search: 'bob EXAM' });
      expect(found.items.map((p) => p.id)).toEqual([pB]);
      const filtered = await admin.patients.list({ doctorId: drB, limit: 1000 });
      expect(filtered.items.map((p) => p.id)).toContain(pB);
      expect(filtered.items.every((p) => p.doctorId === drB)).toBe(true);
    });

    it('every read appends audit rows: get, each patient of a list page, history', async () => {
      const reads = () => auditCount({ action: 'read', patientId: pB });
      let before = await reads();
      await admin.patients.get({ id: pB });
      expect(await reads()).toBe(before + 1);
      before = await reads();
      const listed = await admin.patients.list({ limit: 1000 });
      expect(await reads()).toBe(before + 1);
      for (const p of listed.items) {
        expect(
          await auditCount({ action: 'read', patientId: p.id, procedure: 'patients.list' }),
        ).toBeGreaterThan(0);
      }
      before = await reads();
      await admin.patients.history({ patientId: pB });
      expect(await reads()).toBe(before + 1);
    });
  });

  describe('update', () => {
    it("a doctor's diagnosis update shows in history with old and new values, with a revision and an audit row", async () => {
      const id = await admit(drB, { age: 55 });
      const revisions = await revisionCount(id);
      const audits = await auditCount({ action: 'update', patientId: id });
      await doctorB.patients.update({ id, diagnosis: 'Migraine' });
      const updated = await doctorB.patients.update({ id, diagnosis: 'Cluster headache', age: 56 });
      expect(updated).toMatchObject({ diagnosis: 'Cluster headache', age: 56 });
      expect(await revisionCount(id)).toBe(revisions + 2);
      expect(await auditCount({ action: 'update', patientId: id })).toBe(audits + 2);

      const history = await doctorB.patients.history({ patientId: id });
      expect(history.items[0]).toMatchObject({
        actorType: 'user',
        changes: { diagnosis: { old: 'Migraine', new: 'Cluster headache' }, age: { old: 55, new: 56 } },
      });
      expect(history.items[1]!.changes).toEqual({ diagnosis: { old: null, new: 'Migraine' } });
      expect(history.items[0]!.createdAt).toBeInstanceOf(Date);

      const adminView = await admin.patients.history({ patientId: id });
      expect(adminView.items[0]!.changes).toEqual({
        diagnosis: { redacted: true },
        age: { old: 55, new: 56 },
      });
    });

    it('a no-op update writes no revision and is audited as a read of the record it returns', async () => {
      const id = await admit(drB, { age: 56 });
      await doctorB.patients.update({ id, diagnosis: 'Cluster headache' });
      const revisions = await revisionCount(id);
      const audits = await t.db.models.AuditEvent.count();
      const result = await doctorB.patients.update({ id, diagnosis: 'Cluster headache', age: 56 });
      expect(result).toMatchObject({ diagnosis: 'Cluster headache' });
      expect(await revisionCount(id)).toBe(revisions);
      expect(await t.db.models.AuditEvent.count()).toBe(audits + 1);
      const last = await t.db.models.AuditEvent.findOne({ order: [['id', 'DESC']] });
      expect(last).toMatchObject({ action: 'read', patientId: id, procedure: 'patients.update' });
    });

    it('a doctor cannot reassign doctor, room or bed; the message names the field and nothing is written', async () => {
      const id = await admit(drB, { name: 'Bea Fixed', roomNumber: '202' });
      const revisions = await revisionCount(id);
      const error = await outcome(doctorB.patients.update({ id, roomNumber: '999', name: 'Renamed' }));
      expect(error.code).toBe('FORBIDDEN');
      expect(error.message).toMatch(/roomNumber/);
      expect(error.message).not.toMatch(/name,/);
      const doctorChange = await outcome(doctorB.patients.update({ id, doctorId: drA }));
      expect(doctorChange).toMatchObject({ code: 'FORBIDDEN', message: expect.stringMatching(/doctorId/) });
      const row = await t.db.models.Patient.findByPk(id);
      expect(row).toMatchObject({ roomNumber: '202', name: 'Bea Fixed', doctorId: drB });
      expect(await revisionCount(id)).toBe(revisions);
    });

    it('an admin cannot write clinical content; the message names the field', async () => {
      const id = await admit(drB);
      const error = await outcome(admin.patients.update({ id, prescribedMedicine: 'Aspirin' }));
      expect(error.code).toBe('FORBIDDEN');
      expect(error.message).toMatch(/prescribedMedicine/);
      expect((await t.db.models.Patient.findByPk(id))?.prescribedMedicine).toBeNull();
    });

    it('an admin moves a patient to another room and bed and reassigns the doctor', async () => {
      const id = await admit(drB, { roomNumber: '202', bedNumber: '2' });
      await doctorB.patients.update({ id, diagnosis: 'Cluster headache' });
      const moved = await admin.patients.update({ id, roomNumber: 303, bedNumber: '4B' });
      expect(moved).toMatchObject({ roomNumber: '303', bedNumber: '4B' });
      expect(moved).not.toHaveProperty('diagnosis');
      const history = await admin.patients.history({ patientId: id, limit: 1 });
      expect(history.items[0]!.changes).toEqual({
        roomNumber: { old: '202', new: '303' },
        bedNumber: { old: '2', new: '4B' },
      });
      expect(history.nextCursor).toBe(history.items[0]!.id);
      const older = await admin.patients.history({ patientId: id, cursor: history.nextCursor });
      expect(older.items.length).toBeGreaterThan(0);
      expect(older.items.every((r) => r.id < history.items[0]!.id)).toBe(true);

      const revisions = await revisionCount(id);
      expect(await outcome(admin.patients.update({ id, doctorId: 987_654 }))).toEqual({
        code: 'BAD_REQUEST',
        message: 'Invalid input: doctorId: Doctor not found',
        issues: [{ path: ['doctorId'], message: 'Doctor not found' }],
      });
      expect((await t.db.models.Patient.findByPk(id))?.doctorId).toBe(drB);
      expect(await revisionCount(id)).toBe(revisions);
      const reassigned = await admin.patients.update({ id, doctorId: drA });
      expect(reassigned.doctorId).toBe(drA);
      expect((await outcome(doctorB.patients.get({ id }))).code).toBe('NOT_FOUND');
      expect(await doctorA.patients.get({ id })).toMatchObject({ diagnosis: 'Cluster headache' });
    });

    it('concurrent updates of one record serialise: each revision starts from the previous value', async () => {
      const id = await admit(drA);
      const base = await revisionCount(id);
      await Promise.all(
        ['Dose-v1', 'Dose-v2', 'Dose-v3', 'Dose-v4'].map((v) =>
          doctorA.patients.update({ id, prescribedMedicine: v }),
        ),
      );
      const history = await doctorA.patients.history({ patientId: id, limit: 4 });
      expect(await revisionCount(id)).toBe(base + 4);
      const chain = history.items
        .reverse()
        .map((r) => r.changes.prescribedMedicine as { old: unknown; new: unknown });
      expect(chain[0]!.old).toBeNull();
      for (let i = 1; i < chain.length; i++) expect(chain[i]!.old).toBe(chain[i - 1]!.new);
      expect((await t.db.models.Patient.findByPk(id))?.prescribedMedicine).toBe(chain[3]!.new);
    });

    it('updatePatient can be called outside a request (as a background job will)', async () => {
      const id = await admit(drA, { gender: 'F' });
      const actor = {
        type: 'service' as const,
        id: 7,
        name: 'importer',
        scopes: ['patients:write' as const],
      };
      const result = await updatePatient(
        {
          db: t.db,
          actor,
          scope: scopeOf(actor, linkFactsOf(actor)),
          requestId: 'job-1',
          ip: null,
          procedure: 'jobs.updatePatient',
        },
        id,
        { gender: 'female' },
      );
      expect(result.changedFields).toEqual(['gender']);
      expect(result.patient).not.toHaveProperty('diagnosis');
      expect(await auditCount({ requestId: 'job-1', action: 'update', patientId: id })).toBe(1);
      const revision = await t.db.models.PatientRevision.findOne({
        where: { patientId: id },
        order: [['id', 'DESC']],
      });
      expect(revision).toMatchObject({ actorType: 'service', actorName: 'importer' });
      expect(revision!.changes).toEqual({ gender: { old: 'F', new: 'female' } });
    });

    it("updatePatient joins the caller's transaction: a later failure rolls the change, revision and audit back", async () => {
      const id = await admit(drA, { name: 'Stays Put' });
      const revisions = await revisionCount(id);
      const audits = await t.db.models.AuditEvent.count();
      const actor: ServiceActor = { type: 'service', id: 7, name: 'importer', scopes: ['patients:write'] };
      await expect(
        t.db.transaction(async (tx) => {
          await updatePatient(
            {
              db: t.db,
              actor,
              scope: scopeOf(actor, linkFactsOf(actor)),
              requestId: 'job-2',
              ip: null,
              procedure: 'jobs.updatePatient',
            },
            id,
            { name: 'Rolled Back' },
            tx,
          );
          throw new Error('the job failed after the update');
        }),
      ).rejects.toThrow('the job failed');
      expect((await t.db.models.Patient.findByPk(id))?.name).toBe('Stays Put');
      expect(await revisionCount(id)).toBe(revisions);
      expect(await t.db.models.AuditEvent.count()).toBe(audits);
    });
  });

  describe('services', () => {
    it('a service with patients:read sees admission data only; without it, nothing', async () => {
      const reader = serviceCaller(t, ['patients:read']);
      const got = await reader.patients.get({ id: pA });
      expect(got).toMatchObject({ id: pA, name: 'Ann Example' });
      expect(got).not.toHaveProperty('diagnosis');
      const history = await reader.patients.history({ patientId: pA });
      expect(history.items.length).toBeGreaterThan(0);
      expect(JSON.stringify(history)).not.toMatch(/Hypertension|Ramipril/);
      expect((await outcome(serviceCaller(t, ['doctors:read']).patients.list({}))).code).toBe('FORBIDDEN');
      expect((await outcome(reader.patients.update({ id: pA, name: 'X' }))).code).toBe('FORBIDDEN');
    });

    it('a service with patients:write changes admission data, never clinical content', async () => {
      const id = await admit(drA);
      const writer = serviceCaller(t, ['patients:write']);
      expect(await writer.patients.update({ id, bedNumber: 9 })).toMatchObject({ bedNumber: '9' });
      expect((await outcome(writer.patients.update({ id, diagnosis: 'x' }))).code).toBe('FORBIDDEN');
      expect((await t.db.models.Patient.findByPk(id))?.diagnosis).toBeNull();
      const admitted = await writer.patients.create({
        name: 'Via Service',
        age: 60,
        gender: 'M',
        doctorId: drB,
      });
      expect(admitted).toMatchObject({ name: 'Via Service', doctorId: drB });
      expect(admitted).not.toHaveProperty('diagnosis');
    });
  });
});
