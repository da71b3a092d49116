import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceCaller } from './helpers/callers';
import {
  ADMIN,
  adminToken,
  http,
  signedInUser,
  type TestServer,
  startTestServer,
  trpcClient,
  trpcCode,
} from './helpers/server';

describe('users (tRPC, admin only)', () => {
  let t: TestServer;
  let admin: ReturnType<typeof trpcClient>;
  let drA: number;
  let drB: number;
  let pA: number;

  beforeAll(async () => {
    t = await startTestServer();
    admin = trpcClient(t.url, await adminToken(t));
    const doctors = (await admin.doctors.createMany.mutate([
      { name: 'Dr. Link', specialization: 'General' },
      { name: 'Dr. Other', specialization: 'General' },
    ])) as { id: number }[];
    drA = doctors[0]!.id;
    drB = doctors[1]!.id;
    const patient = (await admin.patients.create.mutate({
      name: 'Pat',
      age: 20,
      gender: 'M',
      doctorId: drA,
    })) as {
      id: number;
    };
    pA = patient.id;
  });
  afterAll(async () => {
    await t.close();
  });

  it('lists accounts with a role filter, a search on username or email, and keyset pages', async () => {
    await signedInUser(t, 'doctor', { username: 'Zed.Searchable' });
    await signedInUser(t, 'patient', { username: 'pat_one' });
    await signedInUser(t, 'patient', { username: 'pat_two' });
    const doctors = await admin.users.list.query({ role: 'doctor' });
    expect(doctors.items.length).toBeGreaterThan(0);
    expect(doctors.items.every((u) => u.role === 'doctor')).toBe(true);
    expect((await admin.users.list.query({ search: 'zed.SEARCH' })).items.map((u) => u.username)).toEqual([
      'Zed.Searchable',
    ]);
    expect(
      (await admin.users.list.query({ search: 'pat_one@example' })).items.map((u) => u.username),
    ).toEqual(['pat_one']);
    const first = await admin.users.list.query({ role: 'patient', limit: 1 });
    expect(first.items).toHaveLength(1);
    const second = await admin.users.list.query({ role: 'patient', limit: 1, cursor: first.nextCursor });
    expect(second.items[0]!.id).toBeGreaterThan(first.items[0]!.id);
    const all = await admin.users.list.query({ limit: 1000 });
    expect(all.nextCursor).toBeNull();
    expect(all.items[0]).not.toHaveProperty('passwordHash');
  });

  it('is closed to doctors, patients and services', async () => {
    const doctor = trpcClient(t.url, (await signedInUser(t, 'doctor')).token);
    expect(await trpcCode(doctor.users.list.query())).toBe('FORBIDDEN');
    expect(await trpcCode(doctor.users.link.mutate({ userId: 1, doctorId: drA }))).toBe('FORBIDDEN');
    await expect(
      serviceCaller(t, ['doctors:read', 'doctors:write', 'patients:read', 'patients:write']).users.list({}),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('links a doctor account to a Doctor record; the existing session sees the patients at once', async () => {
    const account = await signedInUser(t, 'doctor');
    const client = trpcClient(t.url, account.token);
    expect((await client.patients.list.query()).items).toEqual([]);
    const linked = await admin.users.link.mutate({ userId: account.id, doctorId: drA });
    expect(linked).toMatchObject({ id: account.id, role: 'doctor', doctorId: drA, patientId: null });
    expect((await client.patients.list.query()).items.map((p) => p.id)).toEqual([pA]);
    expect(
      await t.db.models.AuditEvent.count({
        where: { action: 'link', procedure: 'users.link', actorName: ADMIN.username },
      }),
    ).toBeGreaterThan(0);
  });

  it('links a patient account to a Patient record, audited against that patient', async () => {
    const account = await signedInUser(t, 'patient');
    const linked = await admin.users.link.mutate({ userId: account.id, patientId: pA });
    expect(linked).toMatchObject({ patientId: pA, doctorId: null });
    expect(await t.db.models.AuditEvent.count({ where: { action: 'link', patientId: pA } })).toBe(1);
    const self = trpcClient(t.url, account.token);
    expect(await self.patients.get.query({ id: pA })).toMatchObject({ id: pA, name: 'Pat' });
  });

  it('a record links to at most one account (CONFLICT); relinking the same account is fine', async () => {
    const first = await signedInUser(t, 'doctor');
    const second = await signedInUser(t, 'doctor');
    await admin.users.link.mutate({ userId: first.id, doctorId: drB });
    expect(await trpcCode(admin.users.link.mutate({ userId: second.id, doctorId: drB }))).toBe('CONFLICT');
    expect(await admin.users.link.mutate({ userId: first.id, doctorId: drB })).toMatchObject({
      doctorId: drB,
    });
    expect((await t.db.models.User.findByPk(second.id))?.doctorId).toBeNull();
  });

  it('links accounts only to records of their own role; admin accounts are never linked', async () => {
    const doctor = await signedInUser(t, 'doctor');
    const patient = await signedInUser(t, 'patient');
    const adminRow = await t.db.models.User.findOne({ where: { usernameKey: ADMIN.username } });
    expect(await trpcCode(admin.users.link.mutate({ userId: doctor.id, patientId: pA }))).toBe('BAD_REQUEST');
    expect(await trpcCode(admin.users.link.mutate({ userId: patient.id, doctorId: drA }))).toBe(
      'BAD_REQUEST',
    );
    expect(await trpcCode(admin.users.link.mutate({ userId: adminRow!.id, doctorId: drA }))).toBe(
      'BAD_REQUEST',
    );
    expect(
      await trpcCode(admin.users.link.mutate({ userId: doctor.id, doctorId: drA, patientId: pA } as never)),
    ).toBe('BAD_REQUEST');
  });

  it('unknown accounts and records are NOT_FOUND', async () => {
    const doctor = await signedInUser(t, 'doctor');
    const patient = await signedInUser(t, 'patient');
    expect(await trpcCode(admin.users.link.mutate({ userId: 999_999, doctorId: drA }))).toBe('NOT_FOUND');
    expect(await trpcCode(admin.users.link.mutate({ userId: doctor.id, doctorId: 999_999 }))).toBe(
      'NOT_FOUND',
    );
    expect(await trpcCode(admin.users.link.mutate({ userId: patient.id, patientId: 999_999 }))).toBe(
      'NOT_FOUND',
    );
  });

  it('disabling an account ends all its sessions (old token -> 401) and blocks sign-in; enabling restores it', async () => {
    const account = await signedInUser(t, 'patient');
    const second = await http(t.url, 'POST', '/login', {
      body: { username: account.username, password: account.password },
    });
    expect(second.status).toBe(200);
    expect((await http(t.url, 'GET', '/patients', { token: account.token })).status).toBe(200);

    const disabled = await admin.users.setDisabled.mutate({ userId: account.id, disabled: true });
    expect(disabled.disabled).toBe(true);
    expect(await t.db.models.Session.count({ where: { userId: account.id } })).toBe(0);
    expect((await http(t.url, 'GET', '/patients', { token: account.token })).status).toBe(401);
    expect((await http(t.url, 'GET', '/patients', { token: second.body.token })).status).toBe(401);
    expect(await trpcCode(trpcClient(t.url, account.token).patients.list.query())).toBe('UNAUTHORIZED');
    const refused = await http(t.url, 'POST', '/login', {
      body: { username: account.username, password: account.password },
    });
    expect(refused.status).toBe(401);

    expect((await admin.users.setDisabled.mutate({ userId: account.id, disabled: false })).disabled).toBe(
      false,
    );
    const again = await http(t.url, 'POST', '/login', {
      body: { username: account.username, password: account.password },
    });
    expect(again.status).toBe(200);
  });

  it('an admin cannot disable their own account; unknown accounts are NOT_FOUND', async () => {
    const me = await admin.auth.me.query();
    expect(await trpcCode(admin.users.setDisabled.mutate({ userId: me.id, disabled: true }))).toBe(
      'FORBIDDEN',
    );
    expect((await t.db.models.User.findByPk(me.id))?.disabledAt).toBeNull();
    expect(await trpcCode(admin.users.setDisabled.mutate({ userId: 999_999, disabled: true }))).toBe(
      'NOT_FOUND',
    );
  });
});
