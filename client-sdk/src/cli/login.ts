import { createClient, isTRPCClientError, MfaRequired, type SignedIn, signIn } from '../client';
import { saveCredentials, loadCredentials, removeCredentials } from './credentials';
import { CliError, EXIT } from './errors';
import { Prompter, readStdin } from './prompt';
import { DEFAULT_URL, requestedUrl } from './session';

/** `hdms login` flags. */
export interface LoginOptions {
  url?: string;
  username?: string;
  passwordStdin?: boolean;
  code?: string;
}

/** Wrong MFA codes tried on a terminal before giving up. */
const MFA_TRIES = 3;

/**
 * Signs in (username and password, then the MFA code for an account with MFA) and saves the
 * session token with the server's URL in the user's config folder (mode 0600), replacing (and
 * ending) the sign-in saved before.
 */
export async function login(options: LoginOptions): Promise<void> {
  const url = requestedUrl(options.url) ?? DEFAULT_URL;
  const prompter = new Prompter();
  try {
    if (options.passwordStdin && !options.username) {
      throw new CliError('--password-stdin needs --username (stdin holds the password only)', EXIT.usage);
    }
    const username = options.username ?? (await prompter.ask('Username: ', { what: 'username' }));
    const password = options.passwordStdin
      ? await readStdin()
      : await prompter.ask('Password: ', { secret: true, what: 'password' });
    if (!username || !password) throw new CliError('A username and a password are needed', EXIT.usage);

    let signedIn: SignedIn;
    try {
      signedIn = await signIn(url, username, password);
    } catch (error) {
      if (!(error instanceof MfaRequired)) throw refusal(error);
      signedIn = await completeMfa(error, options, prompter);
    }
    const previous = await loadCredentials().catch(() => null);
    const file = await saveCredentials({
      url,
      token: signedIn.token,
      username: signedIn.user.username,
      role: signedIn.user.role,
      expiresAt: signedIn.expiresAt.toISOString(),
    });
    process.stdout.write(
      `Signed in to ${url} as ${signedIn.user.username} (${signedIn.user.role}); the session is saved in ${file} (readable by you only).\n`,
    );
    // The sign-in it replaces is ended on its server too (if that still answers), not left open.
    if (previous && previous.token !== signedIn.token) {
      await createClient({ url: previous.url, token: previous.token })
        .auth.logout.mutate()
        .catch(() => undefined);
    }
  } finally {
    prompter.close();
  }
}

/** Finishes an MFA sign-in with `--code`, or with codes asked for (up to MFA_TRIES on a terminal). */
async function completeMfa(mfa: MfaRequired, options: LoginOptions, prompter: Prompter): Promise<SignedIn> {
  if (options.code !== undefined)
    return mfa.complete(options.code).catch((error) => Promise.reject(refusal(error)));
  if (options.passwordStdin) {
    throw new CliError('This account signs in with MFA: pass its code with --code', EXIT.usage);
  }
  for (let attempt = 1; ; attempt++) {
    const code = await prompter.ask('MFA code (authenticator app, or a recovery code): ', {
      what: 'MFA code',
    });
    try {
      return await mfa.complete(code.trim());
    } catch (error) {
      const wrongCode = isTRPCClientError(error) && error.data?.code === 'UNAUTHORIZED';
      if (!wrongCode || attempt >= MFA_TRIES || !process.stdin.isTTY) throw refusal(error);
      process.stderr.write(`${error.message}; try again.\n`);
    }
  }
}

/** A refused sign-in as a failure of `login` (exit code 1), with the server's reason. */
function refusal(error: unknown): unknown {
  if (isTRPCClientError(error) && error.data?.code) {
    return new CliError(`Sign-in refused: ${error.message}`);
  }
  return error;
}

/** Ends the saved session on the server (if it still answers) and deletes the saved sign-in. */
export async function logout(): Promise<void> {
  const saved = await loadCredentials();
  if (!saved) {
    process.stdout.write('Not signed in: nothing to do.\n');
    return;
  }
  let ended = 'ended on the server';
  try {
    await createClient({ url: saved.url, token: saved.token }).auth.logout.mutate();
  } catch (error) {
    ended = `not ended on the server (${error instanceof Error ? error.message : String(error)})`;
  }
  await removeCredentials();
  process.stdout.write(`Signed out of ${saved.url}: the session was ${ended}, and its token deleted.\n`);
}
