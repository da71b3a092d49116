import { type Database, migrateToLatest, migrations } from '@hdms/db';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openFreshDatabase, TEST_DB_KIND, type TestDatabase } from './helpers/db';

/**
 * The migration lock on MySQL is a row with a lease (`schema_migrations_lock`), certified
 * cluster-wide on Galera where `GET_LOCK` is local to one node: a live lease makes an instance wait,
 * a lease that ran out (its holder died) is taken over, and the row is gone once migrations end.
 * (Three instances started together migrate once: tests/instances-start.test.ts; two writers on
 * two Galera nodes: tests/cluster.)
 */
describe.skipIf(TEST_DB_KIND !== 'mysql')('the migration lock row', () => {
  let db: Database;
  let target: TestDatabase;
  beforeEach(async () => {
    ({ db, target } = await openFreshDatabase());
    await db.sequelize.query(
      'CREATE TABLE schema_migrations_lock (id INT NOT NULL PRIMARY KEY, holder VARCHAR(64) NOT NULL, expires_at DATETIME(3) NOT NULL) ENGINE=InnoDB',
    );
  });
  afterEach(async () => {
    await db.close();
    await target.drop();
  });

  const lockRows = async () =>
    (await db.sequelize.query('SELECT holder FROM schema_migrations_lock', { type: 'SELECT' })) as {
      holder: string;
    }[];

  it('a lease that ran out is taken over at once, and released after', async () => {
    await db.sequelize.query(
      "INSERT INTO schema_migrations_lock VALUES (1, 'a dead instance', NOW(3) - INTERVAL 1 SECOND)",
    );
    const started = Date.now();
    expect(await migrateToLatest(db)).toEqual(migrations.map((m) => m.name));
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(await lockRows()).toEqual([]);
  });

  it('a live lease makes the instance wait until it is released', async () => {
    await db.sequelize.query(
      "INSERT INTO schema_migrations_lock VALUES (1, 'another instance', NOW(3) + INTERVAL 30 SECOND)",
    );
    let done = false;
    const migrating = migrateToLatest(db).then((applied) => {
      done = true;
      return applied;
    });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(done, 'migrated while another instance held the lock').toBe(false);
    expect(
      await db.sequelize.query(
        "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'doctors'",
        { type: 'SELECT' },
      ),
    ).toEqual([{ n: 0 }]);
    await db.sequelize.query("DELETE FROM schema_migrations_lock WHERE holder = 'another instance'");
    expect(await migrating).toEqual(migrations.map((m) => m.name));
    expect(await lockRows()).toEqual([]);
  });
});
