import { type Database, migrateDown, migrateToLatest, migrations } from '@hdms/db';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openFreshDatabase, TEST_DB_KIND, type TestDatabase } from './helpers/db';

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
  'consent_grants',
  'emergency_accesses',
  'mfa_factors',
  'mfa_recovery_codes',
  'mfa_challenges',
];

/** The columns 0002_column_sizes resizes, as `table.column`. */
const SIZED_COLUMNS = [
  'patients.diagnosis',
  'patients.prescribed_medicine',
  'notes.body',
  'patient_revisions.changes',
  'login_failures.key',
] as const;

/** Type, nullability and character set of each of `SIZED_COLUMNS`. */
async function sizedColumns(db: Database): Promise<Record<string, string>> {
  const qi = db.sequelize.getQueryInterface();
  const result: Record<string, string> = {};
  for (const name of SIZED_COLUMNS) {
    const [table, column] = name.split('.') as [string, string];
    const described = (await qi.describeTable(table))[column];
    result[name] = `${described?.type} ${described?.allowNull ? 'NULL' : 'NOT NULL'}`;
  }
  if (db.dialect === 'mysql') {
    const [rows] = (await db.sequelize.query(
      `SELECT CONCAT(TABLE_NAME, '.', COLUMN_NAME) AS name, CHARACTER_SET_NAME AS charset
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()`,
    )) as [{ name: string; charset: string | null }[], unknown];
    for (const row of rows) if (row.name in result) result[row.name] += ` ${row.charset}`;
  }
  return result;
}

async function tables(db: Database): Promise<string[]> {
  const names = (await db.sequelize.getQueryInterface().showAllTables()) as unknown[];
  return names.map((n) => (typeof n === 'string' ? n : String((n as { tableName: string }).tableName)));
}

describe('migrations', () => {
  let db: Database;
  let target: TestDatabase;
  // Each test gets its own fresh, unmigrated database: none depends on another's migrations.
  beforeEach(async () => {
    ({ db, target } = await openFreshDatabase());
  });
  afterEach(async () => {
    await db.close();
    await target.drop();
  });

  it('create every table on a fresh database, and a second run applies nothing', async () => {
    expect(await migrateToLatest(db.sequelize)).toEqual(migrations.map((m) => m.name));
    expect(await tables(db)).toEqual(expect.arrayContaining([...TABLES, 'schema_migrations']));
    expect(await migrateToLatest(db.sequelize)).toEqual([]);
  });

  it('index every foreign key and lookup column', async () => {
    await migrateToLatest(db.sequelize);
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
    expect(await indexed('mfa_recovery_codes')).toEqual(expect.arrayContaining(['user_id,code_hash']));
    expect(await indexed('mfa_challenges')).toEqual(expect.arrayContaining(['user_id', 'expires_at']));
    expect(await indexed('consent_grants')).toEqual(
      expect.arrayContaining(['doctor_id,revoked_at,expires_at', 'doctor_id,id', 'patient_id,id']),
    );
    expect(await indexed('emergency_accesses')).toEqual(
      expect.arrayContaining(['doctor_id,ended_at,expires_at', 'patient_id,id']),
    );
  });

  it('reverting 0010 alone drops its tables and audit columns and keeps the audit table indexed and its rows', async () => {
    await migrateToLatest(db.sequelize);
    const qi = db.sequelize.getQueryInterface();
    const indexNames = async () =>
      ((await qi.showIndex('audit_events')) as { name: string }[]).map((i) => i.name).sort();
    const before = await indexNames();
    await db.models.AuditEvent.create({
      actorType: 'user',
      actorId: 1,
      actorName: 'kept',
      actorRole: 'doctor',
      action: 'read',
      patientId: 7,
      procedure: 'patients.get',
      requestId: 'r-0010',
      ip: null,
    });
    // 0010 and every migration after it are reverted, newest first.
    const from0010 = migrations
      .map((m) => m.name)
      .slice(migrations.findIndex((m) => m.name === '0010_clinical_access'));
    expect(await migrateDown(db.sequelize, '0010_clinical_access')).toEqual([...from0010].reverse());
    expect(await tables(db)).not.toContain('consent_grants');
    expect(await tables(db)).not.toContain('emergency_accesses');
    const columns = Object.keys(await qi.describeTable('audit_events'));
    expect(columns).not.toContain('reason');
    expect(columns).not.toContain('emergency_access_id');
    expect(await indexNames()).toEqual(before);
    const [rows] = (await db.sequelize.query(
      "SELECT actor_name AS name FROM audit_events WHERE request_id = 'r-0010'",
    )) as [{ name: string }[], unknown];
    expect(rows).toEqual([{ name: 'kept' }]);
    expect(await migrateToLatest(db.sequelize)).toEqual(from0010);
  });

  it('go down to an empty schema and up again, keeping nothing behind', async () => {
    await migrateToLatest(db.sequelize);
    await db.models.Doctor.create({ name: 'Dr. Down', specialization: 'Migrations' });
    expect(await migrateDown(db.sequelize, 0)).toEqual([...migrations.map((m) => m.name)].reverse());
    const left = await tables(db);
    for (const table of TABLES) expect(left).not.toContain(table);
    await migrateToLatest(db.sequelize);
    expect(await db.models.Doctor.count()).toBe(0);
  });

  it.skipIf(TEST_DB_KIND !== 'mysql')(
    '0002 makes clinical text MEDIUMTEXT and the login key VARCHAR(300) on MySQL, and reverting restores them',
    async () => {
      await migrateToLatest(db.sequelize);
      expect(await sizedColumns(db)).toEqual({
        'patients.diagnosis': 'MEDIUMTEXT NULL utf8mb4',
        'patients.prescribed_medicine': 'MEDIUMTEXT NULL utf8mb4',
        'notes.body': 'MEDIUMTEXT NOT NULL utf8mb4',
        'patient_revisions.changes': 'MEDIUMTEXT NOT NULL utf8mb4',
        'login_failures.key': 'VARCHAR(300) NOT NULL utf8mb4',
      });
      expect(await migrateDown(db.sequelize, '0002_column_sizes')).toContain('0002_column_sizes');
      expect(await sizedColumns(db)).toEqual({
        'patients.diagnosis': 'TEXT NULL utf8mb4',
        'patients.prescribed_medicine': 'TEXT NULL utf8mb4',
        'notes.body': 'TEXT NOT NULL utf8mb4',
        'patient_revisions.changes': 'TEXT NOT NULL utf8mb4',
        'login_failures.key': 'VARCHAR(200) NOT NULL utf8mb4',
      });
      await migrateToLatest(db.sequelize);
      expect((await sizedColumns(db))['patients.diagnosis']).toBe('MEDIUMTEXT NULL utf8mb4');
    },
  );

  it.skipIf(TEST_DB_KIND !== 'mysql')(
    'reverting 0002 on MySQL refuses while a diagnosis would not fit TEXT, and keeps it intact',
    async () => {
      await migrateToLatest(db.sequelize);
      const diagnosis = '😀'.repeat(20_000);
      const patient = await db.models.Patient.create({ name: 'Big', age: 1, gender: 'male', diagnosis });
      try {
        await expect(migrateDown(db.sequelize, '0002_column_sizes')).rejects.toThrow(
          /cannot revert 0002_column_sizes: patients\.diagnosis holds a value of 80000 bytes/,
        );
        expect((await db.models.Patient.findByPk(patient.id))?.diagnosis === diagnosis).toBe(true);
        expect((await sizedColumns(db))['patients.diagnosis']).toBe('MEDIUMTEXT NULL utf8mb4');
      } finally {
        await patient.destroy();
      }
    },
  );

  it.skipIf(TEST_DB_KIND !== 'sqlite')(
    '0002 changes nothing on SQLite, where TEXT and VARCHAR have no size limit',
    async () => {
      await migrateToLatest(db.sequelize);
      await migrateDown(db.sequelize, '0002_column_sizes');
      const before = await sizedColumns(db);
      await migrateToLatest(db.sequelize);
      expect(await sizedColumns(db)).toEqual(before);
      const diagnosis = '😀'.repeat(20_000);
      const patient = await db.models.Patient.create({ name: 'Big', age: 1, gender: 'male', diagnosis });
      expect((await db.models.Patient.findByPk(patient.id))?.diagnosis === diagnosis).toBe(true);
      await patient.destroy();
    },
  );
});
