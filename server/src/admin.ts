import { randomUUID } from 'node:crypto';
import { type Database, sessionsRepo, usersRepo } from '@hdms/db';
import { findAccount, hashPassword, SignInThrottle } from './auth/index';
import { generatePassword } from './auth/bootstrap';
import { resetMfa } from './domain/mfa/commands';
import { recordEvent } from './domain/events/record';
import { loadDotEnv } from './dotenv';
import { type Config, ConfigError, loadConfig } from './env';
import { createLogger } from './logger';
import { describeStartupFailure, migrateDatabase, openDatabase } from './server';

/**
 * `npm run admin -- <command> [arguments]` (`node --import tsx server/src/admin.ts ...`, or
 * `node server/dist/admin.js ...` in the compiled tree): operators' commands on the database of
 * DATABASE_URL (migrated first if needed), safe while the server runs. Each command is one entry
 * of `COMMANDS`: its usage, its help, how many arguments it takes and what it does. Every command
 * answers `--help`, and refuses an unknown flag or a wrong number of arguments without doing
 * anything. Exit 0 done; 1 for a refusal (an unknown account, say), invalid configuration or an
 * unreachable database (one line, no secret); 2 for a usage error.
 */

/** A failure that ends the command with one line and exit code 1. */
class CommandError extends Error {}

/** One operator command. */
interface Command {
  /** Its arguments, as the usage line shows them (`<username>`, `[username]`). */
  args: string;
  /** What it does, in one line (the command list). */
  summary: string;
  /** What `--help` adds below the usage line. */
  help: string;
  /** How many positional arguments it takes. */
  arity: { min: number; max: number };
  /** Does it; the text to print on success. */
  run(db: Database, config: Config, args: string[]): Promise<string>;
}

const COMMANDS: Record<string, Command> = {
  'reset-password': {
    args: '[username]',
    summary: 'give an admin a new random password, printed once (default: admin)',
    help: [
      'A lost admin password: the admin named (a username or email; `admin` by default) gets a new',
      'random password, printed once. Every session of the account ends, its sign-in throttle is',
      'lifted, and a disabled account is enabled again. Change the password after signing in.',
    ].join('\n'),
    arity: { min: 0, max: 1 },
    async run(db, config, [username = 'admin']) {
      const reset = await resetPassword(db, config, username);
      return [
        `The password of admin "${reset.username}" was reset. It is shown this once; store it now:`,
        `  username: ${reset.username}`,
        `  password: ${reset.password}`,
        `Every session of "${reset.username}" was ended${reset.reenabled ? ' and the disabled account was enabled again' : ''}.`,
        'Change the password after signing in: auth.changePassword in the panel or through the SDK.',
      ].join('\n');
    },
  },
  'reset-mfa': {
    args: '<username>',
    summary: "turn an account's MFA off (a lost phone and lost recovery codes)",
    help: [
      'The account named (a username or email) loses its authenticator and recovery codes, and every',
      'session of it ends: it signs in with its password alone until it enrolls again (where',
      'MFA_REQUIRED_ROLES names its role, it must enroll before anything else). Audited.',
    ].join('\n'),
    arity: { min: 1, max: 1 },
    async run(db, _config, [identifier = '']) {
      const account = await findAccount(db, identifier);
      if (!account) throw new CommandError(`No account "${identifier}" exists: nothing was changed.`);
      const { hadMfa } = await resetMfa(
        {
          db,
          logger: createLogger('silent'),
          actor: null,
          command: 'command line: reset-mfa',
          procedure: 'admin reset-mfa',
          requestId: `command-${randomUUID()}`,
          ip: null,
        },
        account.id,
      );
      return hadMfa
        ? [
            `MFA of "${account.username}" was turned off: its authenticator and recovery codes were deleted,`,
            'and every session of it was ended. It signs in with its password alone until it enrolls again.',
          ].join('\n')
        : `"${account.username}" had no MFA turned on; any unconfirmed enrollment was cleared and its sessions were ended.`;
    },
  },
};

/** The general usage: every command, one line each. */
function usage(): string {
  const width = Math.max(...Object.entries(COMMANDS).map(([name, c]) => `${name} ${c.args}`.length));
  return [
    'Usage: npm run admin -- <command> [arguments]   (each command answers --help)',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${`${name} ${c.args}`.padEnd(width)}  ${c.summary}`),
  ].join('\n');
}

/** One command's usage line. */
const commandUsage = (name: string, command: Command) => `Usage: npm run admin -- ${name} ${command.args}`;

/** Runs the command line; the exit code. */
async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? process.stderr : process.stdout).write(`${usage()}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    process.stderr.write(`Unknown command "${name}".\n${usage()}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${commandUsage(name, command)}\n${command.help}\n`);
    return 0;
  }
  const flag = rest.find((arg) => arg.startsWith('-'));
  const { min, max } = command.arity;
  if (flag !== undefined || rest.length < min || rest.length > max) {
    const why =
      flag !== undefined ? `Unknown option ${flag}: nothing was done.` : 'Wrong number of arguments.';
    process.stderr.write(`${why}\n${commandUsage(name, command)}\n`);
    return 2;
  }
  let config: Config | undefined;
  try {
    loadDotEnv();
    config = loadConfig();
    for (const warning of config.warnings) process.stderr.write(`Warning: ${warning}\n`);
    const db = await openDatabase(config);
    try {
      await migrateDatabase(db, config);
      process.stdout.write(`${await command.run(db, config, rest)}\n`);
    } finally {
      await db.close();
    }
    return 0;
  } catch (error) {
    const line =
      error instanceof ConfigError || error instanceof CommandError
        ? error.message
        : `admin ${name} failed: ${describeStartupFailure(error, config)}`;
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
  const password = generatePassword(found);
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
