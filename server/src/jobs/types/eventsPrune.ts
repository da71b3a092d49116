import { eventsRepo } from '@hdms/db';
import { z } from 'zod';
import type { JobType } from '../types';

/** Events deleted per transaction. */
const PRUNE_BATCH = 5_000;

/** An `events.prune` job's result: how many events it deleted, and through which id. */
export interface EventsPruneResult {
  deleted: number;
  prunedThrough: number;
}

/**
 * `events.prune`: deletes change events older than EVENT_RETENTION_HOURS, oldest first, in
 * batches, each in one transaction with the `pruned_through` mark it raises: a subscription
 * resuming from an id at or below the mark is told to refetch (PRECONDITION_FAILED), never
 * silently given a gap. Recurring: one is kept queued, due EVENT_PRUNE_MINUTES after it was
 * enqueued.
 */
export const eventsPruneJob: JobType<Record<string, never>, EventsPruneResult> = {
  name: 'events.prune',
  payload: z.object({}).strict(),
  timeoutMs: 10 * 60_000,
  maxAttempts: 3,
  backoffMs: 30_000,
  async run(ctx) {
    const { db } = ctx;
    const cutoff = new Date(Date.now() - ctx.config.events.retentionHours * 3_600_000);
    // Ids commit in order, so everything up to the newest old event is older than the cutoff.
    const newestOld = await eventsRepo.newestIdBefore(db, cutoff);
    let deleted = 0;
    let through = 0;
    while (newestOld !== null && !ctx.signal.aborted) {
      const batch = await eventsRepo.oldestIds(db, newestOld, PRUNE_BATCH);
      if (batch.length === 0) break;
      const last = batch[batch.length - 1]!;
      await db.transaction(async (tx) => {
        deleted += await eventsRepo.pruneThrough(db, last, { tx });
      });
      through = last;
    }
    return ctx.complete(async () => ({ deleted, prunedThrough: through }));
  },
  adminResult: (result) => result,
  everyMinutes: (config) => config.events.pruneMinutes,
};
