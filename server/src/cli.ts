import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { Database } from '@hdms/db';
import { DomainError } from './domain/errors';
import { loadDotEnv } from './dotenv';
import { type Config, ConfigError, loadConfig } from './env';
import { describeStartupFailure, migrateDatabase, openDatabase } from './server';

/**
 * What every operator command (`npm run db:migrate`, `db:rollback`, `db:seed`, `admin -- ...`)
 * shares: one way to read its command line (node's `util.parseArgs`), `--help`, and the exit
 * codes: 0 done, 1 failed (a refusal, invalid configuration, an unreachable database: one line,
 * no secret), 2 usage (an unknown option, a missing or invalid argument: nothing was done).
 */

/** The exit codes of every command. */
export const EXIT = { done: 0, failed: 1, usage: 2 } as const;

/** A refusal or failure, told in one line: exit code 1. */
export class CommandError extends Error {}

/** A wrong command line, told in one line followed by the usage: exit code 2, nothing done. */
export class UsageError extends Error {}

/** One option a command accepts. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  /** A one-letter alias (`-y`). */
  short?: string;
  /** What it does, in one line (the help). */
  help: string;
  /** The value's name in the help (`<id>`), for string options. */
  value?: string;
}

/** A command's command line: its positional arguments and options. */
export interface CommandSpec {
  /** The command as typed, for the usage line (`npm run db:rollback`, `npm run admin -- link`). */
  invocation: string;
  /** The positional arguments, as the usage line shows them (`<username>`, `[username]`). */
  args: string;
  /** How many positional arguments it takes. */
  arity: { min: number; max: number };
  /** Its options (`--help` is always there). */
  options: Record<string, OptionSpec>;
  /** What `--help` says below the usage line. */
  help: string;
  /** Options refused with their own message (`--password`: why it is not taken). */
  refused?: Record<string, string>;
}

/** The command line as read: the options given and the positional arguments. */
export interface CommandLine {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** The usage line of `spec`. */
export function usageLine(spec: CommandSpec): string {
  const tail = `${spec.args ? ` ${spec.args}` : ''}${Object.keys(spec.options).length ? ' [options]' : ''}`;
  // npm passes arguments on only after `--`.
  const separator = tail && !spec.invocation.includes(' -- ') ? ' --' : '';
  return `Usage: ${spec.invocation}${separator}${tail}`;
}

/** The full help of `spec`: usage, what it does, its options and the exit codes. */
export function helpText(spec: CommandSpec): string {
  const rows = [
    ...Object.entries(spec.options).map(([name, option]) => [
      `${option.short ? `-${option.short}, ` : ''}--${name}${option.type === 'string' ? ` ${option.value ?? '<value>'}` : ''}`,
      option.help,
    ]),
    ['-h, --help', 'show this help and do nothing else'],
  ];
  const width = Math.max(...rows.map(([left]) => left!.length));
  return [
    usageLine(spec),
    '',
    spec.help,
    '',
    'Options:',
    ...rows.map(([left, right]) => `  ${left!.padEnd(width)}  ${right}`),
    '',
    'Exit codes: 0 done, 1 failed (told in one line), 2 usage error (nothing was done).',
  ].join('\n');
}

/**
 * Reads `argv` against `spec`: 'help' when `--help` (or `-h`) is among the options, else the
 * options and positionals. An unknown option, a missing value, a value given to a flag or a wrong
 * number of arguments is a `UsageError`.
 */
export function parseCommandLine(spec: CommandSpec, argv: string[]): CommandLine | 'help' {
  const options = Object.fromEntries(
    Object.entries({
      ...spec.options,
      help: { type: 'boolean', short: 'h', help: '' } satisfies OptionSpec,
    }).map(([name, option]) => [
      name,
      option.short ? { type: option.type, short: option.short } : { type: option.type },
    ]),
  );
  // Not strict, so that each mistake gets a message of ours; `tokens` tell what was typed.
  const { values, positionals, tokens } = parseArgs({
    args: argv,
    options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const given = tokens.filter((token) => token.kind === 'option');
  if (given.some((token) => token.name === 'help')) return 'help';
  for (const token of given) {
    const refusal = spec.refused?.[token.name];
    if (refusal) throw new UsageError(refusal);
    const option = spec.options[token.name];
    if (!option) throw new UsageError(`Unknown option ${token.rawName}: nothing was done.`);
    if (option.type === 'string' && (token.value === undefined || token.value === '')) {
      throw new UsageError(`Option ${token.rawName} needs a value (${option.value ?? '<value>'}).`);
    }
    if (option.type === 'boolean' && token.inlineValue) {
      throw new UsageError(`Option ${token.rawName} takes no value.`);
    }
  }
  const { min, max } = spec.arity;
  if (positionals.length < min || positionals.length > max) {
    const expected = min === max ? `${min}` : `${min} to ${max}`;
    throw new UsageError(
      `Wrong number of arguments: ${expected} expected${spec.args ? ` (${spec.args})` : ''}, ${positionals.length} given.`,
    );
  }
  return { values: values as CommandLine['values'], positionals };
}

/** Where a command's audit rows say it came from: the command line, with no actor. */
export function commandSource(db: Database, command: string) {
  return {
    db,
    actor: null,
    command: `command line: ${command}`,
    procedure: command,
    requestId: `command-${randomUUID()}`,
    ip: null,
  };
}

/** A domain refusal in one line: its message, and its issues' paths and messages. */
function domainLine(error: DomainError): string {
  const issues = (error.issues ?? [])
    .filter((issue) => issue.message !== error.message || issue.path.length)
    .map((issue) => `${issue.path.join('.') || 'input'}: ${issue.message}`);
  return `${error.message}${issues.length ? ` (${issues.join('; ')})` : ''}: nothing was changed.`;
}

/**
 * Runs one command: its command line read against `spec` (`--help` printed; a usage error told
 * with the usage line, exit 2), then `work` with the configuration. What `work` returns goes to
 * standard output; a failure is one line on standard error. Resolves to the exit code.
 */
export async function runCommand(
  spec: CommandSpec,
  argv: string[],
  work: (line: CommandLine, config: () => Config) => Promise<string>,
): Promise<number> {
  let line: CommandLine | 'help';
  try {
    line = parseCommandLine(spec, argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${error.message}\n${usageLine(spec)}   (--help for more)\n`);
    return EXIT.usage;
  }
  if (line === 'help') {
    process.stdout.write(`${helpText(spec)}\n`);
    return EXIT.done;
  }
  let config: Config | undefined;
  try {
    const text = await work(line, () => {
      // Like the server: `.env` first (the environment wins), lookalike variables named.
      loadDotEnv();
      config = loadConfig();
      for (const warning of config.warnings) process.stderr.write(`Warning: ${warning}\n`);
      return config;
    });
    if (text) process.stdout.write(`${text}\n`);
    return EXIT.done;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n${usageLine(spec)}   (--help for more)\n`);
      return EXIT.usage;
    }
    const message =
      error instanceof ConfigError || error instanceof CommandError
        ? error.message
        : error instanceof DomainError
          ? domainLine(error)
          : `${spec.invocation} failed: ${describeStartupFailure(error, config)}`;
    process.stderr.write(`${message}\n`);
    return EXIT.failed;
  }
}

/** Opens the database of `config`, migrated to the latest schema, for `work`; closes it after. */
export async function withDatabase<T>(config: Config, work: (db: Database) => Promise<T>): Promise<T> {
  const db = await openDatabase(config);
  try {
    await migrateDatabase(db, config);
    return await work(db);
  } finally {
    await db.close();
  }
}

/** Ends the process with `code` once `run` settles (an unexpected failure: one line, exit 1). */
export function exitWith(run: Promise<number>): void {
  run.then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`${describeStartupFailure(error)}\n`);
      process.exitCode = EXIT.failed;
    },
  );
}

/** `npm start` and `npm run start:prod`: the server takes no arguments, only its environment. */
const SERVER: CommandSpec = {
  invocation: 'npm start',
  args: '',
  arity: { min: 0, max: 0 },
  options: {},
  help: [
    'Starts the HDMS server: migrations applied, the API served, its URL and how to sign in printed.',
    'It takes no arguments: it is configured by environment variables (PORT, HOST, DATABASE_URL, ...;',
    'README "Configuration"). npm run start:prod starts the compiled server/dist/index.js the same way.',
    'SIGTERM or SIGINT stops it gracefully.',
  ].join('\n'),
};

/**
 * The server's command line: null to start, or the exit code once `--help` was answered (0) or
 * an argument refused (2).
 */
export function serverCommandLine(argv: string[]): number | null {
  try {
    if (parseCommandLine(SERVER, argv) !== 'help') return null;
    process.stdout.write(`${helpText(SERVER)}\n`);
    return EXIT.done;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${error.message}\n${usageLine(SERVER)}   (--help for more)\n`);
    return EXIT.usage;
  }
}
