/**
 * Counts the SQL statements HDMS sends for one request: HDMS's own app (`createApp`) in this
 * process on a database opened with a Sequelize `logging` hook, called with `app.request()` (no
 * socket, no background job dispatcher, no event feed polling), so every statement logged during
 * a call belongs to it. Each call runs a few times; the run with the fewest statements is kept
 * (a session's once-a-minute idle-deadline write would otherwise count).
 */
import { createDatabase } from '@hdms/db';
import { createApp } from '../../../server/src/http/app';
import { SessionManager } from '../../../server/src/auth/index';
import { loadConfig } from '../../../server/src/env';
import { EventFeed } from '../../../server/src/events/feed';
import { createLogger } from '../../../server/src/logger';

/** One HTTP call to count. */
export interface CountedCall {
  name: string;
  method: 'GET' | 'POST';
  path: string;
  token: string;
  /** A JSON body (sent as is), or a function making a fresh one per run. */
  body?: () => unknown;
}

/** The statements one call sent, in order (Sequelize's `Executing (…): ` prefix removed). */
export type Statements = Record<string, string[]>;

/** Runs each call `runs` times against HDMS in-process on `databaseUrl` and returns its statements. */
export async function hdmsStatements(
  databaseUrl: string,
  calls: CountedCall[],
  runs = 3,
): Promise<Statements> {
  let log: string[] | null = null;
  const db = await createDatabase(databaseUrl, {
    logging: (sql) => {
      log?.push(sql.replace(/^Executing \([^)]*\): /, ''));
    },
  });
  const config = loadConfig({ DATABASE_URL: databaseUrl, LOG_LEVEL: 'silent', NODE_ENV: 'production' });
  const logger = createLogger('silent');
  const sessions = new SessionManager(db, {
    idleMinutes: config.sessionIdleMinutes,
    maxHours: config.sessionMaxHours,
    secureCookie: config.production,
  });
  const app = createApp({ db, config, logger, sessions, events: new EventFeed(db, logger), clock: Date.now });
  const result: Statements = {};
  try {
    for (const call of calls) {
      let best: string[] | null = null;
      for (let run = 0; run < runs; run++) {
        const body = call.body?.();
        const seen: string[] = [];
        log = seen;
        const response = await app.request(call.path, {
          method: call.method,
          headers: {
            authorization: `Bearer ${call.token}`,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        await response.arrayBuffer();
        log = null;
        if (response.status >= 300) throw new Error(`${call.name}: HTTP ${response.status}`);
        if (!best || seen.length < best.length) best = seen;
      }
      result[call.name] = best ?? [];
    }
  } finally {
    await db.close();
  }
  return result;
}
