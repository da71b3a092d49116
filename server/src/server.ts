import type { AddressInfo } from 'node:net';
import { createDatabase, type Database, migrateToLatest } from '@hdms/db';
import { serve } from '@hono/node-server';
import { createApp } from './app';
import { bootstrapAdmin, type BootstrapResult, SessionManager } from './auth/index';
import type { AppServices } from './context';
import type { Config } from './env';
import type { Logger } from './logger';

/** A listening server and the means to stop it. */
export interface RunningServer {
  url: string;
  port: number;
  services: AppServices;
  bootstrap: BootstrapResult;
  /** Stops accepting, lets in-flight requests finish (up to `graceMs`), then closes the database. */
  close(graceMs?: number): Promise<void>;
}

/** Opens the database, applies pending migrations, bootstraps the admin and starts listening. */
export async function startServer(
  config: Config,
  logger: Logger,
  database?: Database,
): Promise<RunningServer> {
  const db = database ?? (await createDatabase(config.databaseUrl));
  const applied = await migrateToLatest(db.sequelize);
  if (applied.length) logger.info({ migrations: applied }, 'migrations applied');
  const sessions = new SessionManager(db, {
    idleMinutes: config.sessionIdleMinutes,
    maxHours: config.sessionMaxHours,
    secureCookie: config.production,
  });
  await sessions.purgeExpired();
  const services: AppServices = { db, config, logger, sessions };
  const bootstrap = await bootstrapAdmin(db, config, logger);
  const app = createApp(services);

  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () => resolve(s));
    s.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;

  let closing: Promise<void> | undefined;
  const close = (graceMs = 10_000) => {
    closing ??= (async () => {
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
      await db.close();
    })();
    return closing;
  };

  return { url: `http://${host}:${port}`, port, services, bootstrap, close };
}
