import type { Database } from '@hdms/db';
import type { Config } from '../env';
import type { Logger } from '../logger';
import type { AccessScope } from './access/scope';
import type { Actor } from './actor';

/**
 * What every domain command and query runs with: who acts and what they reach (`scope`, computed
 * once by `scopeOf`), the database, and where the call came from (for audit rows). Routers hand
 * over their procedure context (a superset); job types build one for the job's owner.
 */
export interface DomainContext<A extends Actor = Actor> {
  db: Database;
  config: Config;
  logger: Logger;
  actor: A;
  scope: AccessScope;
  requestId: string;
  ip: string | null;
  /** The procedure (or job type) acting, as audit rows name it. */
  procedure: string;
  /**
   * Where list and get reads go (a read replica or the primary, chosen once per request:
   * `server/src/replicas.ts`); absent: `db`. Only reads outside a transaction that need no fresh
   * scope fact use it (`readDatabase`).
   */
  reads?: { database(): Promise<Database> };
}

/**
 * The database a list or get read of `ctx` runs on: a read replica that has the caller's writes
 * (and the last assignment change), or the primary. Never for sessions, scope facts, job claims,
 * the event feed or anything in a transaction: those read `ctx.db`.
 */
export function readDatabase(ctx: Pick<DomainContext, 'db' | 'reads'>): Promise<Database> {
  return ctx.reads ? ctx.reads.database() : Promise.resolve(ctx.db);
}
