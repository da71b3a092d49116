import type { Database } from '@hdms/db';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { passwordProblem } from '../../server/src/domain/users/passwordPolicy';
import { freshDatabase } from '../helpers/db';
import { DB_KINDS, http, startTestServer, type TestServer } from '../helpers/server';
import { runToExit } from '../helpers/serverProcess';

/*
 * `npm run db:seed` (`node server/scripts/run.mjs seed`): demo data through the domain's commands,
 * sign-ins that work and pass the password policy, refused in production and on a database that
 * holds someone else's doctors or patients, and a second run that changes nothing.
 */

// Each run is a process of its own that loads the server's modules: seconds on a busy machine.
vi.setConfig({ testTimeout: 240_000 });

const seed = (env: Record<string, string>) => runToExit(['server/scripts/run.mjs', 'seed'], env);

/** The sign-ins the seed printed: role, username and password of each. */
function signIns(out: string): { role: string; username: string; password: string }[] {
  return [...out.matchAll(/^ {2}(doctor|patient) +username: (\S+) +password: (\S+)/gm)].map((m) => ({
    role: m[1]!,
    username: m[2]!,
    password: m[3]!,
  }));
}

/** How many rows each table the seed writes holds. */
async function counts(db: Database): Promise<Record<string, number>> {
  const { Doctor, Patient, CheckHistory, Note, User, AuditEvent, ChangeEvent, PatientRevision } = db.models;
  return {
    doctors: await Doctor.count(),
    patients: await Patient.count(),
    checkups: await CheckHistory.count(),
    notes: await Note.count(),
    users: await User.count(),
    audit: await AuditEvent.count(),
    // Events of records (the server's own jobs announce theirs meanwhile).
    events: (await ChangeEvent.findAll({ attributes: ['type'] })).filter((e) => !e.type.startsWith('job'))
      .length,
    revisions: await PatientRevision.count(),
  };
}

describe.each(DB_KINDS)('db:seed on %s', (kind) => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({}, { kind });
  });
  afterAll(() => t?.close());

  it('fills an empty database with demo records whose sign-ins work; a second run changes nothing', async () => {
    const first = await seed({ DATABASE_URL: t.target.url });
    expect(first.code).toBe(0);
    expect(first.out).toMatch(/^Seeded the demo data: 2 doctors, 5 patients/);
    const shown = signIns(first.out);
    expect(shown.map((s) => s.role)).toEqual(['doctor', 'patient']);
    for (const { username, password } of shown) {
      expect(username).toMatch(/^demo\./);
      expect(
        passwordProblem(password, { username, email: `${username.slice(5)}@demo.hdms.local` }),
      ).toBeNull();
    }
    const after = await counts(t.db);
    expect(after).toMatchObject({ doctors: 2, patients: 5 });
    expect(after.checkups).toBeGreaterThanOrEqual(5);
    expect(after.notes).toBeGreaterThanOrEqual(5);
    // Through the domain: audited, announced, and the clinical fields revised.
    expect(after.audit).toBeGreaterThan(0);
    expect(after.events).toBeGreaterThan(0);
    expect(after.revisions).toBe(5);

    // The doctor sees their patients with room, bed, diagnosis, check-ups and notes; the patient their own record.
    const [doctor, patient] = shown as [(typeof shown)[0], (typeof shown)[0]];
    const doctorLogin = await http(t.url, 'POST', '/login', {
      body: { username: doctor.username, password: doctor.password },
    });
    expect(doctorLogin.status).toBe(200);
    const token = doctorLogin.body.token as string;
    const theirs = await http(t.url, 'GET', '/patients', { token });
    expect(theirs.body).toHaveLength(3);
    const first3 = await t.db.models.Patient.findByPk(theirs.body[0].id);
    expect(first3).toMatchObject({ roomNumber: expect.any(String), bedNumber: expect.any(String) });
    expect(first3!.diagnosis).toEqual(expect.any(String));
    const patientLogin = await http(t.url, 'POST', '/login', {
      body: { username: patient.username, password: patient.password },
    });
    expect(patientLogin.status).toBe(200);
    const own = await http(t.url, 'GET', '/patients', { token: patientLogin.body.token });
    expect(own.body).toEqual([expect.objectContaining({ name: 'Elena Marsh (demo)' })]);

    const beforeSecond = await counts(t.db);
    const second = await seed({ DATABASE_URL: t.target.url });
    expect(second.code).toBe(0);
    expect(second.out).toMatch(/^Already seeded: the demo data is in place; nothing was changed\./);
    expect(signIns(second.out)).toEqual(shown);
    expect(await counts(t.db)).toEqual(beforeSecond);
  });

  it('is refused on a database holding doctors or patients it did not create, changing nothing', async () => {
    const target = await freshDatabase(kind);
    const other = await startTestServer({}, { target });
    try {
      await other.db.models.Doctor.create({ name: 'Dr. Real', specialization: 'Surgery' });
      const before = await counts(other.db);
      const refused = await seed({ DATABASE_URL: target.url });
      expect(refused.code).toBe(1);
      expect(refused.out).toBe('');
      expect(refused.err).toMatch(
        /holds doctors or patients it did not create \(doctor \d+\): nothing was changed\./,
      );
      expect(await counts(other.db)).toEqual(before);
    } finally {
      await other.close();
      await target.drop();
    }
  });
});

describe('db:seed in production', () => {
  it('is refused before touching the database', async () => {
    // An unreachable database: a seed that tried to open it would fail with ECONNREFUSED instead.
    const refused = await seed({ DATABASE_URL: 'mysql://root@127.0.0.1:1/hdms', NODE_ENV: 'production' });
    expect(refused.code).toBe(1);
    expect(refused.out).toBe('');
    expect(refused.err).toContain('db:seed is refused when NODE_ENV=production');
    expect(refused.err).not.toContain('ECONNREFUSED');
  });
});
