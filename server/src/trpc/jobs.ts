import { getJob, listJobs } from '../domain/jobs/queries';
import { jobGetInput, jobListInput } from '../domain/jobs/schemas';
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
        'One background job: status (queued, running, succeeded, failed), attempts, progress, and its result or error. Yours, or any job for admins.',
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
});
