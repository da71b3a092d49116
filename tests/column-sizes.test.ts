import { type Database, migrateToLatest } from '@hdms/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFreshDatabase, TEST_DB_KIND, type TestDatabase } from './helpers/db';

/** The longest diagnosis, prescribed medicine or note body the API accepts, in characters. */
const MAX_TEXT = 20_000;

/** Largest valid values that are large in bytes: 4-byte characters, and characters JSON escapes. */
const LARGE_VALUES = {
  emoji: '😀'.repeat(MAX_TEXT),
  quotes: '"'.repeat(MAX_TEXT),
  newlines: '\n'.repeat(MAX_TEXT),
  control: '\u0001'.repeat(MAX_TEXT),
  mixed: '😀"\\\n\u0001'.repeat(MAX_TEXT / 5),
};

const byteLength = (text: string) => Buffer.byteLength(text, 'utf8');

describe(`column sizes on ${TEST_DB_KIND}`, () => {
  let db: Database;
  let target: TestDatabase;
  let doctorId: number;
  let userId: number;

  beforeAll(async () => {
    ({ db, target } = await openFreshDatabase());
    await migrateToLatest(db.sequelize);
    doctorId = (await db.models.Doctor.create({ name: 'Dr. Sizes', specialization: 'Big text' })).id;
    const user = await db.models.User.create({
      role: 'doctor',
      username: 'dr_sizes',
      usernameKey: 'dr_sizes',
      email: 'dr.sizes@example.test',
      passwordHash: 'not-a-real-hash',
      doctorId,
    });
    userId = user.id;
  });
  afterAll(async () => {
    await db?.close();
    await target?.drop();
  });

  it('the values under test are larger than a MySQL TEXT holds', () => {
    expect(byteLength(LARGE_VALUES.emoji)).toBe(80_000);
    expect(byteLength(JSON.stringify(LARGE_VALUES.control))).toBeGreaterThan(65_535);
  });

  for (const [kind, value] of Object.entries(LARGE_VALUES)) {
    it(`patient diagnosis and prescribed medicine keep 20,000 characters (${kind}) intact`, async () => {
      const patient = await db.models.Patient.create({
        name: `Patient ${kind}`,
        age: 40,
        gender: 'female',
        doctorId,
        diagnosis: value,
        prescribedMedicine: value,
      });
      const read = await db.models.Patient.findByPk(patient.id);
      expect(read?.diagnosis === value).toBe(true);
      expect(read?.prescribedMedicine === value).toBe(true);
    });

    it(`a note body keeps 20,000 characters (${kind}) intact`, async () => {
      const patient = await db.models.Patient.create({
        name: `Noted ${kind}`,
        age: 30,
        gender: 'male',
        doctorId,
      });
      const note = await db.models.Note.create({
        patientId: patient.id,
        authorUserId: userId,
        authorName: 'Dr. Sizes',
        body: value,
      });
      const read = await db.models.Note.findByPk(note.id);
      expect(read?.body === value).toBe(true);
    });

    it(`a revision keeps old and new values of 8 fields, 4 of them 20,000 characters (${kind}), intact`, async () => {
      const patient = await db.models.Patient.create({ name: `Revised ${kind}`, age: 50, gender: 'other' });
      const changes = {
        diagnosis: { old: value, new: `${value.slice(1)}!` },
        prescribedMedicine: { old: `!${value.slice(1)}`, new: value },
        name: { old: 'x'.repeat(200), new: '😀'.repeat(200) },
        age: { old: 49, new: 50 },
        gender: { old: '"'.repeat(32), new: 'other' },
        doctorId: { old: null, new: doctorId },
        roomNumber: { old: '\n'.repeat(32), new: '😀'.repeat(32) },
        bedNumber: { old: null, new: '\u0001'.repeat(32) },
      };
      const revision = await db.models.PatientRevision.create({
        patientId: patient.id,
        actorType: 'user',
        actorId: userId,
        actorName: 'Dr. Sizes',
        changes,
      });
      const read = await db.models.PatientRevision.findByPk(revision.id);
      expect(read?.changes).toEqual(changes);
    });
  }

  it('an emergency access and an audit row under it keep a 500-character reason of 4-byte characters', async () => {
    const patient = await db.models.Patient.create({ name: 'Emergency sizes', age: 60, gender: 'male' });
    for (const reason of ['😀'.repeat(500), '"\\'.repeat(250), 'x'.repeat(500)]) {
      const access = await db.models.EmergencyAccess.create({
        patientId: patient.id,
        doctorId,
        reason,
        createdByUserId: userId,
        expiresAt: new Date(Date.now() + 60_000),
      });
      expect((await db.models.EmergencyAccess.findByPk(access.id))?.reason).toBe(reason);
      const row = await db.models.AuditEvent.create({
        actorType: 'user',
        actorId: userId,
        actorName: 'x'.repeat(120),
        actorRole: 'doctor',
        action: 'read',
        patientId: patient.id,
        procedure: 'patients.get',
        requestId: 'r'.repeat(64),
        ip: null,
        emergencyAccessId: access.id,
        reason,
      });
      expect((await db.models.AuditEvent.findByPk(row.id))?.reason).toBe(reason);
    }
  });

  it('a sign-in throttle key holds a prefix and a 254-character name of 4-byte characters', async () => {
    for (const key of [`user:${'😀'.repeat(254)}`, `user:${'a'.repeat(295)}`]) {
      const failure = await db.models.LoginFailure.create({ key });
      expect((await db.models.LoginFailure.findByPk(failure.id))?.key).toBe(key);
    }
  });
});
