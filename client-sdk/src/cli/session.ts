import { EventSource } from 'eventsource';
import { createClient, type HdmsClient } from '../client';
import type { RestOptions } from '../rest';
import { loadCredentials } from './credentials';
import { CliError, EXIT } from './errors';

/** Where `hdms` goes when neither `--url`, `HDMS_URL` nor a saved sign-in says. */
export const DEFAULT_URL = 'http://127.0.0.1:3000';

/** A server URL as typed, checked and without trailing slashes; a usage error if it is none. */
export function normalizeUrl(value: string, from = '--url'): string {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new CliError(`${from} must be the server's URL, like ${DEFAULT_URL} (got "${value}")`, EXIT.usage);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new CliError(`${from} must be an http:// or https:// URL (got "${value}")`, EXIT.usage);
  }
  return `${parsed.origin}${parsed.pathname}`.replace(/\/+$/, '');
}

/** The server the user asked for: `--url`, else `HDMS_URL`, else none (undefined). */
export function requestedUrl(flag: string | undefined): string | undefined {
  if (flag !== undefined) return normalizeUrl(flag);
  const fromEnv = process.env.HDMS_URL;
  return fromEnv ? normalizeUrl(fromEnv, 'HDMS_URL') : undefined;
}

/** A signed-in connection to the server: its URL, token, typed client, and the REST helpers' options. */
export interface Session {
  url: string;
  token: string;
  client: HdmsClient;
  rest: RestOptions;
}

/** A session with `token` at `url`; subscriptions use the `eventsource` package's EventSource. */
export function sessionFor(url: string, token: string): Session {
  return { url, token, client: createClient({ url, token, EventSource }), rest: { url, token } };
}

/**
 * The session to run a command with: `HDMS_TOKEN` (a session or service token) at the requested
 * server, or the saved sign-in. Not signed in (exit code 3) when there is neither, or when the saved
 * sign-in is for another server than `--url` / `HDMS_URL` names.
 */
export async function signedInSession(flagUrl: string | undefined): Promise<Session> {
  const requested = requestedUrl(flagUrl);
  const token = process.env.HDMS_TOKEN;
  if (token) return sessionFor(requested ?? DEFAULT_URL, token);
  const saved = await loadCredentials();
  if (!saved) {
    const url = requested ?? DEFAULT_URL;
    throw new CliError(
      `Not signed in: run \`hdms login${requested ? ` --url ${url}` : ''}\` first (or set HDMS_TOKEN)`,
      EXIT.notSignedIn,
    );
  }
  if (requested && requested !== saved.url) {
    throw new CliError(
      `Not signed in to ${requested} (the saved sign-in is for ${saved.url}): run \`hdms login --url ${requested}\``,
      EXIT.notSignedIn,
    );
  }
  return sessionFor(saved.url, saved.token);
}
