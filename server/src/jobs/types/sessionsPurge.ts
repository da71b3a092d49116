import { mfaRepo, sessionsRepo } from '@hdms/db';
import { z } from 'zod';
import type { JobType } from '../types';

/** A `sessions.purge` job's result: how many sessions, and how many expired MFA sign-in challenges, it deleted. */
export interface SessionsPurgeResult {
  deleted: number;
  challengesDeleted: number;
}

/**
 * `sessions.purge`: deletes sessions past their idle deadline or their absolute lifetime
 * (`SESSION_MAX_HOURS` after sign-in), and MFA sign-in challenges past their expiry. Recurring: the dispatcher keeps one queued, due
 * `SESSION_PURGE_MINUTES` after it was enqueued (`everyMinutes`, see `JobDispatcher.ensureRecurring`).
 */
export const sessionsPurgeJob: JobType<Record<string, never>, SessionsPurgeResult> = {
  name: 'sessions.purge',
  payload: z.object({}).strict(),
  timeoutMs: 5 * 60_000,
  maxAttempts: 3,
  backoffMs: 30_000,
  run(ctx) {
    return ctx.complete(async (tx) => {
      const now = Date.now();
      const deleted = await sessionsRepo.deleteExpired(
        ctx.db,
        { now: new Date(now), createdBefore: new Date(now - ctx.config.sessionMaxHours * 3_600_000) },
        { tx },
      );
      const challengesDeleted = await mfaRepo.deleteExpiredChallenges(ctx.db, new Date(now), { tx });
      return { deleted, challengesDeleted };
    });
  },
  adminResult: (result) => result,
  everyMinutes: (config) => config.jobs.sessionPurgeMinutes,
};
