import { text } from 'node:stream/consumers';
import { type Database, sessionsRepo, usersRepo } from '@hdms/db';
import { read } from 'read';
import type { Account } from './auth/accounts';
import { findAccount, hashPassword, SessionManager, SignInThrottle } from './auth/index';
import { generatePassword } from './auth/bootstrap';
import {
  type CommandLine,
  CommandError,
  type CommandSpec,
  commandSource,
  EXIT,
  exitWith,
  runCommand,
  UsageError,
  withDatabase,
} from './cli';
import { resetMfa } from './domain/mfa/commands';
import { recordEvent } from './domain/events/record';
import { createUser, linkUser, setUserDisabled } from './domain/users/commands';
import { createUserInput } from './domain/users/schemas';
import type { Config } from './env';
import { createLogger } from './logger';

/**
 * `npm run admin -- <command> [arguments] [options]` (server/scripts/run.mjs runs
 * server/src/admin.ts with tsx, or the compiled server/dist/admin.js without it): operators'
 * commands on the database of DATABASE_URL (migrated first if needed), safe while the server
 * runs. Each command is one entry of `COMMANDS`: its command line, its help and what it does,
 * through the domain's commands (audited as the command line). Every command answers `--help`,
 * and refuses an unknown option or a wrong number of arguments without doing anything. Exit 0
 * done; 1 for a refusal (an unknown account, say), invalid configuration or an unreachable
 * database (one line, no secret); 2 for a usage error.
 */

/** One operator command: its command line (see `CommandSpec`), its summary, what it does. */
interface AdminCommand extends Omit<CommandSpec, 'invocation'> {
  /** What it does, in one line (the command list). */
  summary: string;
  /** Does it; the text to print on success. */
  run(line: CommandLine, config: Config): Promise<string>;
}

/** Why `--password <value>` is not an option. */
const NO_PASSWORD_FLAG = [
  '--password is not taken: a password typed on the command line stays in the shell history and',
  'shows in the process list. Type it at the prompt (in a terminal), pipe it with --password-stdin,',
  'or let --generate-password choose one. Nothing was done.',
].join('\n');

/** The account named by `identifier` (a username or an email), or a one-line refusal. */
async function accountNamed(db: Database, identifier: string): Promise<Account> {
  const account = await findAccount(db, identifier);
  if (!account) throw new CommandError(`No account "${identifier}" exists: nothing was changed.`);
  return account;
}

/** The session manager of `config`, for commands that end sessions as the server does. */
const sessionsOf = (db: Database, config: Config) =>
  new SessionManager(db, {
    idleMinutes: config.sessionIdleMinutes,
    maxHours: config.sessionMaxHours,
    secureCookie: config.production,
  });

/** A record id given as an option's value: a positive whole number, or a usage error. */
function recordId(option: string, value: string): number {
  if (!/^\d{1,10}$/.test(value) || Number(value) < 1 || Number(value) > 2_147_483_647) {
    throw new UsageError(`--${option} must be a record id (a positive whole number), not "${value}".`);
  }
  return Number(value);
}

/**
 * The new account's password: standard input's first line (`--password-stdin`), a generated one
 * (`--generate-password`), or typed twice at a hidden prompt when standard input is a terminal.
 */
async function newPassword(
  values: CommandLine['values'],
  owner: { username: string; email: string },
): Promise<{ password: string; generated: boolean }> {
  if (values['password-stdin'] && values['generate-password']) {
    throw new UsageError('Give --password-stdin or --generate-password, not both.');
  }
  if (values['generate-password']) return { password: generatePassword(owner), generated: true };
  if (values['password-stdin']) {
    const password = (await text(process.stdin)).replace(/\r?\n$/, '');
    if (password === '') throw new UsageError('--password-stdin read no password from standard input.');
    return { password, generated: false };
  }
  if (!process.stdin.isTTY) {
    throw new UsageError(
      'Standard input is not a terminal, so there is no prompt for the password: use --password-stdin or --generate-password.',
    );
  }
  const ask = (prompt: string) => read({ prompt, silent: true, replace: '*', output: process.stderr });
  const password = await ask('Password: ');
  if ((await ask('Password (again): ')) !== password) {
    throw new UsageError('The two passwords differ: nothing was done.');
  }
  return { password, generated: false };
}

const COMMANDS: Record<string, AdminCommand> = {
  'create-user': {
    args: '<username>',
    summary: 'create an account (admin, doctor or patient) with a password that passes the policy',
    arity: { min: 1, max: 1 },
    options: {
      email: { type: 'string', value: '<email>', help: 'its email address (required)' },
      role: { type: 'string', value: '<role>', help: 'admin, doctor or patient (required)' },
      'password-stdin': {
        type: 'boolean',
        help: 'read the password from standard input (its first line) instead of a prompt',
      },
      'generate-password': {
        type: 'boolean',
        help: 'choose a strong random password and print it once',
      },
    },
    refused: { password: NO_PASSWORD_FLAG },
    help: [
      'Creates an account. The password is typed twice at a hidden prompt (in a terminal), or read from',
      'standard input with --password-stdin, or generated with --generate-password; never an argument,',
      'so that it stays out of the shell history. It must pass the password policy: 8-256 characters,',
      'not a common password, not containing the username or the part of the email before the @.',
      'A doctor or patient account sees no patient data until it is linked to its record (link). Audited.',
      '',
      'Examples:',
      '  npm run admin -- create-user dr.grey --email grey@clinic.example --role doctor',
      '  pass show hdms/grey | npm run admin -- create-user dr.grey --email grey@clinic.example --role doctor --password-stdin',
    ].join('\n'),
    async run({ positionals: [username = ''], values }, config) {
      if (typeof values.email !== 'string') throw new UsageError('--email <email> is required.');
      if (typeof values.role !== 'string') throw new UsageError('--role <admin|doctor|patient> is required.');
      const fields = { username, email: values.email, role: values.role };
      // The username, email and role are checked before a password is asked for.
      const early = createUserInput.safeParse({ ...fields, password: 'placeholder-to-check-the-rest' });
      const earlyIssue = early.error?.issues.find((issue) => issue.path[0] !== 'password');
      if (earlyIssue) throw new UsageError(`${String(earlyIssue.path[0])} ${earlyIssue.message}.`);
      const { password, generated } = await newPassword(values, fields);
      const input = createUserInput.safeParse({ ...fields, password });
      if (!input.success) {
        throw new UsageError(
          input.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}.`).join(' '),
        );
      }
      const user = await withDatabase(config, (db) =>
        createUser(commandSource(db, 'admin create-user'), input.data),
      );
      return [
        `Created ${user.role} account "${user.username}" (id ${user.id}, ${user.email}).`,
        ...(generated ? ['Its password is shown this once; store it now:', `  password: ${password}`] : []),
        ...(user.role === 'admin'
          ? []
          : [
              `It sees no patient data until it is linked: npm run admin -- link ${user.username} --${user.role} <id>`,
            ]),
      ].join('\n');
    },
  },
  link: {
    args: '<username>',
    summary: 'link a doctor account to its doctor record, or a patient account to its patient record',
    arity: { min: 1, max: 1 },
    options: {
      doctor: { type: 'string', value: '<id>', help: "the doctor record's id (for a doctor account)" },
      patient: { type: 'string', value: '<id>', help: "the patient record's id (for a patient account)" },
    },
    help: [
      'Links the account named (a username or email) to its record, as users.link does: a doctor account',
      'to a doctor (--doctor <id>), a patient account to a patient (--patient <id>). Each record has at',
      'most one account. Audited.',
      '',
      'Example: npm run admin -- link dr.grey --doctor 3',
    ].join('\n'),
    async run({ positionals: [identifier = ''], values }, config) {
      const { doctor, patient } = values;
      if ((doctor === undefined) === (patient === undefined)) {
        throw new UsageError('Give exactly one of --doctor <id> or --patient <id>.');
      }
      const target =
        typeof doctor === 'string'
          ? { doctorId: recordId('doctor', doctor) }
          : { patientId: recordId('patient', String(patient)) };
      return withDatabase(config, async (db) => {
        const account = await accountNamed(db, identifier);
        const user = await linkUser(
          { ...commandSource(db, 'admin link'), sessions: sessionsOf(db, config) },
          { userId: account.id, ...target },
        );
        const record = user.doctorId !== null ? `doctor ${user.doctorId}` : `patient ${user.patientId}`;
        return `"${user.username}" is linked to ${record}.`;
      });
    },
  },
  'reset-password': {
    args: '[username]',
    summary: 'give an admin a new random password, printed once (default: admin)',
    arity: { min: 0, max: 1 },
    options: {},
    help: [
      'A lost admin password: the admin named (a username or email; `admin` by default) gets a new',
      'random password, printed once. Every session of the account ends, its sign-in throttle is',
      'lifted, and a disabled account is enabled again. Change the password after signing in.',
      'npm run admin:reset-password -- [username] is the same command.',
    ].join('\n'),
    async run({ positionals: [username = 'admin'] }, config) {
      const reset = await withDatabase(config, (db) => resetPassword(db, config, username));
      return [
        `The password of admin "${reset.username}" was reset. It is shown this once; store it now:`,
        `  username: ${reset.username}`,
        `  password: ${reset.password}`,
        `Every session of "${reset.username}" was ended${reset.reenabled ? ' and the disabled account was enabled again' : ''}.`,
        'Change the password after signing in: auth.changePassword in the panel or through the SDK.',
      ].join('\n');
    },
  },
  disable: {
    args: '<username>',
    summary: 'disable an account: every session of it ends and it can no longer sign in',
    arity: { min: 1, max: 1 },
    options: {},
    help: [
      'Disables the account named (a username or email), as users.setDisabled does: every session of',
      'it ends at once and it can no longer sign in; its records and audit trail stay. Audited.',
      'npm run admin -- enable <username> undoes it.',
    ].join('\n'),
    async run({ positionals: [identifier = ''] }, config) {
      return withDatabase(config, async (db) => {
        const account = await accountNamed(db, identifier);
        const was = account.disabledAt !== null;
        await setUserDisabled(
          { ...commandSource(db, 'admin disable'), sessions: sessionsOf(db, config) },
          { userId: account.id, disabled: true },
        );
        return was
          ? `"${account.username}" was already disabled; any session of it was ended.`
          : `"${account.username}" is disabled: every session of it was ended and it can no longer sign in.`;
      });
    },
  },
  enable: {
    args: '<username>',
    summary: 'enable a disabled account again',
    arity: { min: 1, max: 1 },
    options: {},
    help: 'Enables the account named (a username or email) again: it can sign in with its password. Audited.',
    async run({ positionals: [identifier = ''] }, config) {
      return withDatabase(config, async (db) => {
        const account = await accountNamed(db, identifier);
        await setUserDisabled(
          { ...commandSource(db, 'admin enable'), sessions: sessionsOf(db, config) },
          { userId: account.id, disabled: false },
        );
        return account.disabledAt === null
          ? `"${account.username}" was not disabled: nothing to do.`
          : `"${account.username}" is enabled again.`;
      });
    },
  },
  'reset-mfa': {
    args: '<username>',
    summary: "turn an account's MFA off (a lost phone and lost recovery codes)",
    arity: { min: 1, max: 1 },
    options: {},
    help: [
      'The account named (a username or email) loses its authenticator and recovery codes, and every',
      'session of it ends: it signs in with its password alone until it enrolls again (where',
      'MFA_REQUIRED_ROLES names its role, it must enroll before anything else). Audited.',
    ].join('\n'),
    async run({ positionals: [identifier = ''] }, config) {
      return withDatabase(config, async (db) => {
        const account = await accountNamed(db, identifier);
        const { hadMfa } = await resetMfa(
          { ...commandSource(db, 'admin reset-mfa'), logger: createLogger('silent') },
          account.id,
        );
        return hadMfa
          ? [
              `MFA of "${account.username}" was turned off: its authenticator and recovery codes were deleted,`,
              'and every session of it was ended. It signs in with its password alone until it enrolls again.',
            ].join('\n')
          : `"${account.username}" had no MFA turned on; any unconfirmed enrollment was cleared and its sessions were ended.`;
      });
    },
  },
};

/** The general usage: every command, one line each. */
function usage(): string {
  const width = Math.max(...Object.entries(COMMANDS).map(([name, c]) => `${name} ${c.args}`.length));
  return [
    'Usage: npm run admin -- <command> [arguments] [options]   (each command answers --help)',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${`${name} ${c.args}`.padEnd(width)}  ${c.summary}`),
    'Exit codes: 0 done, 1 failed, 2 usage error (nothing was done).',
  ].join('\n');
}

/** Runs the command line; the exit code. */
async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? process.stderr : process.stdout).write(`${usage()}\n`);
    return name === undefined ? EXIT.usage : EXIT.done;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    const what = name.startsWith('-')
      ? `Unknown option ${name}: nothing was done.`
      : `Unknown command "${name}".`;
    process.stderr.write(`${what}\n${usage()}\n`);
    return EXIT.usage;
  }
  const spec = { ...command, invocation: `npm run admin -- ${name}` };
  return runCommand(spec, rest, (line, loadConfig) => command.run(line, loadConfig()));
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
  const found = await accountNamed(db, identifier);
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

exitWith(main(process.argv.slice(2)));
