import { type QueryInterface, Sequelize } from 'sequelize';
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

/** The MySQL named lock every instance takes around migrations. */
const MIGRATION_LOCK = 'hdms_schema_migrations';
/** One wait for the lock, in seconds: well within a statement's deadline; waits repeat. */
const LOCK_WAIT_SECONDS = 5;
/** How long an instance waits for another's migrations in all before it gives up. */
const LOCK_PATIENCE_MS = 30 * 60_000;

/**
 * Runs `work` while holding the migration lock, so that instances started at the same moment on
 * one MySQL database migrate it once: the first applies the migrations, the others wait, then
 * find nothing pending. MySQL's `GET_LOCK` belongs to a connection, so the lock is taken and
 * released in a transaction of its own, which pins one connection of the pool (and touches no
 * table: the migrations' DDL on other connections never waits for it). A lock whose holder died
 * is released by MySQL with its connection. SQLite needs none: a single process migrates a file.
 */
async function withMigrationLock<T>(sequelize: Sequelize, work: () => Promise<T>): Promise<T> {
  if (sequelize.getDialect() !== 'mysql') return work();
  return sequelize.transaction(async (transaction) => {
    const deadline = Date.now() + LOCK_PATIENCE_MS;
    for (;;) {
      const [rows] = (await sequelize.query('SELECT GET_LOCK(?, ?) AS got', {
        replacements: [MIGRATION_LOCK, LOCK_WAIT_SECONDS],
        transaction,
      })) as [{ got: number | null }[], unknown];
      if (Number(rows[0]?.got) === 1) break;
      if (Date.now() > deadline) {
        throw new Error(
          `another instance has held the migration lock for ${LOCK_PATIENCE_MS / 60_000} minutes`,
        );
      }
    }
    try {
      return await work();
    } finally {
      await sequelize.query('SELECT RELEASE_LOCK(?)', { replacements: [MIGRATION_LOCK], transaction });
    }
  });
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
