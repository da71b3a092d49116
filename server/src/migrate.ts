import { createDatabase, migrateDown, migrateToLatest } from '@hdms/db';
import { ConfigError, loadConfig } from './env';

/** `npm run db:migrate` (apply pending) and `npm run db:rollback` (revert the last one). */
async function main(direction: string | undefined): Promise<void> {
  const config = loadConfig();
  const db = await createDatabase(config.databaseUrl);
  try {
    if (direction === 'down') {
      const reverted = await migrateDown(db.sequelize);
      process.stdout.write(reverted.length ? `Reverted: ${reverted.join(', ')}\n` : 'Nothing to revert\n');
    } else {
      const applied = await migrateToLatest(db.sequelize);
      process.stdout.write(applied.length ? `Applied: ${applied.join(', ')}\n` : 'Database is up to date\n');
    }
  } finally {
    await db.close();
  }
}

main(process.argv[2]).catch((error: unknown) => {
  const message = error instanceof ConfigError || error instanceof Error ? error.message : String(error);
  process.stderr.write(`${message}\n`);
  process.exit(1);
});
