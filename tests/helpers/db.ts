import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDatabase, type Database } from '@hdms/db';
import { createConnection } from 'mysql2/promise';

/** A database HDMS runs on. */
export type DbKind = 'sqlite' | 'mysql';

/** The database kinds a run covers: SQLite, and MySQL when TEST_MYSQL_URL is set. */
export const DB_KINDS: DbKind[] = process.env.TEST_MYSQL_URL ? ['sqlite', 'mysql'] : ['sqlite'];

/** Which database this test project runs on: `sqlite` (default) or `mysql` (TEST_MYSQL_URL). */
export const TEST_DB_KIND: DbKind = process.env.HDMS_TEST_DB === 'mysql' ? 'mysql' : 'sqlite';

/** A fresh, empty database of this project's kind, and how to remove it afterwards. */
export interface TestDatabase {
  url: string;
  kind: DbKind;
  /** Deletes the database (file or schema). */
  drop(): Promise<void>;
}

/**
 * Makes a fresh database for one suite (or benchmark run): a SQLite file in a temporary folder,
 * or a new schema on the server of `mysqlBase` (TEST_MYSQL_URL by default; it must answer: an
 * unreachable MySQL fails the run).
 */
export async function freshDatabase(
  kind: DbKind = TEST_DB_KIND,
  mysqlBase: string | undefined = process.env.TEST_MYSQL_URL,
): Promise<TestDatabase> {
  const suffix = `${process.pid}_${randomBytes(4).toString('hex')}`;
  if (kind === 'mysql') {
    const base = mysqlBase;
    if (!base) throw new Error('HDMS_TEST_DB=mysql needs TEST_MYSQL_URL');
    const url = new URL(base);
    const name = `${url.pathname.replace(/^\//, '') || 'hdms_test'}_${suffix}`;
    url.pathname = `/${name}`;
    return {
      url: url.toString(),
      kind: 'mysql',
      async drop() {
        const admin = await createConnection({
          host: url.hostname,
          port: Number(url.port || 3306),
          user: decodeURIComponent(url.username),
          password: decodeURIComponent(url.password),
        });
        try {
          await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
        } finally {
          await admin.end();
        }
      },
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'hdms-test-'));
  return {
    url: `sqlite:${join(dir, 'hdms.sqlite')}`,
    kind: 'sqlite',
    async drop() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Opens a fresh database of this project's kind (not migrated). */
export async function openFreshDatabase(): Promise<{ db: Database; target: TestDatabase }> {
  const target = await freshDatabase();
  return { db: await createDatabase(target.url), target };
}
