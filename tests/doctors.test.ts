import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failure, serviceCaller } from './helpers/callers';
import {
  adminToken,
  signedInUser,
  type TestServer,
  startTestServer,
  trpcClient,
  trpcCode,
} from './helpers/server';

describe('doctors (tRPC)', () => {
  let t: TestServer;
  let admin: ReturnType<typeof trpcClient>;

  beforeAll(async () => {
    t = await startTestServer();
    admin = trpcClient(t.url, await adminToken(t));
  });
  afterAll(async () => {
    await t.close();
  });

  it('admin creates one doctor and gets the same shape back', async () => {
    const doctor = await admin.doctors.create.mutate({ name: 'Dr. Holmes', specialization: 'Surgery' });
    expect(Array.isArray(doctor)).toBe(false);
    expect(doctor).toMatchObject({ name: 'Dr. Holmes', specialization: 'Surgery' });
    expect(doctor).toHaveProperty('id');
    expect(await admin.doctors.get.query({ id: (doctor as { id: number }).id })).toMatchObject({
      name: 'Dr. Holmes',
    });
  });

  it('admin creates an array of doctors in one call and gets an array back, in order', async () => {
    const created = await admin.doctors.createMany.mutate([
      { name: 'Dr. Watson', specialization: 'General practice' },
      { name: 'Dr. Grey', specialization: 'Cardiology' },
      { name: 'Dr. House', specialization: 'Diagnostics' },
    ]);
    expect(Array.isArray(created)).toBe(true);
    const list = created as { id: number; name: string }[];
    expect(list.map((d) => d.name)).toEqual(['Dr. Watson', 'Dr. Grey', 'Dr. House']);
    expect(new Set(list.map((d) => d.id)).size).toBe(3);
    for (const d of list) expect(await t.db.models.Doctor.findByPk(d.id)).not.toBeNull();
  });

  it('a batch with a bad item at index 2 is rejected, names the item, and writes nothing', async () => {
    const before = await t.db.models.Doctor.count();
    const error = await failure(
      admin.doctors.createMany.mutate([
        { name: 'Dr. A', specialization: 'Oncology' },
        { name: 'Dr. B', specialization: 'Oncology' },
        { name: 'Dr. C', specialization: '' },
      ]),
    );
    expect(error.code).toBe('BAD_REQUEST');
    expect(error.message).toMatch(/item 2/);
    expect(error.issues).toContainEqual({ path: [2, 'specialization'], message: 'is required' });
    expect(await t.db.models.Doctor.count()).toBe(before);
  });

  it('rejects unknown fields and missing fields', async () => {
    expect(
      await trpcCode(admin.doctors.create.mutate({ name: 'X', specialization: 'Y', extra: 1 } as never)),
    ).toBe('BAD_REQUEST');
    expect(await trpcCode(admin.doctors.create.mutate({ name: 'X' } as never))).toBe('BAD_REQUEST');
  });

  it('only admins create or update doctors; anyone signed in reads them', async () => {
    const doctor = await signedInUser(t, 'doctor');
    const patient = await signedInUser(t, 'patient');
    const asDoctor = trpcClient(t.url, doctor.token);
    const asPatient = trpcClient(t.url, patient.token);
    expect(await trpcCode(asDoctor.doctors.create.mutate({ name: 'X', specialization: 'Y' }))).toBe(
      'FORBIDDEN',
    );
    expect(await trpcCode(asPatient.doctors.update.mutate({ id: 1, name: 'X' }))).toBe('FORBIDDEN');
    expect(await trpcCode(trpcClient(t.url).doctors.list.query())).toBe('UNAUTHORIZED');
    const page = await asPatient.doctors.list.query();
    expect(page.items.length).toBeGreaterThan(0);
    expect(page.items[0]).toEqual({
      id: expect.any(Number),
      name: expect.any(String),
      specialization: expect.any(String),
      createdAt: expect.any(Date),
      updatedAt: expect.any(Date),
    });
  });

  it('search matches name or specialization, ignoring case, and treats % literally', async () => {
    await admin.doctors.createMany.mutate([
      { name: 'Dr. Strange', specialization: 'Neurosurgery' },
      { name: 'Dr. Quinn', specialization: 'Medicine Woman' },
      { name: 'Dr. 100% Sure', specialization: 'Statistics' },
    ]);
    const byName = await admin.doctors.list.query({ search: 'STRANGE' });
    expect(byName.items.map((d) => d.name)).toEqual(['Dr. Strange']);
    const bySpecialization = await admin.doctors.list.query({ search: 'neuro' });
    expect(bySpecialization.items.map((d) => d.name)).toEqual(['Dr. Strange']);
    const literal = await admin.doctors.list.query({ search: '0%' });
    expect(literal.items.map((d) => d.name)).toEqual(['Dr. 100% Sure']);
    expect((await admin.doctors.list.query({ search: 'nobody-by-this-name' })).items).toEqual([]);
  });

  it('admin updates a doctor; unknown ids are NOT_FOUND; an empty update is BAD_REQUEST', async () => {
    const doctor = (await admin.doctors.create.mutate({ name: 'Dr. Who', specialization: 'Time' })) as {
      id: number;
    };
    const updated = await admin.doctors.update.mutate({ id: doctor.id, specialization: 'Space' });
    expect(updated).toMatchObject({ id: doctor.id, name: 'Dr. Who', specialization: 'Space' });
    expect((await t.db.models.Doctor.findByPk(doctor.id))?.specialization).toBe('Space');
    expect(await trpcCode(admin.doctors.update.mutate({ id: 999_999, name: 'Nobody' }))).toBe('NOT_FOUND');
    expect(await trpcCode(admin.doctors.get.query({ id: 999_999 }))).toBe('NOT_FOUND');
    expect(await trpcCode(admin.doctors.update.mutate({ id: doctor.id }))).toBe('BAD_REQUEST');
  });

  it('services need doctors:read to read and doctors:write to write', async () => {
    const reader = serviceCaller(t, ['doctors:read']);
    expect((await reader.doctors.list({})).items.length).toBeGreaterThan(0);
    await expect(reader.doctors.create({ name: 'X', specialization: 'Y' })).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
    const writer = serviceCaller(t, ['doctors:write']);
    await expect(writer.doctors.list({})).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(await writer.doctors.create({ name: 'Dr. Service', specialization: 'Automation' })).toMatchObject({
      name: 'Dr. Service',
    });
  });
});
