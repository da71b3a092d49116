import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Caller, callerFor, outcome, serviceCaller } from './helpers/callers';
import { adminToken, signedInUser, type TestServer, startTestServer, trpcClient } from './helpers/server';

/** The doctors procedures, called in process; the world is one doctor of the register. */
describe('doctors (procedures)', () => {
  let t: TestServer;
  let adminBearer: string;
  let admin: Caller;
  let registered: number;

  beforeAll(async () => {
    t = await startTestServer();
    adminBearer = await adminToken(t);
    admin = callerFor(t, adminBearer);
    registered = (await admin.doctors.create({ name: 'Dr. Registered', specialization: 'General medicine' }))
      .id;
  });
  afterAll(async () => {
    await t?.close();
  });

  it('admin creates one doctor and gets the same shape back', async () => {
    const doctor = await admin.doctors.create({ name: 'Dr. Holmes', specialization: 'Surgery' });
    expect(Array.isArray(doctor)).toBe(false);
    expect(doctor).toMatchObject({ name: 'Dr. Holmes', specialization: 'Surgery' });
    expect(doctor).toHaveProperty('id');
    expect(await admin.doctors.get({ id: doctor.id })).toMatchObject({ name: 'Dr. Holmes' });
  });

  it('create takes one object only: an array is BAD_REQUEST naming doctors.createMany, and nothing is written', async () => {
    const before = await t.db.models.Doctor.count();
    const refused = await outcome(
      admin.doctors.create([{ name: 'Dr. Array', specialization: 'A' }] as never),
    );
    expect(refused.code).toBe('BAD_REQUEST');
    expect(refused.message).toContain('doctors.createMany');
    expect(await t.db.models.Doctor.count()).toBe(before);
  });

  it('over HTTP too, doctors.create answers an array with BAD_REQUEST naming doctors.createMany', async () => {
    const before = await t.db.models.Doctor.count();
    const refused = await outcome(
      trpcClient(t.url, adminBearer).doctors.create.mutate([
        { name: 'Dr. Wire', specialization: 'A' },
      ] as never),
    );
    expect(refused.code).toBe('BAD_REQUEST');
    expect(refused.message).toContain('doctors.createMany');
    expect(await t.db.models.Doctor.count()).toBe(before);
  });

  it('admin creates an array of doctors in one call and gets an array back, in order', async () => {
    const created = await admin.doctors.createMany([
      { name: 'Dr. Watson', specialization: 'General practice' },
      { name: 'Dr. Grey', specialization: 'Cardiology' },
      { name: 'Dr. House', specialization: 'Diagnostics' },
    ]);
    expect(Array.isArray(created)).toBe(true);
    expect(created.map((d) => d.name)).toEqual(['Dr. Watson', 'Dr. Grey', 'Dr. House']);
    expect(new Set(created.map((d) => d.id)).size).toBe(3);
    for (const d of created) expect(await t.db.models.Doctor.findByPk(d.id)).not.toBeNull();
  });

  it('a batch with a bad item at index 2 is rejected, names the item, and writes nothing', async () => {
    const before = await t.db.models.Doctor.count();
    const audits = await t.db.models.AuditEvent.count();
    const error = await outcome(
      admin.doctors.createMany([
        { name: 'Dr. A', specialization: 'Oncology' },
        { name: 'Dr. B', specialization: 'Oncology' },
        { name: 'Dr. C', specialization: '' },
      ]),
    );
    expect(error.code).toBe('BAD_REQUEST');
    expect(error.message).toMatch(/item 2/);
    expect(error.issues).toContainEqual({ path: [2, 'specialization'], message: 'is required' });
    expect(await t.db.models.Doctor.count()).toBe(before);
    expect(await t.db.models.AuditEvent.count()).toBe(audits);
  });

  it('rejects unknown fields and missing fields', async () => {
    expect(
      (await outcome(admin.doctors.create({ name: 'X', specialization: 'Y', extra: 1 } as never))).code,
    ).toBe('BAD_REQUEST');
    expect((await outcome(admin.doctors.create({ name: 'X' } as never))).code).toBe('BAD_REQUEST');
  });

  it('only admins create or update doctors; anyone signed in reads them', async () => {
    const asDoctor = callerFor(t, (await signedInUser(t, 'doctor')).token);
    const asPatient = callerFor(t, (await signedInUser(t, 'patient')).token);
    expect((await outcome(asDoctor.doctors.create({ name: 'X', specialization: 'Y' }))).code).toBe(
      'FORBIDDEN',
    );
    expect((await outcome(asPatient.doctors.update({ id: registered, name: 'X' }))).code).toBe('FORBIDDEN');
    expect((await t.db.models.Doctor.findByPk(registered))?.name).toBe('Dr. Registered');
    expect((await outcome(callerFor(t).doctors.list())).code).toBe('UNAUTHORIZED');
    const page = await asPatient.doctors.list();
    expect(page.items.map((d) => d.id)).toContain(registered);
    expect(page.items[0]).toEqual({
      id: expect.any(Number),
      name: expect.any(String),
      specialization: expect.any(String),
      createdAt: expect.any(Date),
      updatedAt: expect.any(Date),
    });
  });

  it('search matches name or specialization, ignoring case, and treats % literally', async () => {
    await admin.doctors.createMany([
      { name: 'Dr. Strange', specialization: 'Neurosurgery' },
      { name: 'Dr. Quinn', specialization: 'Medicine Woman' },
      { name: 'Dr. 100% Sure', specialization: 'Statistics' },
    ]);
    const byName = await admin.doctors.list({ search: 'STRANGE' });
    expect(byName.items.map((d) => d.name)).toEqual(['Dr. Strange']);
    const bySpecialization = await admin.doctors.list({ search: 'neuro' });
    expect(bySpecialization.items.map((d) => d.name)).toEqual(['Dr. Strange']);
    const literal = await admin.doctors.list({ search: '0%' });
    expect(literal.items.map((d) => d.name)).toEqual(['Dr. 100% Sure']);
    expect((await admin.doctors.list({ search: 'nobody-by-this-name' })).items).toEqual([]);
  });

  it('admin updates a doctor; unknown ids are NOT_FOUND; an empty update is BAD_REQUEST', async () => {
    const doctor = await admin.doctors.create({ name: 'Dr. Who', specialization: 'Time' });
    const updated = await admin.doctors.update({ id: doctor.id, specialization: 'Space' });
    expect(updated).toMatchObject({ id: doctor.id, name: 'Dr. Who', specialization: 'Space' });
    expect((await t.db.models.Doctor.findByPk(doctor.id))?.specialization).toBe('Space');
    expect((await outcome(admin.doctors.update({ id: 999_999, name: 'Nobody' }))).code).toBe('NOT_FOUND');
    expect((await outcome(admin.doctors.get({ id: 999_999 }))).code).toBe('NOT_FOUND');
    expect((await outcome(admin.doctors.update({ id: doctor.id }))).code).toBe('BAD_REQUEST');
  });

  it('services need doctors:read to read and doctors:write to write', async () => {
    const reader = serviceCaller(t, ['doctors:read']);
    expect((await reader.doctors.list({})).items.map((d) => d.id)).toContain(registered);
    const before = await t.db.models.Doctor.count();
    expect((await outcome(reader.doctors.create({ name: 'X', specialization: 'Y' }))).code).toBe('FORBIDDEN');
    expect(await t.db.models.Doctor.count()).toBe(before);
    const writer = serviceCaller(t, ['doctors:write']);
    expect((await outcome(writer.doctors.list({}))).code).toBe('FORBIDDEN');
    expect(await writer.doctors.create({ name: 'Dr. Service', specialization: 'Automation' })).toMatchObject({
      name: 'Dr. Service',
    });
  });
});
