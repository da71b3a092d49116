import type { Database, Role } from '@hdms/db';
import type { AppRouter } from '../../server/src/trpc/appRouter';
import { createTRPCClient, httpLink, type TRPCClient } from '@trpc/client';
import superjson from 'superjson';
import type { Hono } from 'hono';
import { createAccount } from '../../server/src/auth/index';
import type { AppEnv } from '../../server/src/context';
import { loadConfig } from '../../server/src/env';
import { createLogger } from '../../server/src/logger';
import { type RunningServer, startServer } from '../../server/src/server';
import { signIn } from './callers';
import { type DbKind, freshDatabase, type TestDatabase } from './db';

/** The database kinds live in `./db`; re-exported for suites that import them from here. */
export { DB_KINDS } from './db';

/** The admin every test server starts with. */
export const ADMIN = { username: 'admin', password: 'admin-password-1', email: 'admin@example.org' };

/** A real server on a free port over a fresh database, with helpers to talk to it. */
export interface TestServer {
  url: string;
  db: Database;
  server: RunningServer;
  target: TestDatabase;
  close(): Promise<void>;
}

/**
 * Starts the real server (migrations, admin bootstrap, HTTP on a free port) on a fresh database
 * of this test project's kind, or of `kind`.
 */
export async function startTestServer(env: Record<string, string> = {}, kind?: DbKind): Promise<TestServer> {
  const target = await freshDatabase(kind);
  const config = loadConfig({
    PORT: '0',
    DATABASE_URL: target.url,
    ADMIN_USERNAME: ADMIN.username,
    ADMIN_EMAIL: ADMIN.email,
    ADMIN_PASSWORD: ADMIN.password,
    LOG_LEVEL: 'silent',
    ...env,
  });
  const server = await startServer(config, createLogger(config.logLevel));
  return {
    url: server.url,
    db: server.services.db,
    server,
    target,
    async close() {
      await server.close(1000);
      await target.drop();
    },
  };
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
