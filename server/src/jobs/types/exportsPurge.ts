import { jobsRepo } from '@hdms/db';
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
 * failed for good once IMPORT_UPLOAD_RETENTION_HOURS have passed (the payloads of jobs failed
 * that long ago are cleared too: they can no longer be retried). Recurring, like `sessions.purge`: one is kept queued, due
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
    // A failed job keeps its payload for a retry as long as an import keeps its upload.
    const retentionMs = ctx.config.jobs.uploadRetentionHours * 3_600_000;
    await jobsRepo.clearFailedPayloads(ctx.db, new Date(Date.now() - retentionMs));
    return ctx.complete(async () => ({ deleted }));
  },
  adminResult: (result) => result,
  everyMinutes: () => EXPORTS_PURGE_MINUTES,
};
