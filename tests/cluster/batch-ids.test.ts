import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase } from '../helpers/db';
import { createMariadbNode, type MariadbNode } from '../helpers/mariadb';
import { adminToken, http, startTestServer, type TestServer, trpcClient } from '../helpers/server';
import { skipWithout } from './requirements';

/**
 * Batch creates answer the ids their rows were stored under on a server whose
 * `auto_increment_increment` is not 1 (Galera sets it to the cluster size): a MariaDB of our own
 * with increment 3 and offset 2, so ids go 2, 5, 8 … and "first id + i" would answer 2, 3, 4.
 */
const missing = skipWithout({});

describe.skipIf(missing)('batch creates on auto_increment_increment = 3', () => {
  let node: MariadbNode;
  let t: TestServer;
  let admin: string;

  beforeAll(async () => {
    node = await createMariadbNode('ids', ['--auto_increment_increment=3', '--auto_increment_offset=2']);
    await node.start();
    t = await startTestServer({}, { target: await freshDatabase('mysql', node.url('hdms_ids')) });
    admin = await adminToken(t);
  });
  afterAll(async () => {
    await t?.close();
    await node?.remove();
  });

  /** The stored rows' ids of `table` whose `column` is one of `values`, in the order of `values`. */
  async function storedIds(table: string, column: string, values: readonly unknown[]): Promise<number[]> {
    const rows = await t.db.sequelize.query(
      `SELECT id, ${column} AS v FROM ${table} WHERE ${column} IN (?)`,
      {
        replacements: [values],
        type: 'SELECT',
      },
    );
    const byValue = new Map((rows as { id: number; v: unknown }[]).map((r) => [String(r.v), r.id]));
    return values.map((v) => byValue.get(String(v as string)) ?? -1);
  }

  it('the server really counts by 3', async () => {
    const [row] = await node.query<{ step: number }>('SELECT @@auto_increment_increment AS step');
    expect(Number(row?.step)).toBe(3);
  });

  it('tRPC createMany of doctors, patients and check-ups answers the stored ids', async () => {
    const client = trpcClient(t.url, admin);
    const doctors = await client.doctors.createMany.mutate(
      ['A', 'B', 'C', 'D'].map((n) => ({ name: `Dr. trpc ${n}`, specialization: 'Cardiology' })),
    );
    const doctorIds = doctors.map((d) => d.id);
    expect(doctorIds).toEqual(
      await storedIds(
        'doctors',
        'name',
        doctors.map((d) => d.name),
      ),
    );
    expect(doctorIds[1]! - doctorIds[0]!).toBe(3);

    const patients = await client.patients.createMany.mutate(
      [1, 2, 3, 4, 5].map((n) => ({
        name: `trpc patient ${n}`,
        age: 40 + n,
        gender: 'F',
        doctorId: doctorIds[0]!,
      })),
    );
    const patientIds = patients.map((p) => p.id);
    expect(patientIds).toEqual(
      await storedIds(
        'patients',
        'name',
        patients.map((p) => p.name),
      ),
    );
    for (const p of patients) {
      // A follow-up by the answered id reaches the row just created, not a neighbour.
      expect((await client.patients.get.query({ id: p.id })).name).toBe(p.name);
    }

    const times = [1, 2, 3].map((n) => new Date(Date.UTC(2025, 0, n, 8)));
    const checks = await client.checkHistory.createMany.mutate(
      times.map((checkTime) => ({ patientId: patientIds[2]!, checkTime })),
    );
    const stored = await t.db.models.CheckHistory.findAll({
      where: { patientId: patientIds[2]! },
      raw: true,
    });
    const idOfTime = new Map(stored.map((row) => [new Date(row.checkTime).getTime(), row.id]));
    expect(checks.map((c) => c.id)).toEqual(times.map((time) => idOfTime.get(time.getTime())));
    expect(new Set(checks.map((c) => c.id)).size).toBe(3);
  });

  it('REST arrays of doctors, patients and check-ups answer the stored ids', async () => {
    const doctors = await http(t.url, 'POST', '/doctors', {
      token: admin,
      body: ['E', 'F', 'G'].map((n) => ({ name: `Dr. rest ${n}`, specialization: 'Neurology' })),
    });
    expect(doctors.status).toBe(201);
    expect(doctors.body.map((d: { id: number }) => d.id)).toEqual(
      await storedIds('doctors', 'name', ['Dr. rest E', 'Dr. rest F', 'Dr. rest G']),
    );

    const names = [1, 2, 3, 4].map((n) => `rest patient ${n}`);
    const patients = await http(t.url, 'POST', '/patients', {
      token: admin,
      body: names.map((name) => ({ name, age: 30, gender: 'M', doctor_id: doctors.body[0].id })),
    });
    expect(patients.status).toBe(201);
    const patientIds = patients.body.map((p: { id: number }) => p.id);
    expect(patientIds).toEqual(await storedIds('patients', 'name', names));

    const checks = await http(t.url, 'POST', '/check_history', {
      token: admin,
      body: patientIds.map((id: number) => ({ patient_id: id, check_time: '2025-02-01T09:00:00Z' })),
    });
    expect(checks.status).toBe(201);
    expect(checks.body.map((c: { id: number }) => c.id)).toEqual(
      await storedIds('check_history', 'patient_id', patientIds),
    );
  });
});
