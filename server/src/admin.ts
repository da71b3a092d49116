import { type Database, sessionsRepo, usersRepo } from '@hdms/db';
import { findAccount, hashPassword, SignInThrottle } from './auth/index';
import { generatePassword } from './auth/bootstrap';
import { type Config, ConfigError, loadConfig } from './env';
import { describeStartupFailure, migrateDatabase, openDatabase } from './server';
import { recordEvent } from './domain/events/record';

const USAGE = 'Usage: npm run admin:reset-password -- [username]   (default: admin)';

/** A failure that ends the command with one line and exit code 1. */
class CommandError extends Error {}

/**
 * `npm run admin:reset-password -- [username]` (`node --import tsx server/src/admin.ts
 * reset-password [username]`): recovery for a lost admin password. On the configured
 * DATABASE_URL (migrated if needed) it gives the admin a new random password, printed once;
 * ends every session of the account, lifts its sign-in throttle and re-enables it if it was
 * disabled. Exit 0 on success, 1 for an unknown or non-admin account or a database failure,
 * 2 for a usage error.
 */
async function main(argv: string[]): Promise<number> {
  const [command, username = 'admin', ...extra] = argv;
  if (command !== 'reset-password' || extra.length > 0) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  let config: Config | undefined;
  try {
    config = loadConfig();
    const db = await openDatabase(config);
    try {
      await migrateDatabase(db, config);
      const reset = await resetPassword(db, config, username);
      process.stdout.write(
        [
          `The password of admin "${reset.username}" was reset. It is shown this once; store it now:`,
          `  username: ${reset.username}`,
          `  password: ${reset.password}`,
          `Every session of "${reset.username}" was ended${reset.reenabled ? ' and the disabled account was enabled again' : ''}.`,
          'Change the password after signing in: auth.changePassword in the panel or through the SDK.',
          '',
        ].join('\n'),
      );
    } finally {
      await db.close();
    }
    return 0;
  } catch (error) {
    const line =
      error instanceof ConfigError || error instanceof CommandError
        ? error.message
        : `admin:reset-password failed: ${describeStartupFailure(error, config)}`;
    process.stderr.write(`${line}\n`);
    return 1;
  }
}

/**
 * Gives admin `identifier` (username or email) a new random password in one transaction: the
 * argon2id hash is replaced, every session and every sign-in throttle counter of the account are
 * deleted, and a disabled account is enabled again.
 */
async function resetPassword(
  db: Database,
  config: Config,
  identifier: string,
): Promise<{ username: string; password: string; reenabled: boolean }> {
  const found = await findAccount(db, identifier);
  if (!found) throw new CommandError(`No account "${identifier}" exists: nothing was changed.`);
  if (found.role !== 'admin') {
    throw new CommandError(
      `"${found.username}" is a ${found.role} account, not an admin: this command resets admin passwords only.`,
    );
  }
  const password = generatePassword();
  const passwordHash = await hashPassword(password);
  const reenabled = found.disabledAt !== null;
  await db.transaction(async (transaction) => {
    await usersRepo.update(db, found.id, { passwordHash, disabledAt: null }, { tx: transaction });
    await sessionsRepo.deleteByUser(db, found.id, { tx: transaction });
    await new SignInThrottle(db, config.signInLimits).forgetAccount(found.id, transaction);
    await recordEvent(db, transaction, { type: 'account.changed', entityId: found.id });
  });
  return { username: found.username, password, reenabled };
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
