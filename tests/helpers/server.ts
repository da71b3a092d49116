import type { Database, Role } from '@hdms/db';
import type { AppRouter } from '../../server/src/routers/_app';
import { createTRPCClient, httpLink, type TRPCClient, TRPCClientError } from '@trpc/client';
import superjson from 'superjson';
import { createAccount } from '../../server/src/auth/index';
import { loadConfig } from '../../server/src/env';
import { createLogger } from '../../server/src/logger';
import { type RunningServer, startServer } from '../../server/src/server';
import { freshDatabase, type TestDatabase } from './db';

/** The database kinds a run covers: SQLite, and MySQL when TEST_MYSQL_URL is set. */
export const DB_KINDS: ('sqlite' | 'mysql')[] = process.env.TEST_MYSQL_URL ? ['sqlite', 'mysql'] : ['sqlite'];

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
export async function startTestServer(
  env: Record<string, string> = {},
  kind?: 'sqlite' | 'mysql',
): Promise<TestServer> {
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

/** Sends a request and parses the JSON answer (if any). */
export async function http(
  url: string,
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
  const res = await fetch(url + path, { method, headers, body });
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

/** The tRPC error code of a failed call, or 'OK' if it did not fail. */
export async function trpcCode(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'OK';
  } catch (error) {
    if (error instanceof TRPCClientError) return String(error.data?.code);
    throw error;
  }
}

let accountCounter = 0;

/** Creates an account directly in the database (optionally linked) and signs it in over REST. */
export async function signedInUser(
  t: TestServer,
  role: Role,
  options: { username?: string; doctorId?: number; patientId?: number } = {},
): Promise<{ id: number; username: string; password: string; token: string }> {
  const username = options.username ?? `${role}_${++accountCounter}`;
  const password = `pw-${username}-secret`;
  const user = await createAccount(t.db, { username, email: `${username}@example.org`, password, role });
  if (options.doctorId !== undefined || options.patientId !== undefined) {
    await user.update({ doctorId: options.doctorId ?? null, patientId: options.patientId ?? null });
  }
  const res = await http(t.url, 'POST', '/login', { body: { username, password } });
  if (res.status !== 200)
    throw new Error(`login of ${username} failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { id: user.id, username, password, token: res.body.token };
}

/** Signs in the bootstrap admin and returns the token. */
export async function adminToken(t: TestServer): Promise<string> {
  const res = await http(t.url, 'POST', '/login', {
    body: { username: ADMIN.username, password: ADMIN.password },
  });
  if (res.status !== 200) throw new Error(`admin login failed: ${res.status}`);
  return res.body.token;
}
