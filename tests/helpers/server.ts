import type { Database, Role } from '@hdms/db';
import type { AppRouter } from '../../server/src/trpc/appRouter';
import { createTRPCClient, httpLink, type TRPCClient } from '@trpc/client';
import superjson from 'superjson';
import type { Hono } from 'hono';
import { createAccount } from '../../server/src/auth/index';
import type { AppEnv } from '../../server/src/context';
import type { DispatcherOptions } from '../../server/src/jobs/dispatcher';
import { loadConfig } from '../../server/src/env';
import { createLogger, type Logger } from '../../server/src/logger';
import { type RunningServer, startServer } from '../../server/src/server';
import { signIn } from './callers';
import { type DbKind, freshDatabase, type TestDatabase } from './db';

/** The database kinds live in `./db`; re-exported for suites that import them from here. */
export { DB_KINDS } from './db';

/** The admin every test server starts with. */
export const ADMIN = { username: 'admin', password: 'harbour-lantern-42', email: 'admin@example.org' };

/** A real server on a free port, with helpers to talk to it. */
export interface TestServer {
  url: string;
  db: Database;
  server: RunningServer;
  target: TestDatabase;
  /**
   * Stops the server (graceful, `graceMs`, 1 s by default) and drops its database if
   * `startTestServer` made it (a `target` passed in is left to its owner).
   */
  close(graceMs?: number): Promise<void>;
}

/** How `startTestServer` starts a server (all optional). */
export interface TestServerOptions {
  /** The kind of the fresh database (this test project's kind by default). */
  kind?: DbKind;
  /** Runs on this database instead of a fresh one: several servers on one target are several instances. */
  target?: TestDatabase;
  /** Registers the test-only job types (`JOBS_TEST_TYPES=1`) and runs two worker threads. */
  testJobs?: boolean;
  /** The job dispatcher's options, or false for a server that accepts jobs but runs none. */
  jobs?: DispatcherOptions | false;
  /** The time MFA codes and sign-in challenges are checked against (the real clock by default). */
  clock?: () => number;
  /** Where the server logs (by default nowhere: LOG_LEVEL=silent). */
  logger?: Logger;
}

/**
 * Starts the real server (migrations, admin bootstrap, HTTP on a free port) in this process, on a
 * fresh database of this test project's kind (or as `options` say), with `env` on top of quiet
 * test defaults. The one way tests start an in-process server.
 */
export async function startTestServer(
  env: Record<string, string> = {},
  options: TestServerOptions = {},
): Promise<TestServer> {
  const target = options.target ?? (await freshDatabase(options.kind));
  const owned = options.target === undefined;
  try {
    const config = loadConfig({
      PORT: '0',
      DATABASE_URL: target.url,
      ADMIN_USERNAME: ADMIN.username,
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
      LOG_LEVEL: 'silent',
      ...(options.testJobs ? { JOBS_TEST_TYPES: '1', WORKER_THREADS: '2' } : {}),
      ...env,
    });
    const server = await startServer(config, options.logger ?? createLogger(config.logLevel), {
      jobs: options.jobs,
      clock: options.clock,
    });
    return {
      url: server.url,
      db: server.services.db,
      server,
      target,
      async close(graceMs = 1000) {
        await server.close(graceMs);
        if (owned) await target.drop();
      },
    };
  } catch (error) {
    if (owned) await target.drop().catch(() => undefined);
    throw error;
  }
}

/** A parsed HTTP response. */
export interface JsonResponse {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON bodies
  body: any;
}

/**
 * Sends a request and parses the JSON answer (if any): over HTTP to a server's `url`, or in process
 * to a Hono app (`createApp(t.server.services)`, the same application without the socket).
 */
export async function http(
  target: string | Pick<Hono<AppEnv>, 'request'>,
  method: string,
  path: string,
  options: { body?: unknown; token?: string; headers?: Record<string, string>; raw?: string } = {},
): Promise<JsonResponse> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined = options.raw;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const init = { method, headers, body };
  const res =
    typeof target === 'string' ? await fetch(target + path, init) : await target.request(path, init);
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // keep the text
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** A typed tRPC client (superjson) for the server, optionally signed in with `token`. */
export function trpcClient(url: string, token?: string): TRPCClient<AppRouter> {
  return createTRPCClient<AppRouter>({
    links: [
      httpLink({
        url: `${url}/trpc`,
        transformer: superjson,
        headers: () => (token ? { authorization: `Bearer ${token}` } : {}),
      }),
    ],
  });
}

let accountCounter = 0;

/**
 * Creates an account with the server's `createAccount` (optionally linked to a record) and signs
 * it in through the `auth.login` procedure: a real session, whose token works over HTTP too.
 */
export async function signedInUser(
  t: TestServer,
  role: Role,
  options: { username?: string; doctorId?: number; patientId?: number } = {},
): Promise<{ id: number; username: string; password: string; token: string }> {
  const username = options.username ?? `${role}_${++accountCounter}`;
  const password = `pw-${username}-secret`;
  const user = await createAccount(t.db, { username, email: `${username}@example.org`, password, role });
  if (options.doctorId !== undefined || options.patientId !== undefined) {
    await t.db.models.User.update(
      { doctorId: options.doctorId ?? null, patientId: options.patientId ?? null },
      { where: { id: user.id } },
    );
  }
  return { id: user.id, username, password, token: await signIn(t, username, password) };
}

/** Signs in the bootstrap admin (through `auth.login`) and returns the session token. */
export function adminToken(t: TestServer): Promise<string> {
  return signIn(t, ADMIN.username, ADMIN.password);
}
