/**
 * The `hdms` command (the SDK package's `bin`, built to dist/cli.js): sign in, import patients
 * from a CSV file with a progress bar, export a record, list jobs, follow changes. Arguments are
 * parsed by commander; exit codes are `EXIT` (0 done, 1 failed, 2 usage, 3 not signed in).
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import manifest from '../../package.json' with { type: 'json' };
import type { RouterInputs } from '../client';
import type { Job } from '../rest';
import { type CliError, EXIT, type ExitCode, explain } from './errors';
import { followEvents } from './events';
import { exportRecord } from './exportRecord';
import { importCsv } from './importCsv';
import { listJobs } from './jobs';
import { login, logout } from './login';
import { DEFAULT_URL, normalizeUrl, requestedUrl, type Session, signedInSession } from './session';

type EventType = NonNullable<Extract<RouterInputs['events']['onChange'], object>['types']>[number];

/** Every job status (a record, so the compiler notices a status the server adds). */
const JOB_STATUSES = Object.keys({
  queued: true,
  running: true,
  succeeded: true,
  failed: true,
  cancelled: true,
} satisfies Record<Job['status'], true>);

/** Every event type a subscriber may ask for (checked against the API's types the same way). */
const EVENT_TYPES = Object.keys({
  'doctor.created': true,
  'doctor.updated': true,
  'patient.created': true,
  'patient.updated': true,
  'checkHistory.created': true,
  'note.created': true,
  'job.queued': true,
  'job.running': true,
  'job.succeeded': true,
  'job.failed': true,
  'job.cancelled': true,
  'emergency.opened': true,
} satisfies Record<EventType, true>);

const EXIT_CODES_HELP = `
Exit codes: 0 done; 1 failed (the server refused, a job failed or an import rejected rows);
2 usage (unknown command or flag, missing or extra argument, bad value); 3 not signed in;
130 Ctrl-C while waiting for a job (the job goes on).

The server is --url, else $HDMS_URL, else the one you signed in to, else ${DEFAULT_URL}.
\`hdms login\` saves the session in $XDG_CONFIG_HOME/hdms/credentials.json (or
~/.config/hdms/credentials.json), readable by you only; HDMS_TOKEN (a session or service token)
is used instead when set.`;

/** A positive whole number (an id, a limit). */
function positiveInt(value: string): number {
  if (!/^\d{1,10}$/.test(value) || Number(value) < 1 || Number(value) > 2 ** 31 - 1) {
    throw new InvalidArgumentError('must be a positive whole number');
  }
  return Number(value);
}

function checkedUrl(value: string): string {
  try {
    return normalizeUrl(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

/** The program: each command's action sets `exitCode` when it is not 0. */
function program(setExit: (code: ExitCode) => void): Command {
  const hdms = new Command('hdms')
    .description(
      'The HDMS command line: sign in, import patients from CSV, export a record, follow jobs and changes.',
    )
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .version(manifest.version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help (every command has its own)')
    .option(
      '--url <url>',
      `the HDMS server (default: $HDMS_URL, the saved sign-in's, or ${DEFAULT_URL})`,
      checkedUrl,
    )
    .addHelpText('after', EXIT_CODES_HELP);
  const urlOf = (command: Command): string | undefined => command.optsWithGlobals().url;
  /** Runs `work` with the signed-in session; its failures name that session's server. */
  const withSession = async (command: Command, work: (session: Session) => Promise<void>) => {
    const session = await signedInSession(urlOf(command));
    await work(session).catch((error: unknown) => Promise.reject(explain(error, session.url)));
  };

  hdms
    .command('login')
    .description('sign in and save the session for the other commands (asks for what the flags do not give)')
    .option('-u, --username <name>', 'username or email (asked for if missing)')
    .option('--password-stdin', 'read the password from stdin (with --username)')
    .option('--code <code>', 'the MFA code, for an account with MFA (asked for if missing)')
    .addHelpText(
      'after',
      '\nOn a terminal the password is asked for without echo. Piped, stdin gives the answers one per line:\n' +
        '  printf \'%s\\n\' "$USER_NAME" "$PASSWORD" | hdms login',
    )
    .action(async (options, command: Command) => {
      const url = urlOf(command);
      await login({ ...options, url }).catch((error: unknown) =>
        Promise.reject(explain(error, requestedUrl(url) ?? DEFAULT_URL)),
      );
    });

  hdms
    .command('logout')
    .description('end the saved session on the server and delete it')
    .action(async () => logout());

  hdms
    .command('import')
    .description(
      'import patients from a CSV file (admins): progress until the job ends, then the rejected rows',
    )
    .argument('<file.csv>', 'UTF-8 CSV, header row first (name, age, gender required)')
    .addHelpText(
      'after',
      '\nExit code 1 when any row was rejected or the job failed; 0 when every row was imported.',
    )
    .action(async (file: string, _options, command: Command) => {
      await withSession(command, async (session) => setExit(await importCsv(session, file)));
    });

  hdms
    .command('export')
    .description("export a patient's record and download it (the patient, or their doctor)")
    .argument('<patientId>', "the patient record's id", positiveInt)
    .option(
      '-o, --output <file>',
      'the file to write, or a folder; - for stdout (default: the name the server gives)',
    )
    .option('-f, --force', 'replace the file if it exists')
    .action(async (patientId: number, options, command: Command) => {
      await withSession(command, (session) => exportRecord(session, patientId, options));
    });

  hdms
    .command('jobs')
    .description('list your background jobs, newest first (an admin sees everyone’s)')
    .addOption(new Option('--status <status>', 'only jobs in this status').choices(JOB_STATUSES))
    .option('--type <type>', 'only jobs of this type (patients.import, patient.export, …)')
    .option('--limit <n>', 'how many (default 50, at most 1000)', positiveInt)
    .option('--cursor <id>', 'the page after this job id (as the previous page said)', positiveInt)
    .option('--json', 'one JSON object per line')
    .action(async (options, command: Command) => {
      await withSession(command, (session) => listJobs(session, options));
    });

  hdms
    .command('events')
    .description('print changes as they happen, until Ctrl-C; resumes by itself after a dropped connection')
    .addOption(new Option('--type <type...>', 'only these event types').choices(EVENT_TYPES))
    .option('--patient <id>', "only changes of this patient's records", positiveInt)
    .option('--since <eventId>', 'first replay the events after this id', positiveInt)
    .option('--json', 'one JSON object per event and line')
    .action(async (options, command: Command) => {
      await withSession(command, (session) => followEvents(session, options));
    });

  return hdms;
}

/** Runs `hdms` with `argv` (process.argv's shape) and resolves with the exit code. */
export async function main(argv: string[]): Promise<ExitCode> {
  let exitCode: ExitCode = EXIT.done;
  try {
    await program((code) => {
      exitCode = code;
    }).parseAsync(argv);
    return exitCode;
  } catch (error) {
    // commander has printed its own message (or the help) already.
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.done : EXIT.usage;
    const failure: CliError = explain(error, DEFAULT_URL);
    process.stderr.write(`hdms: ${failure.message}\n`);
    return failure.exitCode;
  }
}

process.exit(await main(process.argv));
