import { cancelJob, retryJob } from '../domain/jobs/commands';
import { getJob, listJobs } from '../domain/jobs/queries';
import { jobCommandInput, jobGetInput, jobListInput } from '../domain/jobs/schemas';
import { authedProcedure } from './procedures';
import { router } from './init';

/**
 * Background jobs (`jobs/`): their status, progress, result or error. A job is visible to whoever
 * started it and to admins; to anyone else it does not exist. Services see the jobs they started
 * (they start them with `patients:write`, which these procedures ask of them too).
 */
export const jobsRouter = router({
  get: authedProcedure
    .meta({
      description:
        'One background job: status (queued, running, succeeded, failed, cancelled), attempts, progress, and its result or error. Yours, or any job for admins.',
      scope: 'patients:write',
    })
    .input(jobGetInput)
    .query(({ ctx, input }) => getJob(ctx, input)),

  list: authedProcedure
    .meta({
      description:
        'Background jobs, newest first (cursor = the last id seen): yours, or every job for admins. Filters: `type`, `status`.',
      scope: 'patients:write',
    })
    .input(jobListInput.default({}))
    .query(({ ctx, input }) => listJobs(ctx, input)),

  retry: authedProcedure
    .meta({
      description:
        'Queue a failed job again (an import resumes after its last committed batch). Yours, or any job for admins (audited). CONFLICT if it has not failed, what it needs is no longer kept, or a later update of the same patient was accepted.',
      scope: 'patients:write',
    })
    .input(jobCommandInput)
    .mutation(({ ctx, input }) => retryJob(ctx, input)),

  cancel: authedProcedure
    .meta({
      description:
        'Cancel a queued or running job (status `cancelled`); a cancelled import keeps its committed batches and counts them. Yours, or any job for admins (audited). CONFLICT once it has finished.',
      scope: 'patients:write',
    })
    .input(jobCommandInput)
    .mutation(({ ctx, input }) => cancelJob(ctx, input)),
});
