import {
  type Database,
  isPositionText,
  latestOf,
  positionsRepo,
  type ReadChoice,
  ReadReplicas,
  redactUrl,
} from '@hdms/db';
import type { Actor } from './domain/actor';
import type { Config } from './env';
import type { Logger } from './logger';

/**
 * Read replicas as requests use them (README "Read replicas"). A request's list and get reads go
 * where `ReadReplicas.choose` sends them, chosen once, on the request's first such read, for the
 * position the request needs: the account's last commit and the last assignment change (read
 * with the session), and the event position the client sent in `READ_AFTER_HEADER`. A signed-in
 * account's commits are followed by one upsert of its position (`positionsRepo.record`), so its
 * next request, on any instance, reads them. Everything else stays on the primary.
 */

/** The request header a client sends the last event position it saw in (the SDK does). */
export const READ_AFTER_HEADER = 'x-hdms-read-after';

/** Opens the configured replicas (null without any); a replica that stops answering is logged and skipped. */
export function openReplicas(db: Database, config: Config, logger: Logger): Promise<ReadReplicas | null> {
  return ReadReplicas.open(db, config.readReplicas.urls, {
    maxLagMs: config.readReplicas.maxLagMs,
    onDown: (target, error) =>
      logger.warn(
        { replica: target, err: redactUrl(error instanceof Error ? error.message : String(error)) },
        'read replica not answering: skipped for 5 s, its reads go elsewhere',
      ),
  });
}

/** The event position a client sent (`READ_AFTER_HEADER`), if it reads as one; anything else is ignored. */
export function sentPosition(header: string | undefined): string | null {
  return header && isPositionText(header) ? header : null;
}

/** What a request's reads are served by, chosen on the first read (`ReadSource.choice`). */
export interface ReadSource {
  /** The database for this request's list and get reads (a replica, or the primary). */
  database(): Promise<Database>;
  /** The choice made, once `database()` was called. */
  readonly choice: ReadChoice | null;
}

/**
 * The read source of one request: with no replicas, the primary at once; else one choice, made on
 * the first read, for the latest of `needs`.
 */
export function readSourceOf(
  db: Database,
  replicas: ReadReplicas | null | undefined,
  needs: readonly (string | null | undefined)[],
): ReadSource {
  if (!replicas) return { database: () => Promise.resolve(db), choice: null };
  let pending: Promise<Database> | null = null;
  const source: { choice: ReadChoice | null; database(): Promise<Database> } = {
    choice: null,
    database() {
      pending ??= replicas.choose(latestOf(needs)).then((choice) => {
        source.choice = choice;
        return choice.db;
      });
      return pending;
    },
  };
  return source;
}

/**
 * `db` for a signed-in account's request while replicas are on: each transaction that commits is
 * followed by the account's position (`positionsRepo.record`), so that its next reads, on any
 * instance, see the commit. A failure to record is logged, never the request's (the commit
 * stands; the account may read the replica's older state until its next write).
 */
export function recordingPositions(db: Database, actor: Actor | null, logger: Logger): Database {
  if (actor?.type !== 'user') return db;
  return {
    ...db,
    async transaction(work, options) {
      const value = await db.transaction(work, options);
      await recordPosition(db, actor.id, logger);
      return value;
    },
  };
}

/** Stores the primary's position under `ownerId` (an account, or `positionsRepo.SCOPE_OWNER`); failures are logged. */
export async function recordPosition(db: Database, ownerId: number, logger: Logger): Promise<void> {
  try {
    await positionsRepo.record(db, ownerId);
  } catch (error) {
    logger.warn(
      { owner: ownerId, err: error instanceof Error ? error.message : String(error) },
      'could not record the commit position (read-your-writes) after a commit',
    );
  }
}
