import {
  createTRPCClient,
  httpBatchLink,
  httpSubscriptionLink,
  splitLink,
  type TRPCClient,
  TRPCClientError,
  type TRPCLink,
} from '@trpc/client';
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import { observable } from '@trpc/server/observable';
import superjson from 'superjson';
import type { AppRouter } from './router';

/** The HDMS API's type: every procedure with its input and output types. */
export type { AppRouter };

/** The error a call rejects with: `error.data?.code` is the tRPC code, `error.message` says why. */
export { TRPCClientError };

/** Inputs of every procedure, by path: `RouterInputs['doctors']['create']`. */
export type RouterInputs = inferRouterInputs<AppRouter>;

/** Outputs of every procedure, by path: `RouterOutputs['auth']['me']`. */
export type RouterOutputs = inferRouterOutputs<AppRouter>;

/** A typed HDMS client: `client.<router>.<procedure>.query()`, `.mutate()` or `.subscribe()`. */
export type HdmsClient = TRPCClient<AppRouter>;

/** Extra request headers: a fixed set, or a function called before every request. */
export type HeadersOption =
  | Record<string, string>
  | (() => Record<string, string> | Promise<Record<string, string>>);

/** A class that works like the standard `EventSource`, for runtimes without one. */
export type EventSourceConstructor = NonNullable<Parameters<typeof httpSubscriptionLink>[0]['EventSource']>;

/** How to reach the server and who to be. */
export interface ClientOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:3000`; the client appends `/trpc`. */
  url: string;
  /** A session or service token, sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** The `fetch` to use instead of the global one. */
  fetch?: typeof fetch;
  /** Extra headers for every request. */
  headers?: HeadersOption;
  /**
   * The `EventSource` subscriptions use where the runtime has none (Node 20): e.g. the
   * `eventsource` package's, which then sends the token and headers too. A browser's own
   * `EventSource` cannot send headers and relies on the session cookie that login sets.
   */
  EventSource?: EventSourceConstructor;
}

/**
 * The header the client sends the last change event's `position` in (servers with read replicas
 * then serve that request's reads from a replica that has the change, or from the primary).
 */
export const READ_AFTER_HEADER = 'X-HDMS-Read-After';

/** The `position` of a change event a subscription delivered (`{ id, data }` of a tracked event). */
function positionOf(value: unknown): string | null {
  const data = (value as { data?: { position?: unknown } } | null)?.data;
  return typeof data?.position === 'string' && data.position !== '' ? data.position : null;
}

/**
 * Remembers the `position` of every change event the client's subscriptions receive, and sends
 * the last one with every later query and mutation (`READ_AFTER_HEADER`): a ward board that reads
 * on an event sees the change the event announced, even on a server reading from replicas.
 */
function readAfterLink(seen: { position: string | null }): TRPCLink<AppRouter> {
  return () =>
    ({ op, next }) =>
      observable((observer) =>
        next(op).subscribe({
          next(value) {
            if (op.type === 'subscription') {
              const position = positionOf((value.result as { data?: unknown }).data);
              if (position) seen.position = position;
            }
            observer.next(value);
          },
          error: (error) => observer.error(error),
          complete: () => observer.complete(),
        }),
      );
}

/** Creates a typed client for the HDMS server at `options.url`. */
export function createClient(options: ClientOptions): HdmsClient {
  const url = `${options.url.replace(/\/+$/, '')}/trpc`;
  const seen: { position: string | null } = { position: null };
  const headers = async (): Promise<Record<string, string>> => {
    const extra = typeof options.headers === 'function' ? await options.headers() : options.headers;
    const sent: Record<string, string> = { ...extra };
    if (options.token) sent.authorization = `Bearer ${options.token}`;
    if (seen.position) sent[READ_AFTER_HEADER] = seen.position;
    return sent;
  };
  const fetchImpl = options.fetch;

  return createTRPCClient<AppRouter>({
    links: [
      readAfterLink(seen),
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({
          url,
          transformer: superjson,
          EventSource: options.EventSource,
          // `headers` is read by `event-source-polyfill`, `fetch` by the `eventsource` package.
          eventSourceOptions: async () => {
            const sent = await headers();
            return {
              withCredentials: true,
              headers: sent,
              fetch: (input: string | URL, init?: RequestInit) => {
                const merged = new Headers(init?.headers);
                for (const [name, value] of Object.entries(sent)) merged.set(name, value);
                return (fetchImpl ?? fetch)(input, { ...init, headers: merged });
              },
            };
          },
        }),
        false: httpBatchLink({ url, transformer: superjson, headers, fetch: fetchImpl }),
      }),
    ],
  });
}

/** A signed-in client, with the session it holds. */
export interface SignedIn {
  /** A client that sends the session token with every request. */
  client: HdmsClient;
  /** The session token; `client.auth.logout.mutate()` ends the session. */
  token: string;
  /** When the session expires if left unused; requests extend it, up to the server's maximum. */
  expiresAt: Date;
  /** The signed-in account. */
  user: RouterOutputs['auth']['loginMfa']['user'];
}

/**
 * What `signIn` throws for an account with MFA: the password was right, and the sign-in ends with
 * a code of the account's authenticator app (or a recovery code) before `expiresAt`:
 * `await error.complete(code)`, or `signInMfa(url, error.challenge, code)` (from another process,
 * say). The challenge is single-use; a wrong code may be tried again (each try counts as a failed
 * sign-in for the server's throttle).
 */
export class MfaRequired extends Error {
  override name = 'MfaRequired';

  constructor(
    /** The sign-in challenge `auth.login` answered, for `auth.loginMfa`. */
    readonly challenge: string,
    /** When the challenge expires (5 minutes after the password). */
    readonly expiresAt: Date,
    private readonly finish: (code: string) => Promise<SignedIn>,
  ) {
    super('This account signs in with MFA: complete the sign-in with a code (error.complete(code))');
  }

  /** Completes the sign-in with a 6-digit code or a recovery code. */
  complete(code: string): Promise<SignedIn> {
    return this.finish(code);
  }
}

/** The signed-in result of a session answer. */
function signedIn(
  url: string,
  session: RouterOutputs['auth']['loginMfa'],
  options: Omit<ClientOptions, 'url' | 'token'>,
): SignedIn {
  return {
    client: createClient({ ...options, url, token: session.token }),
    token: session.token,
    expiresAt: session.expiresAt,
    user: session.user,
  };
}

/**
 * Signs in with a username (or email) and password; the returned client holds the session. For an
 * account with MFA it throws `MfaRequired`, whose `complete(code)` finishes the sign-in.
 */
export async function signIn(
  url: string,
  username: string,
  password: string,
  options: Omit<ClientOptions, 'url' | 'token'> = {},
): Promise<SignedIn> {
  const answer = await createClient({ ...options, url }).auth.login.mutate({ username, password });
  if (answer.mfaRequired) {
    throw new MfaRequired(answer.challenge, answer.expiresAt, (code) =>
      signInMfa(url, answer.challenge, code, options),
    );
  }
  return signedIn(url, answer, options);
}

/**
 * The second step of signing in to an account with MFA: the challenge of `MfaRequired` and a
 * 6-digit code of the authenticator app or an unused recovery code. Answers as `signIn` does.
 */
export async function signInMfa(
  url: string,
  challenge: string,
  code: string,
  options: Omit<ClientOptions, 'url' | 'token'> = {},
): Promise<SignedIn> {
  const session = await createClient({ ...options, url }).auth.loginMfa.mutate({ challenge, code });
  return signedIn(url, session, options);
}

/** Whether `error` is an HDMS server's error answer (then `error.data?.code` is its tRPC code). */
export function isTRPCClientError(error: unknown): error is TRPCClientError<AppRouter> {
  return error instanceof TRPCClientError;
}
