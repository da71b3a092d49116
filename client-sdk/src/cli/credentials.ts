import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { CliError, EXIT } from './errors';

/** What `hdms login` keeps: the server and the session token it answered, and who signed in. */
export interface Credentials {
  url: string;
  token: string;
  username: string;
  role: string;
  /** When the session expires if left unused (ISO 8601); each request extends it. */
  expiresAt: string;
}

/** `$XDG_CONFIG_HOME/hdms`, or `~/.config/hdms` when XDG_CONFIG_HOME is unset (or not absolute). */
export function configDir(): string {
  const xdg = process.env.XDG_CONFIG_HOME;
  return join(xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.config'), 'hdms');
}

/** The file that holds the saved sign-in. */
export function credentialsFile(): string {
  return join(configDir(), 'credentials.json');
}

/**
 * Saves the sign-in, readable and writable by the user only (mode 0600, in a folder of mode 0700),
 * replacing any earlier one in one step (written beside it, then renamed). Returns the file's path.
 */
export async function saveCredentials(credentials: Credentials): Promise<string> {
  const dir = configDir();
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = credentialsFile();
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(temporary, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    // The mode given at creation is narrowed by the umask only; this makes it exactly 0600.
    await chmod(temporary, 0o600);
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw new CliError(`Cannot save the sign-in in ${file}: ${(error as Error).message}`);
  }
  return file;
}

/** The saved sign-in, or null when there is none. */
export async function loadCredentials(): Promise<Credentials | null> {
  const file = credentialsFile();
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CliError(
      `Cannot read the saved sign-in ${file}: ${(error as Error).message}`,
      EXIT.notSignedIn,
    );
  }
  try {
    const parsed = JSON.parse(text) as Partial<Credentials>;
    if (typeof parsed.url === 'string' && typeof parsed.token === 'string') return parsed as Credentials;
  } catch {
    // reported below
  }
  throw new CliError(`${file} is not a sign-in saved by hdms: run \`hdms login\``, EXIT.notSignedIn);
}

/** Deletes the saved sign-in; false when there was none. */
export async function removeCredentials(): Promise<boolean> {
  const file = credentialsFile();
  try {
    await rm(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new CliError(`Cannot delete ${file}: ${(error as Error).message}`);
  }
}
