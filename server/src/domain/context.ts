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
}
