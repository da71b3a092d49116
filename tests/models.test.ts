import { type Database, migrateToLatest } from '@hdms/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccount, verifyPassword } from '../server/src/auth/index';
import { outcome } from './helpers/callers';
import { openFreshDatabase, type TestDatabase } from './helpers/db';

describe('models', () => {
  let db: Database;
  let target: TestDatabase;
  beforeAll(async () => {
    ({ db, target } = await openFreshDatabase());
    await migrateToLatest(db.sequelize);
  });
  afterAll(async () => {
    await db.close();
    await target.drop();
  });

  it('creates a user whose password checks, stored only as an argon2id hash', async () => {
    const user = await createAccount(db, {
      username: 'Alice.Smith',
      email: 'Alice@Example.org',
      password: 'correct horse',
      role: 'doctor',
    });
    const stored = await db.models.User.findByPk(user.id);
    expect(stored?.username).toBe('Alice.Smith');
    expect(stored?.email).toBe('alice@example.org');
    expect(stored?.passwordHash).toMatch(/^\$argon2id\$/);
    expect(stored?.passwordHash).not.toContain('correct horse');
    expect(await verifyPassword(stored!.passwordHash, 'correct horse')).toBe(true);
    expect(await verifyPassword(stored!.passwordHash, 'wrong horse')).toBe(false);
  });

  it('keeps roles and rejects a username or email taken in another letter case', async () => {
    const patient = await createAccount(db, {
      username: 'bob',
      email: 'bob@example.org',
      password: 'password-b',
      role: 'patient',
    });
    expect(patient.role).toBe('patient');
    expect(
      await outcome(
        createAccount(db, {
          username: 'BOB',
          email: 'other@example.org',
          password: 'password-b',
          role: 'doctor',
        }),
      ),
    ).toMatchObject({ code: 'CONFLICT', message: 'That username is already taken' });
    expect(
      await outcome(
        createAccount(db, {
          username: 'bobby',
          email: 'BOB@example.ORG',
          password: 'password-b',
          role: 'doctor',
        }),
      ),
    ).toMatchObject({ code: 'CONFLICT', message: 'That email is already registered' });
    expect(await db.models.User.count({ where: { usernameKey: 'bobby' } })).toBe(0);
  });

  it('creates doctors, patients and checks that reference them by id', async () => {
    const { Doctor, Patient, CheckHistory } = db.models;
    const doctor = await Doctor.create({ name: 'Dr. Who', specialization: 'Cardiology' });
    const patient = await Patient.create({
      name: 'Jane Roe',
      age: 42,
      gender: 'female',
      doctorId: doctor.id,
      roomNumber: '101',
      bedNumber: 'A',
    });
    expect((await Patient.findByPk(patient.id))?.doctorId).toBe(doctor.id);
    expect((await Patient.findAll({ where: { doctorId: doctor.id } })).map((p) => p.id)).toEqual([
      patient.id,
    ]);
    await CheckHistory.create({ patientId: patient.id });
    await CheckHistory.create({ patientId: patient.id, checkTime: new Date('2026-01-02T03:04:05.678Z') });
    expect(await CheckHistory.count({ where: { patientId: patient.id } })).toBe(2);
  });

  it('refuses a patient assigned to a doctor that does not exist', async () => {
    await expect(
      db.models.Patient.create({ name: 'Nobody’s', age: 1, gender: 'female', doctorId: 999_999 }),
    ).rejects.toThrow();
  });

  it("reads a session with its account in one query (the session lookup's `user` association)", async () => {
    const user = await createAccount(db, {
      username: 'session.owner',
      email: 'session.owner@example.org',
      password: 'session-password',
      role: 'patient',
    });
    const id = 'a'.repeat(64);
    await db.models.Session.create({ id, userId: user.id, expiresAt: new Date(Date.now() + 60_000) });
    const statements: string[] = [];
    const session = await db.models.Session.findByPk(id, {
      include: ['user'],
      logging: (sql: string) => statements.push(sql),
    });
    expect(session?.user).toMatchObject({ id: user.id, username: 'session.owner', role: 'patient' });
    expect(statements).toHaveLength(1);
  });

  it('defaults a check time to now, in UTC, to the millisecond', async () => {
    const { Doctor, Patient, CheckHistory } = db.models;
    const doctor = await Doctor.create({ name: 'Dr. Time', specialization: 'Clocks' });
    const patient = await Patient.create({ name: 'Tim', age: 30, gender: 'male', doctorId: doctor.id });
    const before = Date.now();
    const check = await CheckHistory.create({ patientId: patient.id });
    const after = Date.now();
    const reread = await CheckHistory.findByPk(check.id);
    expect(reread!.checkTime).toBeInstanceOf(Date);
    expect(reread!.checkTime.getTime()).toBeGreaterThanOrEqual(before);
    expect(reread!.checkTime.getTime()).toBeLessThanOrEqual(after);
    const exact = new Date('2026-03-04T05:06:07.089Z');
    const pinned = await CheckHistory.create({ patientId: patient.id, checkTime: exact });
    expect((await CheckHistory.findByPk(pinned.id))!.checkTime.toISOString()).toBe(exact.toISOString());
  });

  it('refuses a check for a patient that does not exist', async () => {
    await expect(db.models.CheckHistory.create({ patientId: 999_999 })).rejects.toThrow();
  });
});
