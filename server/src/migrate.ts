import { appliedMigrations, migrateDown } from '@hdms/db';
import { type CommandSpec, EXIT, exitWith, runCommand, UsageError } from './cli';
import { databaseError, migrateDatabase, openDatabase } from './server';

/**
 * `npm run db:migrate` (`migrate.ts up`: apply the pending migrations) and `npm run db:rollback`
 * (`migrate.ts down --yes`: revert the last one), on the database of DATABASE_URL. Without
 * `--yes`, the rollback only says which migration it would revert (exit 2, nothing changed).
 */

const MIGRATE: CommandSpec = {
  invocation: 'npm run db:migrate',
  args: '',
  arity: { min: 0, max: 0 },
  options: {},
  help: [
    'Applies every pending migration to the database of DATABASE_URL (the server does this at start',
    'too) and names them. Several instances on one MySQL database migrate it once: they take a lock.',
  ].join('\n'),
};

const ROLLBACK: CommandSpec = {
  invocation: 'npm run db:rollback',
  args: '',
  arity: { min: 0, max: 0 },
  options: {
    yes: {
      type: 'boolean',
      short: 'y',
      help: 'revert the last applied migration (without it: only say which)',
    },
  },
  help: [
    'Reverts the last applied migration of the database of DATABASE_URL. Reverting drops what that',
    'migration added (tables, columns, and the data in them): back the database up first. Without',
    '--yes it only names the migration it would revert, changes nothing and exits with code 2.',
  ].join('\n'),
};

/** Runs `migrate.ts <up|down> [options]`; the exit code. */
async function main([direction, ...argv]: string[]): Promise<number> {
  if (direction !== 'up' && direction !== 'down') {
    process.stderr.write(
      'Usage: npm run db:migrate, or npm run db:rollback -- --yes (each answers --help)\n',
    );
    return EXIT.usage;
  }
  const spec = direction === 'up' ? MIGRATE : ROLLBACK;
  return runCommand(spec, argv, async ({ values }, loadConfig) => {
    const config = loadConfig();
    const db = await openDatabase(config);
    try {
      if (direction === 'up') {
        const applied = await migrateDatabase(db, config);
        return applied.length ? `Applied: ${applied.join(', ')}` : 'Database is up to date';
      }
      const applied = await appliedMigrations(db).catch((error: unknown) => {
        throw databaseError(config, error, 'reading the applied migrations failed');
      });
      const last = applied.at(-1);
      if (last === undefined) return 'Nothing to revert: no migration is applied.';
      if (!values.yes) {
        throw new UsageError(
          `db:rollback would revert ${last} (the last of ${applied.length} applied migrations), dropping what it added. ` +
            'Nothing was changed; run npm run db:rollback -- --yes to revert it.',
        );
      }
      const reverted = await migrateDown(db).catch((error: unknown) => {
        throw databaseError(config, error, 'reverting the last migration failed');
      });
      return reverted.length ? `Reverted: ${reverted.join(', ')}` : 'Nothing to revert';
    } finally {
      await db.close();
    }
  });
}

exitWith(main(process.argv.slice(2)));
