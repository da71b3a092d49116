import { migrateDown } from '@hdms/db';
import { loadDotEnv } from './dotenv';
import { type Config, ConfigError, loadConfig } from './env';
import { databaseError, describeStartupFailure, migrateDatabase, openDatabase } from './server';

/** The configuration once loaded, so that a failure can be told without its secrets. */
let config: Config | undefined;

/** `npm run db:migrate` (apply pending) and `npm run db:rollback` (revert the last one). */
async function main(direction: string | undefined): Promise<void> {
  loadDotEnv();
  config = loadConfig();
  for (const warning of config.warnings) process.stderr.write(`Warning: ${warning}\n`);
  const settings = config;
  const db = await openDatabase(settings);
  try {
    if (direction === 'down') {
      const reverted = await migrateDown(db).catch((error: unknown) => {
        throw databaseError(settings, error, 'reverting the last migration failed');
      });
      process.stdout.write(reverted.length ? `Reverted: ${reverted.join(', ')}\n` : 'Nothing to revert\n');
    } else {
      const applied = await migrateDatabase(db, settings);
      process.stdout.write(applied.length ? `Applied: ${applied.join(', ')}\n` : 'Database is up to date\n');
    }
  } finally {
    await db.close();
  }
}

main(process.argv[2]).catch((error: unknown) => {
  const message = error instanceof ConfigError ? error.message : describeStartupFailure(error, config);
  process.stderr.write(`${message}\n`);
  process.exit(1);
});
