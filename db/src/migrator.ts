import type { QueryInterface, Sequelize } from 'sequelize';
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

/** Applies every pending migration; returns the names applied. */
export async function migrateToLatest(sequelize: Sequelize): Promise<string[]> {
  const applied = await createMigrator(sequelize).up();
  return applied.map((m) => m.name);
}

/**
 * Reverts the last applied migration; with `to`, every migration after `to` and `to` itself
 * (0 reverts all).
 */
export async function migrateDown(sequelize: Sequelize, to?: string | 0): Promise<string[]> {
  const reverted = await createMigrator(sequelize).down(to === undefined ? undefined : { to });
  return reverted.map((m) => m.name);
}
