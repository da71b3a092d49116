import type { AddressInfo } from 'node:net';
import {
  createDatabase,
  type Database,
  DatabaseOpenError,
  migrateToLatest,
  parseDatabaseUrl,
  positionsRepo,
  type ReadReplicas,
  redactUrl,
} from '@hdms/db';
import { type HttpBindings, serve } from '@hono/node-server';
import { createApp } from './http/app';
import { bootstrapAdmin, type BootstrapResult, preparePasswordHashing, SessionManager } from './auth/index';
import type { AppServices } from './context';
import { type Config, ConfigError, redactSecrets } from './env';
import { EventFeed } from './events/feed';
import { adoptEventStream } from './events/stream';
import { type DispatcherOptions, JobDispatcher } from './jobs/dispatcher';
import type { Logger } from './logger';
import { openReplicas, recordPosition } from './replicas';

/** A listening server and the means to stop it. */
export interface RunningServer {
  url: string;
  port: number;
  services: AppServices;
  bootstrap: BootstrapResult;
  /** The background job dispatcher of this process (null when started with `jobs: false`). */
  jobs: JobDispatcher | null;
  /**
   * Stops accepting requests and claiming jobs, lets in-flight requests and running jobs finish
   * (up to `graceMs` each, at the same time; unfinished jobs go back to the queue), closes the
   * worker threads, then the database.
   */
  close(graceMs?: number): Promise<void>;
}

/** What `announce` is told once the server listens. */
export interface Announcement {
  url: string;
  port: number;
  bootstrap: BootstrapResult;
}

/** Options of `startServer`. */
export interface StartOptions {
  /** An open database to use instead of opening `config.databaseUrl`. */
  database?: Database;
  /**
   * Shows the running server to the operator (the start-up banner of `npm start`). Called once
   * the server listens, inside the admin bootstrap's transaction: a generated admin account is
   * committed only after this has returned, so a failed start never swallows its password.
   */
  announce?: (announcement: Announcement) => void | Promise<void>;
  /**
   * Background jobs: options of this process's dispatcher (e.g. a compiled worker file), or
   * `false` for a server that accepts jobs but runs none (another instance does).
   */
  jobs?: DispatcherOptions | false;
  /** The time MFA codes and challenges are checked against (tests set one); `Date.now` by default. */
  clock?: () => number;
}

/**
 * A start-up step that failed. `message` is one line that names the setting involved (PORT,
 * HOST, DATABASE_URL with its password redacted, the SQLite file) and holds no secret.
 */
export class StartupError extends Error {
  override name = 'StartupError';
}

/**
 * Opens the database, applies pending migrations, starts listening, then bootstraps the admin
 * (see `StartOptions.announce`); requests received meanwhile wait for the bootstrap to commit.
 * A failure at any step is a `StartupError`, and nothing is left open or half created.
 */
export async function startServer(
  config: Config,
  logger: Logger,
  options: StartOptions = {},
): Promise<RunningServer> {
  const db = options.database ?? (await openDatabase(config));
  let settle: (ok: boolean) => void = () => undefined;
  const bootstrapped = new Promise<boolean>((resolve) => {
    settle = resolve;
  });
  let server: ReturnType<typeof serve>;
  let services: AppServices;
  let replicas: ReadReplicas | null = null;
  try {
    const applied = await migrateDatabase(db, config);
    if (applied.length) {
      logger.info({ migrations: applied }, 'migrations applied');
      // Read replicas: no read runs on a replica before it has the new schema.
      await recordPosition(db, positionsRepo.SCOPE_OWNER, logger);
    }
    // After the migrations, which (like CREATE DATABASE) never touch a read URL.
    replicas = await openReplicas(db, config, logger);
    const sessions = new SessionManager(db, {
      idleMinutes: config.sessionIdleMinutes,
      maxHours: config.sessionMaxHours,
      secureCookie: config.production,
      positions: replicas !== null,
    });
    await sessions.purgeExpired().catch((error: unknown) => {
      throw databaseError(config, error, 'removing expired sessions failed');
    });
    await preparePasswordHashing(config.passwordHashing);
    const events = new EventFeed(db, logger);
    events.start();
    services = { db, config, logger, sessions, events, clock: options.clock ?? Date.now, replicas };
    const app = createApp(services);
    // Requests wait for the admin bootstrap, so that whoever read the banner finds the account.
    server = await listen((request, env, executionCtx) => {
      return bootstrapped.then(async (ok) =>
        ok
          ? adoptEventStream(
              await app.fetch(request, env, executionCtx),
              (env as Partial<HttpBindings> | undefined)?.outgoing,
            )
          : new Response(null, { status: 503 }),
      );
    }, config);
  } catch (error) {
    await replicas?.close();
    if (!options.database) await db.close().catch(() => undefined);
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host}:${port}`;

  let jobs: JobDispatcher | null = null;
  let closing: Promise<void> | undefined;
  const close = (graceMs = 10_000) => {
    closing ??= (async () => {
      const jobsStopped = jobs?.stop(graceMs);
      // Subscriptions end at once (their clients reconnect, elsewhere or after the restart).
      const eventsStopped = services.events.stop();
      await new Promise<void>((resolve) => {
        const http = server as typeof server & { closeIdleConnections(): void; closeAllConnections(): void };
        // Kept-alive connections turn idle as their last response ends: close them as they do.
        const sweep = setInterval(() => http.closeIdleConnections(), 50);
        const deadline = setTimeout(() => http.closeAllConnections(), graceMs);
        server.close(() => {
          clearInterval(sweep);
          clearTimeout(deadline);
          resolve();
        });
        http.closeIdleConnections();
      });
      await jobsStopped;
      await eventsStopped;
      await replicas?.close();
      await db.close();
    })();
    return closing;
  };

  let bootstrap: BootstrapResult;
  try {
    bootstrap = await bootstrapAdmin(db, config, logger, (result) =>
      options.announce?.({ url, port, bootstrap: result }),
    );
  } catch (error) {
    settle(false);
    await close(0).catch(() => undefined);
    // A setting the bootstrap refused (ADMIN_PASSWORD against the password policy) says so itself.
    const text = error instanceof ConfigError ? error.message : `admin bootstrap: ${errorText(error)}`;
    throw new StartupError(text, { cause: error });
  }
  settle(true);
  if (options.jobs !== false) {
    try {
      jobs = await JobDispatcher.create(db, config, logger, options.jobs);
    } catch (error) {
      await close(0).catch(() => undefined);
      throw new StartupError(`background jobs: ${errorText(error)}`, { cause: error });
    }
    jobs.start();
    // Jobs that other instances queue reach this dispatcher through the one poll of the event
    // feed (the follower ends with the feed, at close).
    const dispatcher = jobs;
    services.events.follow('job.queued', () => dispatcher.wake());
  }
  return { url, port, services, bootstrap, jobs, close };
}

/**
 * Which database DATABASE_URL names, for the banner: `SQLite file <absolute path>` (or `SQLite in
 * memory`), or `MySQL database <name> on <host>:<port>`; never a user name or a password.
 */
export function describeDatabase(databaseUrl: string): string {
  const target = parseDatabaseUrl(databaseUrl);
  if (target.dialect === 'sqlite') {
    return target.storage === ':memory:'
      ? 'SQLite in memory (nothing is kept after the server stops)'
      : `SQLite file ${target.storage}`;
  }
  return `MySQL database ${target.database} on ${target.url.hostname}:${target.url.port || '3306'}`;
}

/** Opens the configured database; a failure is a `StartupError` naming DATABASE_URL. */
export async function openDatabase(config: Config): Promise<Database> {
  try {
    return await createDatabase(config.databaseUrl, {
      queryTimeoutMs: config.databaseTimeoutMs,
      recordPositions: config.readReplicas.urls.length > 0,
    });
  } catch (error) {
    throw databaseError(config, error);
  }
}

/** Applies pending migrations (names of those applied); a failure names DATABASE_URL. */
export async function migrateDatabase(db: Database, config: Config): Promise<string[]> {
  try {
    return await migrateToLatest(db);
  } catch (error) {
    throw databaseError(config, error, 'applying the migrations failed');
  }
}

/**
 * A database failure as a `StartupError`: `DATABASE_URL <url, password as ***>: [doing: ]<cause>`,
 * where a SQLite cause names the file.
 */
export function databaseError(config: Config, error: unknown, doing?: string): StartupError {
  const cause = databaseProblem(config, error);
  return new StartupError(
    `DATABASE_URL ${redactUrl(config.databaseUrl)}: ${doing ? `${doing}: ` : ''}${cause}`,
    { cause: error },
  );
}

/**
 * The one line to print for a failed start (or a failed command): a `StartupError`'s message,
 * else the first line of the error's message; never a stack, never a configured secret.
 */
export function describeStartupFailure(error: unknown, config?: Config): string {
  const text = error instanceof StartupError ? error.message : errorText(error);
  return config ? redactSecrets(text, config) : redactUrl(text);
}

/** Starts the HTTP server; a failure is a `StartupError` naming PORT and HOST. */
async function listen(
  fetch: ReturnType<typeof createApp>['fetch'],
  config: Config,
): Promise<ReturnType<typeof serve>> {
  try {
    return await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
      const s = serve({ fetch, port: config.port, hostname: config.host }, () => resolve(s));
      s.once('error', reject);
    });
  } catch (error) {
    throw new StartupError(listenProblem(config, error), { cause: error });
  }
}

/** Why the server could not listen, naming PORT and HOST. */
function listenProblem(config: Config, error: unknown): string {
  const where = `PORT ${config.port} on HOST ${config.host}`;
  const code = errorCode(error);
  switch (code) {
    case 'EADDRINUSE':
      return `${where} is already in use (EADDRINUSE)`;
    case 'EACCES':
      return `${where}: permission denied (EACCES; ports below 1024 need privileges)`;
    case 'EADDRNOTAVAIL':
      return `HOST ${config.host} is not an address of this machine (EADDRNOTAVAIL)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `HOST ${config.host} cannot be resolved (${code})`;
    default:
      return `${where}: ${errorText(error)}`;
  }
}

/** What went wrong with the database, in words; a SQLite problem names the file. */
function databaseProblem(config: Config, error: unknown): string {
  const target = parseDatabaseUrl(config.databaseUrl);
  if (error instanceof DatabaseOpenError) {
    // Its message names the SQLite file, or the MySQL server that the line names already.
    return target.dialect === 'sqlite'
      ? errorText(error)
      : `cannot connect to MySQL: ${errorText(error.cause ?? error)}`;
  }
  const code = errorCode(error);
  const text = errorText(error);
  if (target.dialect !== 'sqlite') return text;
  const file = target.storage;
  switch (code) {
    case 'SQLITE_READONLY':
      return `the SQLite file ${file} is read-only (SQLITE_READONLY)`;
    case 'SQLITE_BUSY':
      return `the SQLite file ${file} is locked by another process (SQLITE_BUSY)`;
    case 'SQLITE_CORRUPT':
      return `the SQLite file ${file} is corrupt (SQLITE_CORRUPT)`;
    case 'SQLITE_FULL':
      return `the disk holding the SQLite file ${file} is full (SQLITE_FULL)`;
  }
  return `SQLite file ${file}: ${text}`;
}

/** The error's code (Node's `code`, or that of the driver error Sequelize wraps). */
function errorCode(error: unknown): string | undefined {
  const e = error as { code?: unknown; parent?: { code?: unknown }; original?: { code?: unknown } } | null;
  const code = e?.code ?? e?.parent?.code ?? e?.original?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The first line of the error's message (or its code when the message is empty); never a stack. */
function errorText(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const line = message
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l !== '');
  if (line) return line;
  return errorCode(error) ?? (error instanceof Error ? error.name : 'unknown error');
}
