import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceActor } from '../server/src/context';
import { updatePatient } from '../server/src/routers/patients/update';
import { failure, serviceCaller } from './helpers/callers';
import {
  adminToken,
  signedInUser,
  type TestServer,
  startTestServer,
  trpcClient,
  trpcCode,
} from './helpers/server';

type Client = ReturnType<typeof trpcClient>;

describe('patients (tRPC)', () => {
  let t: TestServer;
  let admin: Client;
  let doctorA: Client;
  let doctorB: Client;
  let patientSelf: Client;
  let unlinked: Client;
  let drA: number;
  let drB: number;
  let pA: number;
  let pB: number;

  const auditCount = (where: Record<string, unknown>) => t.db.models.AuditEvent.count({ where });
  const revisionCount = (patientId: number) => t.db.models.PatientRevision.count({ where: { patientId } });

  beforeAll(async () => {
    t = await startTestServer();
    admin = trpcClient(t.url, await adminToken(t));
    const [a, b] = (await admin.doctors.createMany.mutate([
      { name: 'Dr. Alpha', specialization: 'Cardiology' },
      { name: 'Dr. Beta', specialization: 'Neurology' },
    ])) as { id: number }[];
    drA = a!.id;
    drB = b!.id;
    const [p1, p2] = (await admin.patients.createMany.mutate([
      { name: 'Ann Example', age: 40, gender: 'F', doctorId: drA, roomNumber: '101', bedNumber: 1 },
      { name: 'Bob Example', age: 55, gender: 'M', doctorId: drB, roomNumber: '202', bedNumber: '2' },
    ])) as { id: number }[];
    pA = p1!.id;
    pB = p2!.id;
    doctorA = trpcClient(t.url, (await signedInUser(t, 'doctor', { doctorId: drA })).token);
    doctorB = trpcClient(t.url, (await signedInUser(t, 'doctor', { doctorId: drB })).token);
    patientSelf = trpcClient(t.url, (await signedInUser(t, 'patient', { patientId: pA })).token);
    unlinked = trpcClient(t.url, (await signedInUser(t, 'doctor')).token);
  });
  afterAll(async () => {
    await t.close();
  });

  describe('create', () => {
    it('admin admits a patient; room and bed given as integers are stored as strings', async () => {
      const created = await admin.patients.create.mutate({
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
      const row = await t.db.models.Patient.findByPk((created as { id: number }).id);
      expect(row?.bedNumber).toBe('3');
      expect(await auditCount({ action: 'create', patientId: row!.id })).toBe(1);
    });

    it('a doctor admits patients assigned to their own doctor record by default', async () => {
      const created = (await doctorA.patients.createMany.mutate([
        { name: 'Dora', age: 30, gender: 'F' },
        { name: 'Dan', age: 31, gender: 'M', doctorId: drA },
      ])) as { id: number; doctorId: number | null; diagnosis?: unknown }[];
      expect(created.map((p) => p.doctorId)).toEqual([drA, drA]);
      expect(created[0]).toHaveProperty('diagnosis', null);
    });

    it('a doctor cannot admit a patient for another doctor, and nothing is written', async () => {
      const before = await t.db.models.Patient.count();
      const error = await failure(
        doctorA.patients.createMany.mutate([
          { name: 'Ok', age: 1, gender: 'F' },
          { name: 'Not mine', age: 2, gender: 'M', doctorId: drB },
        ]),
      );
      expect(error.code).toBe('FORBIDDEN');
      expect(error.message).toMatch(/item 1/);
      expect(await t.db.models.Patient.count()).toBe(before);
    });

    it('an unlinked doctor and a patient cannot admit patients', async () => {
      expect(await trpcCode(unlinked.patients.create.mutate({ name: 'X', age: 1, gender: 'F' }))).toBe(
        'FORBIDDEN',
      );
      expect(await trpcCode(patientSelf.patients.create.mutate({ name: 'X', age: 1, gender: 'F' }))).toBe(
        'FORBIDDEN',
      );
    });

    it('a batch whose item 2 names a missing doctor is rejected, naming item 2, writing nothing', async () => {
      const before = await t.db.models.Patient.count();
      const audits = await t.db.models.AuditEvent.count();
      const error = await failure(
        admin.patients.createMany.mutate([
          { name: 'One', age: 1, gender: 'F', doctorId: drA },
          { name: 'Two', age: 2, gender: 'M', doctorId: drB },
          { name: 'Three', age: 3, gender: 'F', doctorId: 987_654 },
        ]),
      );
      expect(error).toMatchObject({ code: 'BAD_REQUEST', message: 'item 2: doctorId 987654 does not exist' });
      expect(await t.db.models.Patient.count()).toBe(before);
      expect(await t.db.models.AuditEvent.count()).toBe(audits);
    });

    it('a batch whose item 2 is invalid is rejected, naming item 2 and the field', async () => {
      const before = await t.db.models.Patient.count();
      const error = await failure(
        admin.patients.createMany.mutate([
          { name: 'One', age: 1, gender: 'F' },
          { name: 'Two', age: 2, gender: 'M' },
          { name: 'Three', age: 151, gender: 'F' },
        ]),
      );
      expect(error.code).toBe('BAD_REQUEST');
      expect(error.message).toMatch(/item 2/);
      expect(error.message).toMatch(/age/);
      expect(await t.db.models.Patient.count()).toBe(before);
    });

    it('clinical fields cannot be set at admission', async () => {
      expect(
        await trpcCode(
          doctorA.patients.create.mutate({ name: 'X', age: 1, gender: 'F', diagnosis: 'flu' } as never),
        ),
      ).toBe('BAD_REQUEST');
    });
  });

  describe('reading', () => {
    it('admin never sees diagnosis or prescribed medicine (get, list, history)', async () => {
      await doctorA.patients.update.mutate({
        id: pA,
        diagnosis: 'Hypertension',
        prescribedMedicine: 'Ramipril',
      });
      const got = await admin.patients.get.query({ id: pA });
      expect(got).not.toHaveProperty('diagnosis');
      expect(got).not.toHaveProperty('prescribedMedicine');
      const listed = await admin.patients.list.query({ limit: 1000 });
      for (const p of listed.items) {
        expect(p).not.toHaveProperty('diagnosis');
        expect(p).not.toHaveProperty('prescribedMedicine');
      }
      const history = await admin.patients.history.query({ patientId: pA });
      expect(history.items.length).toBeGreaterThan(0);
      expect(JSON.stringify(history)).not.toMatch(/Hypertension|Ramipril/);
      expect(history.items[0]!.changes).toEqual({
        diagnosis: { redacted: true },
        prescribedMedicine: { redacted: true },
      });
    });

    it("the patient's doctor and the patient see the full record", async () => {
      expect(await doctorA.patients.get.query({ id: pA })).toMatchObject({
        id: pA,
        diagnosis: 'Hypertension',
        prescribedMedicine: 'Ramipril',
      });
      expect(await patientSelf.patients.get.query({ id: pA })).toMatchObject({ diagnosis: 'Hypertension' });
    });

    it("a doctor cannot read or update another doctor's patient (NOT_FOUND)", async () => {
      expect(await trpcCode(doctorB.patients.get.query({ id: pA }))).toBe('NOT_FOUND');
      expect(await trpcCode(doctorB.patients.history.query({ patientId: pA }))).toBe('NOT_FOUND');
      expect(await trpcCode(doctorB.patients.update.mutate({ id: pA, diagnosis: 'x' }))).toBe('NOT_FOUND');
      expect((await doctorB.patients.list.query({ limit: 1000 })).items.map((p) => p.id)).not.toContain(pA);
      expect((await doctorB.patients.list.query({ doctorId: drA })).items).toEqual([]);
      expect((await t.db.models.Patient.findByPk(pA))?.diagnosis).toBe('Hypertension');
    });

    it('a patient sees only their own record', async () => {
      const listed = await patientSelf.patients.list.query();
      expect(listed.items.map((p) => p.id)).toEqual([pA]);
      expect(await trpcCode(patientSelf.patients.get.query({ id: pB }))).toBe('NOT_FOUND');
      expect(await trpcCode(patientSelf.patients.update.mutate({ id: pA, name: 'Me' }))).toBe('FORBIDDEN');
    });

    it('an unlinked account sees no patient', async () => {
      expect(await unlinked.patients.list.query()).toEqual({ items: [], nextCursor: null });
      expect(await trpcCode(unlinked.patients.get.query({ id: pA }))).toBe('NOT_FOUND');
      expect(await trpcCode(unlinked.patients.history.query({ patientId: pA }))).toBe('NOT_FOUND');
    });

    it('a doctor lists only their patients; search matches names ignoring case', async () => {
      const mine = await doctorA.patients.list.query({ limit: 1000 });
      expect(mine.items.length).toBeGreaterThan(0);
      expect(mine.items.every((p) => p.doctorId === drA)).toBe(true);
      const found = await admin.patients.list.query({ search: 'bob EXAM' });
      expect(found.items.map((p) => p.id)).toEqual([pB]);
      const filtered = await admin.patients.list.query({ doctorId: drB, limit: 1000 });
      expect(filtered.items.every((p) => p.doctorId === drB)).toBe(true);
    });

    it('every read appends audit rows: get, each patient of a list page, history', async () => {
      const reads = () => auditCount({ action: 'read', patientId: pB });
      let before = await reads();
      await admin.patients.get.query({ id: pB });
      expect(await reads()).toBe(before + 1);
      before = await reads();
      const listed = await admin.patients.list.query({ limit: 1000 });
      expect(await reads()).toBe(before + 1);
      for (const p of listed.items) {
        expect(
          await auditCount({ action: 'read', patientId: p.id, procedure: 'patients.list' }),
        ).toBeGreaterThan(0);
      }
      before = await reads();
      await admin.patients.history.query({ patientId: pB });
      expect(await reads()).toBe(before + 1);
    });
  });

  describe('update', () => {
    it("a doctor's diagnosis update shows in history with old and new values, with a revision and an audit row", async () => {
      const revisions = await revisionCount(pB);
      const audits = await auditCount({ action: 'update', patientId: pB });
      await doctorB.patients.update.mutate({ id: pB, diagnosis: 'Migraine' });
      const updated = await doctorB.patients.update.mutate({
        id: pB,
        diagnosis: 'Cluster headache',
        age: 56,
      });
      expect(updated).toMatchObject({ diagnosis: 'Cluster headache', age: 56 });
      expect(await revisionCount(pB)).toBe(revisions + 2);
      expect(await auditCount({ action: 'update', patientId: pB })).toBe(audits + 2);

      const history = await doctorB.patients.history.query({ patientId: pB });
      expect(history.items[0]).toMatchObject({
        actorType: 'user',
        changes: { diagnosis: { old: 'Migraine', new: 'Cluster headache' }, age: { old: 55, new: 56 } },
      });
      expect(history.items[1]!.changes).toEqual({ diagnosis: { old: null, new: 'Migraine' } });
      expect(history.items[0]!.createdAt).toBeInstanceOf(Date);

      const adminView = await admin.patients.history.query({ patientId: pB });
      expect(adminView.items[0]!.changes).toEqual({
        diagnosis: { redacted: true },
        age: { old: 55, new: 56 },
      });
    });

    it('a no-op update writes no revision and is audited as a read of the record it returns', async () => {
      const revisions = await revisionCount(pB);
      const audits = await t.db.models.AuditEvent.count();
      const result = await doctorB.patients.update.mutate({ id: pB, diagnosis: 'Cluster headache', age: 56 });
      expect(result).toMatchObject({ diagnosis: 'Cluster headache' });
      expect(await revisionCount(pB)).toBe(revisions);
      expect(await t.db.models.AuditEvent.count()).toBe(audits + 1);
      const last = await t.db.models.AuditEvent.findOne({ order: [['id', 'DESC']] });
      expect(last).toMatchObject({ action: 'read', patientId: pB, procedure: 'patients.update' });
    });

    it('a doctor cannot reassign doctor, room or bed; the message names the field and nothing is written', async () => {
      const revisions = await revisionCount(pB);
      const error = await failure(
        doctorB.patients.update.mutate({ id: pB, roomNumber: '999', name: 'Renamed' }),
      );
      expect(error.code).toBe('FORBIDDEN');
      expect(error.message).toMatch(/roomNumber/);
      expect(error.message).not.toMatch(/name,/);
      const doctorChange = await failure(doctorB.patients.update.mutate({ id: pB, doctorId: drA }));
      expect(doctorChange).toMatchObject({ code: 'FORBIDDEN', message: expect.stringMatching(/doctorId/) });
      const row = await t.db.models.Patient.findByPk(pB);
      expect(row).toMatchObject({ roomNumber: '202', name: 'Bob Example', doctorId: drB });
      expect(await revisionCount(pB)).toBe(revisions);
    });

    it('an admin cannot write clinical content; the message names the field', async () => {
      const error = await failure(admin.patients.update.mutate({ id: pB, prescribedMedicine: 'Aspirin' }));
      expect(error.code).toBe('FORBIDDEN');
      expect(error.message).toMatch(/prescribedMedicine/);
      expect((await t.db.models.Patient.findByPk(pB))?.prescribedMedicine).toBeNull();
    });

    it('an admin moves a patient to another room and bed and reassigns the doctor', async () => {
      const moved = await admin.patients.update.mutate({ id: pB, roomNumber: 303, bedNumber: '4B' });
      expect(moved).toMatchObject({ roomNumber: '303', bedNumber: '4B' });
      expect(moved).not.toHaveProperty('diagnosis');
      const history = await admin.patients.history.query({ patientId: pB, limit: 1 });
      expect(history.items[0]!.changes).toEqual({
        roomNumber: { old: '202', new: '303' },
        bedNumber: { old: '2', new: '4B' },
      });
      expect(history.nextCursor).toBe(history.items[0]!.id);
      const older = await admin.patients.history.query({ patientId: pB, cursor: history.nextCursor });
      expect(older.items.every((r) => r.id < history.items[0]!.id)).toBe(true);

      expect(await failure(admin.patients.update.mutate({ id: pB, doctorId: 987_654 }))).toMatchObject({
        code: 'BAD_REQUEST',
        message: 'doctorId 987654 does not exist',
      });
      const reassigned = await admin.patients.update.mutate({ id: pB, doctorId: drA });
      expect(reassigned.doctorId).toBe(drA);
      expect(await trpcCode(doctorB.patients.get.query({ id: pB }))).toBe('NOT_FOUND');
      expect(await doctorA.patients.get.query({ id: pB })).toMatchObject({ diagnosis: 'Cluster headache' });
    });

    it('concurrent updates of one record serialise: each revision starts from the previous value', async () => {
      const base = await revisionCount(pA);
      await Promise.all(
        ['Dose-v1', 'Dose-v2', 'Dose-v3', 'Dose-v4'].map((v) =>
          doctorA.patients.update.mutate({ id: pA, prescribedMedicine: v }),
        ),
      );
      const history = await doctorA.patients.history.query({ patientId: pA, limit: 4 });
      expect(await revisionCount(pA)).toBe(base + 4);
      const chain = history.items
        .reverse()
        .map((r) => r.changes.prescribedMedicine as { old: unknown; new: unknown });
      for (let i = 1; i < chain.length; i++) expect(chain[i]!.old).toBe(chain[i - 1]!.new);
      expect((await t.db.models.Patient.findByPk(pA))?.prescribedMedicine).toBe(chain[3]!.new);
    });

    it('updatePatient can be called outside a request (as a background job will)', async () => {
      const result = await updatePatient(
        t.db,
        { type: 'service', id: 7, name: 'importer', scopes: ['patients:write'] },
        pA,
        { gender: 'female' },
        { requestId: 'job-1', ip: null, procedure: 'jobs.updatePatient' },
      );
      expect(result.changedFields).toEqual(['gender']);
      expect(result.patient).not.toHaveProperty('diagnosis');
      expect(await auditCount({ requestId: 'job-1', action: 'update', patientId: pA })).toBe(1);
      const revision = await t.db.models.PatientRevision.findOne({
        where: { patientId: pA },
        order: [['id', 'DESC']],
      });
      expect(revision).toMatchObject({ actorType: 'service', actorName: 'importer' });
      expect(revision!.changes).toEqual({ gender: { old: 'F', new: 'female' } });
    });

    it("updatePatient joins the caller's transaction: a later failure rolls the change, revision and audit back", async () => {
      const revisions = await revisionCount(pA);
      const audits = await t.db.models.AuditEvent.count();
      const actor: ServiceActor = { type: 'service', id: 7, name: 'importer', scopes: ['patients:write'] };
      await expect(
        t.db.transaction(async (tx) => {
          await updatePatient(
            t.db,
            actor,
            pA,
            { name: 'Rolled Back' },
            { requestId: 'job-2', ip: null, procedure: 'jobs.updatePatient' },
            tx,
          );
          throw new Error('the job failed after the update');
        }),
      ).rejects.toThrow('the job failed');
      expect((await t.db.models.Patient.findByPk(pA))?.name).toBe('Ann Example');
      expect(await revisionCount(pA)).toBe(revisions);
      expect(await t.db.models.AuditEvent.count()).toBe(audits);
    });
  });

  describe('services', () => {
    it('a service with patients:read sees admission data only; without it, nothing', async () => {
      const reader = serviceCaller(t, ['patients:read']);
      const got = await reader.patients.get({ id: pA });
      expect(got).not.toHaveProperty('diagnosis');
      const history = await reader.patients.history({ patientId: pA });
      expect(JSON.stringify(history)).not.toMatch(/Hypertension|Ramipril|Dose-v\d/);
      await expect(serviceCaller(t, ['doctors:read']).patients.list({})).rejects.toMatchObject({
        code: 'FORBIDDEN',
      });
      await expect(reader.patients.update({ id: pA, name: 'X' })).rejects.toMatchObject({
        code: 'FORBIDDEN',
      });
    });

    it('a service with patients:write changes admission data, never clinical content', async () => {
      const writer = serviceCaller(t, ['patients:write']);
      expect(await writer.patients.update({ id: pA, bedNumber: 9 })).toMatchObject({ bedNumber: '9' });
      await expect(writer.patients.update({ id: pA, diagnosis: 'x' })).rejects.toMatchObject({
        code: 'FORBIDDEN',
      });
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
