import type { Database } from '../connection';
import { selectRows } from '../sql';

/**
 * Commit positions for read-your-writes on replicas (`commit_positions`, migration 0014): after an
 * owner's commit, the primary's position then (which includes that commit) is stored under the
 * owner, and the session lookup reads it back (`sessionsRepo.findWithUser`), so that the owner's
 * next reads, on any instance, wait for a replica to reach it. Owner 0 is the scope facts
 * (`SCOPE_OWNER`). MySQL only: SQLite has no replicas.
 */

/** The owner whose position every replica read waits for: the last change of a patient's assigned doctor. */
export const SCOPE_OWNER = 0;

/** Which server speaks: MariaDB (GTID positions) or MySQL 8 (GTID sets). */
export type Flavour = 'mariadb' | 'mysql';

const flavours = new WeakMap<object, Promise<Flavour>>();

/** The server's flavour, asked once per database (`SELECT VERSION()`). */
export function flavourOf(db: Pick<Database, 'sequelize' | 'dialect'>): Promise<Flavour> {
  let known = flavours.get(db.sequelize);
  if (!known) {
    known = selectRows<{ v: string }>(db, 'SELECT VERSION() AS v', []).then((rows) =>
      /mariadb/i.test(rows[0]?.v ?? '') ? 'mariadb' : 'mysql',
    );
    known.catch(() => flavours.delete(db.sequelize));
    flavours.set(db.sequelize, known);
  }
  return known;
}

/** The expression of the primary's position: every transaction committed so far. */
export function primaryPositionSql(flavour: Flavour): string {
  return flavour === 'mariadb' ? '@@gtid_binlog_pos' : '@@gtid_executed';
}

/**
 * Stores the primary's current position under `ownerId`, after the owner's commit (only on a
 * database opened with `recordPositions`: read replicas are configured; else nothing): one
 * autocommitted upsert. The position is read when the row is written (in the UPDATE of a
 * duplicate, after its row lock), so of two concurrent calls the later write stores the later
 * position: an older value never overwrites a newer one.
 */
export async function record(db: Database, ownerId: number): Promise<void> {
  if (!db.recordsPositions) return;
  const position = primaryPositionSql(await flavourOf(db));
  await db.sequelize.query(
    `INSERT INTO commit_positions (owner_id, position, updated_at) VALUES (?, ${position}, NOW(3))
     ON DUPLICATE KEY UPDATE position = ${position}, updated_at = NOW(3)`,
    { replacements: [ownerId] },
  );
}

/** The primary's position now (null unless `recordsPositions`, or without a binary log). */
export async function current(db: Database): Promise<string | null> {
  if (!db.recordsPositions) return null;
  const position = primaryPositionSql(await flavourOf(db));
  const [row] = await selectRows<{ pos: string | null }>(db, `SELECT ${position} AS pos`, []);
  return row?.pos || null;
}
