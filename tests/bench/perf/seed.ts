/**
 * The perf bench's database: a fresh MySQL database (dropped and created again) or SQLite file,
 * migrated with HDMS's own migrations (`@hdms/db`), then seeded in bulk with multi-row INSERTs
 * (50 doctors, N patients spread over them round-robin).
 */
import { rmSync } from 'node:fs';
import { createDatabase, type Database, migrateToLatest, parseDatabaseUrl } from '@hdms/db';
import mysql from 'mysql2/promise';

/** How many doctors the patients are spread over. */
export const DOCTORS = 50;

/** Drops a MySQL database or deletes a SQLite file (and its WAL files), so the run starts empty. */
export async function dropDatabase(url: string): Promise<void> {
  const target = parseDatabaseUrl(url);
  if (target.dialect === 'sqlite') {
    if (target.storage === ':memory:') return;
    for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(target.storage + suffix, { force: true });
    return;
  }
  const connection = await mysql.createConnection({
    host: target.url.hostname,
    port: target.url.port ? Number(target.url.port) : 3306,
    user: decodeURIComponent(target.url.username),
    password: decodeURIComponent(target.url.password),
  });
  try {
    await connection.query(`DROP DATABASE IF EXISTS \`${target.database}\``);
  } finally {
    await connection.end();
  }
}

/** Opens the database with `@hdms/db` (creating a MySQL database if missing) and migrates it. */
export async function openMigrated(url: string): Promise<Database> {
  const db = await createDatabase(url, { queryTimeoutMs: 120_000 });
  await migrateToLatest(db.sequelize);
  return db;
}

/** The pool size Sequelize was given for this database (MySQL); 1 for SQLite's single connection. */
export function poolMax(db: Database): number {
  if (db.dialect === 'sqlite') return 1;
  const pool = (db.sequelize as unknown as { config: { pool?: { max?: number } } }).config.pool;
  if (typeof pool?.max !== 'number') throw new Error('cannot read the Sequelize pool size');
  return pool.max;
}

/** Inserts the doctors (when missing); returns their ids in order. */
export async function seedDoctors(db: Database): Promise<number[]> {
  const existing = await db.models.Doctor.findAll({ attributes: ['id'], order: [['id', 'ASC']] });
  if (existing.length >= DOCTORS) return existing.slice(0, DOCTORS).map((d) => d.id);
  const created = await db.models.Doctor.bulkCreate(
    Array.from({ length: DOCTORS - existing.length }, (_, i) => ({
      name: `Dr. Bench ${existing.length + i}`,
      specialization: 'Benchmarks',
    })),
  );
  return [...existing.map((d) => d.id), ...created.map((d) => d.id)];
}

/**
 * Adds patients until the table holds `total`, 5,000 rows a statement (one transaction per
 * statement), patient k assigned to doctor `k mod 50`. Returns the time taken in seconds.
 */
export async function seedPatients(
  db: Database,
  doctorIds: number[],
  total: number,
  progress: (done: number) => void = () => undefined,
): Promise<number> {
  const started = performance.now();
  const existing = await db.models.Patient.count();
  const now = db.sequelize.escape(new Date());
  const chunk = db.dialect === 'sqlite' ? 10_000 : 5_000;
  for (let done = existing; done < total; done += chunk) {
    const n = Math.min(chunk, total - done);
    const values: string[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const k = done + i;
      values[i] =
        `('Patient ${k}',${k % 100},'${k % 2 ? 'female' : 'male'}',${doctorIds[k % doctorIds.length]},` +
        `'${100 + (k % 400)}','A',${now},${now})`;
    }
    await db.sequelize.query(
      'INSERT INTO patients (name,age,gender,doctor_id,room_number,bed_number,created_at,updated_at) VALUES ' +
        values.join(','),
    );
    progress(done + n);
  }
  return (performance.now() - started) / 1000;
}
