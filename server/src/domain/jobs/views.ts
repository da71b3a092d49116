import type { JobStatus, jobsRepo } from '@hdms/db';
import { mayReadJobResult } from '../access/policy';
import type { Actor } from '../actor';
import type { JobRegistry } from '../../jobs/registry';

/** The job columns a view reads: never the payload (it may be large and hold clinical values). */
export const JOB_VIEW_FIELDS: (keyof jobsRepo.JobRow)[] = [
  'id',
  'type',
  'status',
  'attempts',
  'maxAttempts',
  'runAfter',
  'patientId',
  'progressDone',
  'progressTotal',
  'result',
  'error',
  'createdByType',
  'createdById',
  'createdByName',
  'createdAt',
  'updatedAt',
  'startedAt',
  'finishedAt',
];

/**
 * A background job as clients see it. `result` is present once the job succeeded, and for a
 * cancelled job whose type reports what it did before (an import's committed batches) (for an admin
 * looking at someone else's job, only as its type's admin view: never clinical content); `error`
 * is the last failure's message (while retries remain, and once failed for good). The payload is
 * never shown.
 */
export interface JobView {
  id: number;
  type: string;
  status: JobStatus;
  /** Runs started so far (a run interrupted by a shutdown is not counted). */
  attempts: number;
  maxAttempts: number;
  /** Work done of the total, as the job last reported it; null when it reports none. */
  progress: { done: number; total: number } | null;
  result?: unknown;
  error?: string;
  patientId: number | null;
  createdBy: { type: string; id: number; name: string };
  createdAt: Date;
  updatedAt: Date;
  /** When the job is (or was) due: its retry time while it waits for one. */
  runAfter: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

/** Maps a job row to the view this actor may see, with an explicit field list. */
export function jobView(actor: Actor, job: jobsRepo.JobRow, types: JobRegistry): JobView {
  const view: JobView = {
    id: job.id,
    type: job.type,
    status: job.status,
    attempts: job.attempts,
    maxAttempts: job.maxAttempts,
    progress:
      job.progressTotal === null || job.progressTotal === undefined
        ? null
        : { done: job.progressDone ?? 0, total: job.progressTotal },
    patientId: job.patientId ?? null,
    createdBy: { type: job.createdByType, id: job.createdById, name: job.createdByName },
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    runAfter: job.runAfter,
    startedAt: job.startedAt ?? null,
    finishedAt: job.finishedAt ?? null,
  };
  const hasResult = job.status === 'succeeded' || job.status === 'cancelled';
  if (hasResult && job.result !== null && job.result !== undefined) {
    if (mayReadJobResult(actor, job)) view.result = job.result;
    else {
      const adminResult = types.get(job.type)?.adminResult;
      if (adminResult) view.result = adminResult(job.result);
    }
  }
  if (job.error) view.error = job.error;
  return view;
}
