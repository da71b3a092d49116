import { z } from 'zod';
import { sweepJobFiles } from '../importExportFiles';
import type { JobType } from '../types';

/** How often the recurring `exports.purge` runs, in minutes. */
export const EXPORTS_PURGE_MINUTES = 10;

/** An `exports.purge` job's result: how many job files it deleted. */
export interface ExportsPurgeResult {
  deleted: number;
}

/**
 * `exports.purge`: deletes the job files nobody needs any more (see `sweepJobFiles`): exports past
 * EXPORT_RETENTION_HOURS, uploads no import took, half-written exports, uploads of imports that
 * failed for good. Recurring, like `sessions.purge`: one is kept queued, due
 * `EXPORTS_PURGE_MINUTES` after it was enqueued (`everyMinutes`). A download also deletes an
 * expired export on the spot, so retention holds to the second whatever the sweep's pace.
 */
export const exportsPurgeJob: JobType<Record<string, never>, ExportsPurgeResult> = {
  name: 'exports.purge',
  payload: z.object({}).strict(),
  timeoutMs: 5 * 60_000,
  maxAttempts: 3,
  backoffMs: 30_000,
  async run(ctx) {
    let deleted = 0;
    for (;;) {
      const swept = await sweepJobFiles(ctx.db);
      deleted += swept;
      if (swept === 0 || ctx.signal.aborted) break;
    }
    return ctx.complete(async () => ({ deleted }));
  },
  adminResult: (result) => result,
  everyMinutes: () => EXPORTS_PURGE_MINUTES,
};
