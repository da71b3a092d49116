import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Caller, callerAs, callerFor, outcome, serviceCaller, signIn } from './helpers/callers';
import { ADMIN, adminToken, signedInUser, type TestServer, startTestServer } from './helpers/server';

/**
 * The users procedures (admin only), called in process. The world: doctors A and B and patient P
 * of doctor A; tests that link a record to an account make the record they link.
 */
describe('users (procedures, admin only)', () => {
  let t: TestServer;
  let admin: Caller;
  let drA: number;
  let drB: number;
  let pA: number;

  beforeAll(async () => {
    t = await startTestServer();
    admin = callerFor(t, await adminToken(t));
    const doctors = await admin.doctors.createMany([
      { name: 'Dr. Link', specialization: 'General' },
      { name: 'Dr. Other', specialization: 'General' },
    ]);
    drA = doctors[0]!.id;
    drB = doctors[1]!.id;
    pA = (await admin.patients.create({ name: 'Pat', age: 20, gender: 'M', doctorId: drA })).id;
  });
  afterAll(async () => {
    await t?.close();
  });

  it('lists accounts with a role filter, a search on username or email, and keyset pages', async () => {
    await signedInUser(t, 'doctor', { username: 'Zed.Searchable' });
    await signedInUser(t, 'patient', { username: 'pat_one' });
    await signedInUser(t, 'patient', { username: 'pat_two' });
    const doctors = await admin.users.list({ role: 'doctor' });
    expect(doctors.items.map((u) => u.username)).toContain('Zed.Searchable');
    expect(doctors.items.every((u) => u.role === 'doctor')).toBe(true);
    expect((await admin.users.list({ search: 'zed.SEARCH' })).items.map((u) => u.username)).toEqual([
      'Zed.Searchable',
    ]);
    expect((await admin.users.list({ search: 'pat_one@example' })).items.map((u) => u.username)).toEqual([
      'pat_one',
    ]);
    const first = await admin.users.list({ role: 'patient', limit: 1 });
    expect(first.items).toHaveLength(1);
    const second = await admin.users.list({ role: 'patient', limit: 1, cursor: first.nextCursor });
    expect(second.items[0]!.id).toBeGreaterThan(first.items[0]!.id);
    const all = await admin.users.list({ limit: 1000 });
    expect(all.nextCursor).toBeNull();
    expect(all.items[0]).not.toHaveProperty('passwordHash');
  });

  it('is closed to doctors, patients and services', async () => {
    const account = await signedInUser(t, 'patient');
    for (const token of [(await signedInUser(t, 'doctor')).token, (await signedInUser(t, 'patient')).token]) {
      const caller = callerFor(t, token);
      expect((await outcome(caller.users.list())).code).toBe('FORBIDDEN');
      expect((await outcome(caller.users.link({ userId: account.id, patientId: pA }))).code).toBe(
        'FORBIDDEN',
      );
      expect((await outcome(caller.users.setDisabled({ userId: account.id, disabled: true }))).code).toBe(
        'FORBIDDEN',
      );
    }
    const service = serviceCaller(t, ['doctors:read', 'doctors:write', 'patients:read', 'patients:write']);
    expect((await outcome(service.users.list({}))).code).toBe('FORBIDDEN');
    expect(await t.db.models.User.findByPk(account.id)).toMatchObject({ patientId: null, disabledAt: null });
  });

  it('links a doctor account to a Doctor record; the existing session sees the patients at once', async () => {
    const doctor = await admin.doctors.create({ name: 'Dr. Newly Linked', specialization: 'General' });
    const patient = await admin.patients.create({
      name: 'Pat Of New',
      age: 33,
      gender: 'F',
      doctorId: doctor.id,
    });
    const account = await signedInUser(t, 'doctor');
    const client = callerFor(t, account.token);
    expect((await client.patients.list()).items).toEqual([]);
    const linked = await admin.users.link({ userId: account.id, doctorId: doctor.id });
    expect(linked).toMatchObject({ id: account.id, role: 'doctor', doctorId: doctor.id, patientId: null });
    expect((await client.patients.list()).items.map((p) => p.id)).toEqual([patient.id]);
    expect(
      await t.db.models.AuditEvent.count({
        where: { action: 'link', procedure: 'users.link', actorName: ADMIN.username },
      }),
    ).toBeGreaterThan(0);
  });

  it('links a patient account to a Patient record, audited against that patient', async () => {
    const patient = await admin.patients.create({ name: 'Pat Linked', age: 30, gender: 'F', doctorId: drA });
    const account = await signedInUser(t, 'patient');
    const linked = await admin.users.link({ userId: account.id, patientId: patient.id });
    expect(linked).toMatchObject({ patientId: patient.id, doctorId: null });
    expect(await t.db.models.AuditEvent.count({ where: { action: 'link', patientId: patient.id } })).toBe(1);
    const self = callerFor(t, account.token);
    expect(await self.patients.get({ id: patient.id })).toMatchObject({ id: patient.id, name: 'Pat Linked' });
  });

  it('a record links to at most one account (CONFLICT); relinking the same account is fine', async () => {
    const doctor = await admin.doctors.create({ name: 'Dr. Once', specialization: 'General' });
    const first = await signedInUser(t, 'doctor');
    const second = await signedInUser(t, 'doctor');
    await admin.users.link({ userId: first.id, doctorId: doctor.id });
    expect((await outcome(admin.users.link({ userId: second.id, doctorId: doctor.id }))).code).toBe(
      'CONFLICT',
    );
    expect(await admin.users.link({ userId: first.id, doctorId: doctor.id })).toMatchObject({
      doctorId: doctor.id,
    });
    expect((await t.db.models.User.findByPk(second.id))?.doctorId).toBeNull();
  });

  it('links accounts only to records of their own role; admin accounts are never linked', async () => {
    const doctor = await signedInUser(t, 'doctor');
    const patient = await signedInUser(t, 'patient');
    const adminRow = await t.db.models.User.findOne({ where: { usernameKey: ADMIN.username } });
    expect((await outcome(admin.users.link({ userId: doctor.id, patientId: pA }))).code).toBe('BAD_REQUEST');
    expect((await outcome(admin.users.link({ userId: patient.id, doctorId: drB }))).code).toBe('BAD_REQUEST');
    expect((await outcome(admin.users.link({ userId: adminRow!.id, doctorId: drB }))).code).toBe(
      'BAD_REQUEST',
    );
    expect(
      (await outcome(admin.users.link({ userId: doctor.id, doctorId: drB, patientId: pA } as never))).code,
    ).toBe('BAD_REQUEST');
    for (const id of [doctor.id, patient.id, adminRow!.id]) {
      expect(await t.db.models.User.findByPk(id)).toMatchObject({ doctorId: null, patientId: null });
    }
  });

  it('unknown accounts and records are NOT_FOUND', async () => {
    const doctor = await signedInUser(t, 'doctor');
    const patient = await signedInUser(t, 'patient');
    expect((await outcome(admin.users.link({ userId: 999_999, doctorId: drA }))).code).toBe('NOT_FOUND');
    expect((await outcome(admin.users.link({ userId: doctor.id, doctorId: 999_999 }))).code).toBe(
      'NOT_FOUND',
    );
    expect((await outcome(admin.users.link({ userId: patient.id, patientId: 999_999 }))).code).toBe(
      'NOT_FOUND',
    );
  });

  it('disabling an account ends all its sessions (old tokens are refused) and blocks sign-in; enabling restores it', async () => {
    const account = await signedInUser(t, 'patient');
    const secondToken = await signIn(t, account.username, account.password);
    expect((await outcome(callerFor(t, account.token).patients.list())).code).toBe('OK');

    const disabled = await admin.users.setDisabled({ userId: account.id, disabled: true });
    expect(disabled.disabled).toBe(true);
    expect(await t.db.models.Session.count({ where: { userId: account.id } })).toBe(0);
    for (const token of [account.token, secondToken]) {
      expect((await outcome(callerFor(t, token).patients.list())).code).toBe('UNAUTHORIZED');
    }
    const login = () =>
      callerAs(t, null).auth.login({ username: account.username, password: account.password });
    expect((await outcome(login())).code).toBe('UNAUTHORIZED');

    expect((await admin.users.setDisabled({ userId: account.id, disabled: false })).disabled).toBe(false);
    expect((await outcome(login())).code).toBe('OK');
  });

  it('an admin cannot disable their own account; unknown accounts are NOT_FOUND', async () => {
    const me = await admin.auth.me();
    expect((await outcome(admin.users.setDisabled({ userId: me.id, disabled: true }))).code).toBe(
      'FORBIDDEN',
    );
    expect((await t.db.models.User.findByPk(me.id))?.disabledAt).toBeNull();
    expect((await outcome(admin.users.setDisabled({ userId: 999_999, disabled: true }))).code).toBe(
      'NOT_FOUND',
    );
  });
});
