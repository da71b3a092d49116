import { HdmsRestError } from '../rest';
import { isTRPCClientError } from '../client';

/** The `hdms` command's exit codes (README and `hdms --help` list them). */
export const EXIT = {
  /** The command did what it was asked. */
  done: 0,
  /** It failed: the server refused, a job failed or rejected rows, a file could not be written. */
  failed: 1,
  /** The command line is wrong: unknown command or flag, missing or extra argument, bad value. */
  usage: 2,
  /** No saved sign-in for the server, or the server no longer accepts it. */
  notSignedIn: 3,
  /** Ctrl-C while waiting for a job (which goes on): the shell's code for SIGINT. */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A failure the command reports as one line on stderr and ends with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.failed,
  ) {
    super(message);
  }
}

/** Why a request never got an answer (`ECONNREFUSED`, `ENOTFOUND`, ...), if that is what `error` is. */
function unreachable(error: unknown): string | null {
  let fetchFailed = false;
  let deepest = '';
  for (let cause = error; cause instanceof Error; cause = cause.cause) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
    if (cause instanceof TypeError && cause.message === 'fetch failed') fetchFailed = true;
    deepest = cause.message;
  }
  return fetchFailed ? deepest : null;
}

/** What to tell the user about `error`, met while talking to the server at `url`, and the exit code. */
export function explain(error: unknown, url: string): CliError {
  if (error instanceof CliError) return error;
  const signInAgain = `run \`hdms login${url ? ` --url ${url}` : ''}\``;
  if (isTRPCClientError(error) && error.data?.code) {
    if (error.data.code === 'UNAUTHORIZED') {
      return new CliError(
        `Not signed in: the server refused the saved sign-in (${error.message}); ${signInAgain}`,
        3,
      );
    }
    return new CliError(`${error.data.code}: ${error.message}`);
  }
  if (error instanceof HdmsRestError) {
    if (error.status === 401) {
      return new CliError(
        `Not signed in: the server refused the saved sign-in (${error.message}); ${signInAgain}`,
        3,
      );
    }
    const issues = error.issues.map((issue) => `${issue.path || '(file)'}: ${issue.message}`);
    return new CliError([`${error.status}: ${error.message}`, ...issues].join('\n  '));
  }
  const cause = unreachable(error);
  if (cause) return new CliError(`Cannot reach the HDMS server at ${url} (${cause}): is it running?`);
  return new CliError(error instanceof Error ? error.message : String(error));
}
