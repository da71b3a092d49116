import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UserActor } from '../server/src/context';
import { type Caller, callerAs, callerFor } from './helpers/callers';
import { TEST_DB_KIND } from './helpers/db';
import { adminToken, http, signedInUser, type TestServer, startTestServer } from './helpers/server';

type Page<T> = { items: T[]; nextCursor: number | null };

/** Follows `nextCursor` from the first page to the last and returns every page. */
async function walk<T extends { id: number }>(
  fetchPage: (cursor: number | null) => Promise<Page<T>>,
): Promise<Page<T>[]> {
  const pages: Page<T>[] = [];
  let cursor: number | null = null;
  do {
    const current = await fetchPage(cursor);
    pages.push(current);
    cursor = current.nextCursor;
  } while (cursor !== null && pages.length < 100);
  return pages;
}

const ids = <T extends { id: number }>(pages: Page<T>[]) => pages.flatMap((p) => p.items.map((i) => i.id));

/** List procedures in process, and the REST list over HTTP, over one world of 130 doctors and 260 patients. */
describe('keyset pagination', () => {
  let t: TestServer;
  let adminBearer: string;
  let admin: Caller;
  let doctorIds: number[];

  beforeAll(async () => {
    t = await startTestServer();
    adminBearer = await adminToken(t);
    admin = callerFor(t, adminBearer);
    const doctors = await admin.doctors.createMany(
      Array.from({ length: 130 }, (_, i) => ({
        name: `Dr. Page ${i}`,
        specialization: i % 10 === 0 ? 'Paediatrics' : 'General',
      })),
    );
    doctorIds = doctors.map((d) => d.id);
    await admin.patients.createMany(
      Array.from({ length: 260 }, (_, i) => ({
        name: i % 4 === 0 ? `Smith ${i}` : `Jones ${i}`,
        age: i % 100,
        gender: i % 2 ? 'M' : 'F',
        doctorId: doctorIds[i % 3]!,
      })),
    );
  });
  afterAll(async () => {
    await t?.close();
  });

  it('walks every doctor exactly once, in id order, ending with nextCursor null', async () => {
    const pages = await walk((cursor) => admin.doctors.list({ limit: 50, cursor }));
    expect(pages.map((p) => p.items.length)).toEqual([50, 50, 30]);
    expect(pages.at(-1)!.nextCursor).toBeNull();
    const all = await t.db.models.Doctor.findAll({ attributes: ['id'], order: [['id', 'ASC']] });
    expect(ids(pages)).toEqual(all.map((d) => d.id));
  });

  it('a page that ends exactly at the last row has nextCursor null', async () => {
    const total = await t.db.models.Doctor.count();
    const exact = await admin.doctors.list({ limit: total });
    expect(exact.items).toHaveLength(total);
    expect(exact.nextCursor).toBeNull();
    const oneShort = await admin.doctors.list({ limit: total - 1 });
    expect(oneShort.nextCursor).toBe(oneShort.items.at(-1)!.id);
  });

  it('walks search results page by page', async () => {
    const pages = await walk((cursor) => admin.doctors.list({ limit: 4, cursor, search: 'paediatrics' }));
    expect(ids(pages)).toEqual(doctorIds.filter((_, i) => i % 10 === 0));
  });

  it('walks every patient, a doctor filter and a name search without duplicates or gaps', async () => {
    const all = await t.db.models.Patient.findAll({
      attributes: ['id', 'doctorId', 'name'],
      order: [['id', 'ASC']],
    });
    const pages = await walk((cursor) => admin.patients.list({ limit: 50, cursor }));
    expect(pages).toHaveLength(6);
    expect(ids(pages)).toEqual(all.map((p) => p.id));

    const filtered = await walk((cursor) =>
      admin.patients.list({ limit: 25, cursor, doctorId: doctorIds[1]! }),
    );
    expect(ids(filtered)).toEqual(all.filter((p) => p.doctorId === doctorIds[1]).map((p) => p.id));

    const searched = await walk((cursor) => admin.patients.list({ limit: 20, cursor, search: 'SMITH' }));
    expect(ids(searched)).toEqual(all.filter((p) => p.name.startsWith('Smith')).map((p) => p.id));
  });

  it("walks a doctor's own patients only", async () => {
    const doctor = callerFor(t, (await signedInUser(t, 'doctor', { doctorId: doctorIds[2]! })).token);
    const pages = await walk((cursor) => doctor.patients.list({ limit: 30, cursor }));
    expect(pages.length).toBeGreaterThan(1);
    const mine = await t.db.models.Patient.findAll({
      where: { doctorId: doctorIds[2]! },
      attributes: ['id'],
      order: [['id', 'ASC']],
    });
    expect(ids(pages)).toEqual(mine.map((p) => p.id));
  });

  it('walks GET /patients with ?limit and ?after', async () => {
    const token = adminBearer;
    const seen: number[] = [];
    let after = 0;
    for (;;) {
      const res = await http(t.url, 'GET', `/patients?limit=100${after ? `&after=${after}` : ''}`, { token });
      expect(res.status).toBe(200);
      if (res.body.length === 0) break;
      seen.push(...res.body.map((p: { id: number }) => p.id));
      after = res.body.at(-1).id;
    }
    expect(seen).toHaveLength(260);
    expect(new Set(seen).size).toBe(260);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect((await http(t.url, 'GET', '/patients', { token })).body).toHaveLength(100);
  });
});

/** Query plans of list pages on a table big enough for the planner to choose (MySQL only). */
describe.skipIf(TEST_DB_KIND !== 'mysql')('keyset pagination plans', () => {
  let t: TestServer;

  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('MySQL serves a patients page from an index range, not a full scan and filesort (EXPLAIN; SQLite has no comparable plan output)', async () => {
    const doctors = await t.db.models.Doctor.bulkCreate(
      Array.from({ length: 20 }, (_, i) => ({ name: `Dr. Plan ${i}`, specialization: 'Plans' })),
    );
    await t.db.models.Patient.bulkCreate(
      Array.from({ length: 4000 }, (_, i) => ({
        name: `Plan Patient ${i}`,
        age: i % 90,
        gender: 'F',
        doctorId: doctors[i % doctors.length]!.id,
      })),
    );
    await t.db.sequelize.query('ANALYZE TABLE patients');
    const middle = (await t.db.models.Patient.max('id')) as number;
    const cursor = middle - 2000;
    const adminActor: UserActor = {
      type: 'user',
      id: 1,
      role: 'admin',
      username: 'admin',
      email: 'admin@example.org',
      doctorId: null,
      patientId: null,
      mfaEnabled: false,
      sessionToken: 'x',
    };
    const doctorActor: UserActor = { ...adminActor, role: 'doctor', doctorId: doctors[3]!.id };
    const cases: [string, UserActor, Record<string, unknown>][] = [
      ['first page', adminActor, {}],
      ['keyset page', adminActor, { cursor }],
      ['doctorId filter, first page', adminActor, { doctorId: doctors[5]!.id }],
      ['doctorId filter, keyset page', adminActor, { doctorId: doctors[5]!.id, cursor }],
      ["a doctor's own patients, keyset page", doctorActor, { cursor }],
    ];
    for (const [label, actor, input] of cases) {
      let sql = '';
      const caller = callerAs(t, actor);
      const options = (t.db.sequelize as unknown as { options: { logging: unknown } }).options;
      options.logging = (logged: string) => {
        const statement = logged.replace(/^Executing \([^)]*\):\s*/, '');
        if (/^SELECT .* FROM `patients`/.test(statement)) sql = statement;
      };
      try {
        const page = await caller.patients.list(input);
        expect(page.items.length, label).toBe(50);
      } finally {
        options.logging = false;
      }
      expect(sql, label).toMatch(/^SELECT /);
      const [plan] = (await t.db.sequelize.query(`EXPLAIN ${sql}`)) as [
        { table: string; type: string; key: string | null; Extra: string | null }[],
        unknown,
      ];
      expect(plan, label).toHaveLength(1);
      const step = plan[0]!;
      expect(['PRIMARY', 'patients_doctor_id'], `${label}: ${JSON.stringify(step)}`).toContain(step.key);
      expect(['range', 'ref', 'index'], `${label}: ${JSON.stringify(step)}`).toContain(step.type);
      expect(step.Extra ?? '', `${label}: ${JSON.stringify(step)}`).not.toMatch(/filesort|temporary/i);
      if ('doctorId' in input || actor.role === 'doctor') expect(step.key, label).toBe('patients_doctor_id');
      if ('cursor' in input && !('doctorId' in input) && actor.role === 'admin') {
        expect(step, label).toMatchObject({ key: 'PRIMARY', type: 'range' });
      }
    }
  });
});
