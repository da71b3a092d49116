import { randomUUID } from 'node:crypto';
import { type QueryInterface, QueryTypes, Sequelize } from 'sequelize';
import { SequelizeStorage, Umzug } from 'umzug';
import { migrations } from './migrations/index';

/** The umzug migrator over our migration list, recording applied ones in `schema_migrations`. */
export function createMigrator(sequelize: Sequelize): Umzug<QueryInterface> {
  return new Umzug({
    migrations,
    context: sequelize.getQueryInterface(),
    storage: new SequelizeStorage({ sequelize, tableName: 'schema_migrations' }),
    logger: undefined,
  });
}

/** The table of the migration lock: at most one row (id 1), the holder's lease. */
const LOCK_TABLE = 'schema_migrations_lock';
/** How long a lease lasts unless renewed; its holder renews it every third of that. */
const LEASE_SECONDS = 30;
/** How often an instance that waits for the lock tries again (with up to as much jitter). */
const LOCK_POLL_MS = 500;
/** How long an instance waits for another's migrations in all before it gives up. */
const LOCK_PATIENCE_MS = 30 * 60_000;

/** True for a Galera certification conflict or a deadlock (1213): the other writer won. */
function lostRace(error: unknown): boolean {
  const e = error as { parent?: { code?: unknown }; original?: { code?: unknown }; code?: unknown };
  return (e.parent?.code ?? e.original?.code ?? e.code) === 'ER_LOCK_DEADLOCK';
}

/**
 * Runs `work` while holding the migration lock, so that instances started at the same moment on
 * one MySQL database (or on several nodes of a Galera cluster) migrate it once: the first applies
 * the migrations, the others wait, then find nothing pending. The lock is a row with a lease
 * (`schema_migrations_lock`): taken by inserting it (a second insert finds the key taken, or on
 * another Galera node loses the certification of its commit), renewed every ten seconds while
 * `work` runs, on connections of the pool other than the migrations' (a long table copy does not
 * let it expire), and deleted at the end. The lease is counted by the database's clock; a holder
 * that died leaves a row whose lease runs out within 30 s, and the next instance takes it over.
 * Unlike `GET_LOCK`, which is local to one node, the row is certified cluster-wide. SQLite needs
 * none: a single process migrates a file.
 */
async function withMigrationLock<T>(sequelize: Sequelize, work: () => Promise<T>): Promise<T> {
  if (sequelize.getDialect() !== 'mysql') return work();
  await sequelize.query(
    `CREATE TABLE IF NOT EXISTS ${LOCK_TABLE} (id INT NOT NULL PRIMARY KEY, holder VARCHAR(64) NOT NULL, expires_at DATETIME(3) NOT NULL) ENGINE=InnoDB`,
  );
  const holder = randomUUID();
  const deadline = Date.now() + LOCK_PATIENCE_MS;
  for (;;) {
    if (await tryLock(sequelize, holder)) break;
    if (Date.now() > deadline) {
      throw new Error(
        `another instance has held the migration lock for ${LOCK_PATIENCE_MS / 60_000} minutes`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS * (1 + Math.random())));
  }
  const renewal = setInterval(
    () => {
      sequelize
        .query(
          `UPDATE ${LOCK_TABLE} SET expires_at = NOW(3) + INTERVAL ${LEASE_SECONDS} SECOND WHERE id = 1 AND holder = ?`,
          { replacements: [holder] },
        )
        .catch(() => undefined);
    },
    (LEASE_SECONDS * 1000) / 3,
  );
  try {
    return await work();
  } finally {
    clearInterval(renewal);
    await sequelize
      .query(`DELETE FROM ${LOCK_TABLE} WHERE id = 1 AND holder = ?`, { replacements: [holder] })
      .catch(() => undefined);
  }
}

/** Takes the lock for `holder` if it is free or its lease has run out; true when taken. */
async function tryLock(sequelize: Sequelize, holder: string): Promise<boolean> {
  try {
    await sequelize.query(`DELETE FROM ${LOCK_TABLE} WHERE id = 1 AND expires_at < NOW(3)`);
    const [, inserted] = await sequelize.query(
      `INSERT IGNORE INTO ${LOCK_TABLE} (id, holder, expires_at) VALUES (1, ?, NOW(3) + INTERVAL ${LEASE_SECONDS} SECOND)`,
      { replacements: [holder], type: QueryTypes.INSERT },
    );
    return Number(inserted) === 1;
  } catch (error) {
    if (lostRace(error)) return false;
    throw error;
  }
}

/** Applies every pending migration (under the migration lock); returns the names applied. */
export async function migrateToLatest(target: Sequelize | { sequelize: Sequelize }): Promise<string[]> {
  const sequelize = target instanceof Sequelize ? target : target.sequelize;
  const applied = await withMigrationLock(sequelize, () => createMigrator(sequelize).up());
  return applied.map((m) => m.name);
}

/** The names of the migrations applied to the database, oldest first (none yet: empty). */
export async function appliedMigrations(target: Sequelize | { sequelize: Sequelize }): Promise<string[]> {
  const sequelize = target instanceof Sequelize ? target : target.sequelize;
  // Asking umzug would create its bookkeeping table on a database never migrated: look first.
  if (!(await sequelize.getQueryInterface().tableExists('schema_migrations'))) return [];
  return (await createMigrator(sequelize).executed()).map((m) => m.name);
}

/**
 * Reverts the last applied migration; with `to`, every migration after `to` and `to` itself
 * (0 reverts all).
 */
export async function migrateDown(
  target: Sequelize | { sequelize: Sequelize },
  to?: string | 0,
): Promise<string[]> {
  const sequelize = target instanceof Sequelize ? target : target.sequelize;
  const reverted = await withMigrationLock(sequelize, () =>
    createMigrator(sequelize).down(to === undefined ? undefined : { to }),
  );
  return reverted.map((m) => m.name);
}
