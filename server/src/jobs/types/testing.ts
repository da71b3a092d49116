import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { recordAudit } from '../../domain/audit/record';
import type { JobType } from '../types';

/**
 * Job types for the test suites only, registered when `JOBS_TEST_TYPES=1` (never in production
 * use). Their effect is one audit row (procedure = the type's name, request id = the job's), so a
 * test counts how often a job took effect.
 */

/** `test.sleep`: waits `ms` (ignoring its signal, like work that cannot stop), then takes effect. */
export const testSleepJob: JobType<{ ms: number }, { slept: number }> = {
  name: 'test.sleep',
  payload: z.object({ ms: z.number().int().min(0).max(600_000) }).strict(),
  timeoutMs: 60_000,
  maxAttempts: 3,
  backoffMs: 100,
  async run(ctx) {
    await sleep(ctx.job.payload.ms);
    return ctx.complete(async (tx) => {
      await recordAudit(
        { db: ctx.db, actor: null, requestId: ctx.job.requestId, ip: null, procedure: 'test.sleep' },
        { action: 'create' },
        tx,
      );
      return { slept: ctx.job.payload.ms };
    });
  },
  adminResult: (result) => result,
};

/** `test.fail`: throws an unexpected error on its first `failures` attempts, then takes effect. */
export const testFailJob: JobType<{ failures: number }, { attempt: number }> = {
  name: 'test.fail',
  payload: z.object({ failures: z.number().int().min(0) }).strict(),
  timeoutMs: 10_000,
  maxAttempts: 3,
  backoffMs: 200,
  async run(ctx) {
    if (ctx.job.attempt <= ctx.job.payload.failures) {
      throw new Error(`test.fail: attempt ${ctx.job.attempt} fails as asked (SELECT secret FROM nowhere)`);
    }
    return ctx.complete(async (tx) => {
      await recordAudit(
        { db: ctx.db, actor: null, requestId: ctx.job.requestId, ip: null, procedure: 'test.fail' },
        { action: 'create' },
        tx,
      );
      return { attempt: ctx.job.attempt };
    });
  },
};

/** `test.hang`: never finishes and ignores its signal; its time limit is 1 s. */
export const testHangJob: JobType<Record<string, never>, never> = {
  name: 'test.hang',
  payload: z.object({}).strict(),
  timeoutMs: 1_000,
  maxAttempts: 2,
  backoffMs: 50,
  run() {
    return new Promise<never>(() => {
      // Holds the worker until the dispatcher terminates it.
      setInterval(() => undefined, 1_000);
    });
  },
};

/** Every test-only type. */
export const TEST_JOB_TYPES = [testSleepJob, testFailJob, testHangJob];
