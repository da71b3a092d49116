import { type Database, migrateDown, migrateToLatest, migrations } from '@hdms/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFreshDatabase, type TestDatabase } from './helpers/db';

const TABLES = [
  'users',
  'sessions',
  'doctors',
  'patients',
  'check_history',
  'notes',
  'patient_revisions',
  'audit_events',
  'service_tokens',
  'login_failures',
];

async function tables(db: Database): Promise<string[]> {
  const names = (await db.sequelize.getQueryInterface().showAllTables()) as unknown[];
  return names.map((n) => (typeof n === 'string' ? n : String((n as { tableName: string }).tableName)));
}

describe('migrations', () => {
  let db: Database;
  let target: TestDatabase;
  beforeAll(async () => {
    ({ db, target } = await openFreshDatabase());
  });
  afterAll(async () => {
    await db.close();
    await target.drop();
  });

  it('create every table on a fresh database, and a second run applies nothing', async () => {
    expect(await migrateToLatest(db.sequelize)).toEqual(migrations.map((m) => m.name));
    expect(await tables(db)).toEqual(expect.arrayContaining([...TABLES, 'schema_migrations']));
    expect(await migrateToLatest(db.sequelize)).toEqual([]);
  });

  it('index every foreign key and lookup column', async () => {
    const qi = db.sequelize.getQueryInterface();
    const indexed = async (table: string) => {
      const indexes = (await qi.showIndex(table)) as { fields: { attribute: string }[] }[];
      return indexes.map((i) => i.fields.map((f) => f.attribute).join(','));
    };
    expect(await indexed('patients')).toEqual(expect.arrayContaining(['doctor_id,id', 'name']));
    expect(await indexed('users')).toEqual(
      expect.arrayContaining(['username_key', 'email', 'doctor_id', 'patient_id']),
    );
    expect(await indexed('sessions')).toEqual(expect.arrayContaining(['user_id', 'expires_at']));
    expect(await indexed('check_history')).toEqual(expect.arrayContaining(['patient_id,check_time']));
    expect(await indexed('notes')).toEqual(expect.arrayContaining(['patient_id,id']));
    expect(await indexed('audit_events')).toEqual(expect.arrayContaining(['patient_id,id']));
  });

  it('go down to an empty schema and up again, keeping nothing behind', async () => {
    await db.models.Doctor.create({ name: 'Dr. Down', specialization: 'Migrations' });
    expect(await migrateDown(db.sequelize, 0)).toEqual([...migrations.map((m) => m.name)].reverse());
    const left = await tables(db);
    for (const table of TABLES) expect(left).not.toContain(table);
    await migrateToLatest(db.sequelize);
    expect(await db.models.Doctor.count()).toBe(0);
  });
});
