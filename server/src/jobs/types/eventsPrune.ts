import { Op } from '@hdms/db';
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
    const { ChangeEvent, ChangeEventLog } = ctx.db.models;
    const cutoff = new Date(Date.now() - ctx.config.events.retentionHours * 3_600_000);
    // Ids commit in order, so everything up to the newest old event is older than the cutoff.
    const newestOld = (await ChangeEvent.max('id', { where: { createdAt: { [Op.lt]: cutoff } } })) as
      | number
      | null;
    let deleted = 0;
    let through = 0;
    while (newestOld !== null && !ctx.signal.aborted) {
      const batch = await ChangeEvent.findAll({
        attributes: ['id'],
        where: { id: { [Op.lte]: newestOld } },
        order: [['id', 'ASC']],
        limit: PRUNE_BATCH,
        raw: true,
      });
      if (batch.length === 0) break;
      const last = batch[batch.length - 1]!.id;
      await ctx.db.transaction(async (tx) => {
        await ChangeEventLog.update(
          { prunedThrough: last },
          { where: { id: 1, prunedThrough: { [Op.lt]: last } }, transaction: tx },
        );
        deleted += await ChangeEvent.destroy({ where: { id: { [Op.lte]: last } }, transaction: tx });
      });
      through = last;
    }
    return ctx.complete(async () => ({ deleted, prunedThrough: through }));
  },
  adminResult: (result) => result,
  everyMinutes: (config) => config.events.pruneMinutes,
};
