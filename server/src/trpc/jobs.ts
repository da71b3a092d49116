import { jobScope, mayReadJob } from '../domain/access/policy';
import { notFound } from '../domain/errors';
import { jobRegistry } from '../jobs/registry';
import { listPage } from '../lib/pagination';
import { authedProcedure } from './procedures';
import { router } from './init';
import { jobGetInput, jobListInput } from '../domain/jobs/schemas';
import { JOB_VIEW_FIELDS, jobView } from '../domain/jobs/views';

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
    .query(async ({ ctx, input }) => {
      const job = await ctx.db.models.Job.findByPk(input.id, { attributes: JOB_VIEW_FIELDS });
      if (!job || !mayReadJob(ctx.actor, job)) throw notFound('Job');
      return jobView(ctx.actor, job, jobRegistry(ctx.config));
    }),

  list: authedProcedure
    .meta({
      description:
        'Background jobs, newest first (cursor = the last id seen): yours, or every job for admins. Filters: `type`, `status`.',
      scope: 'patients:write',
    })
    .input(jobListInput.default({}))
    .query(({ ctx, input }) => {
      const types = jobRegistry(ctx.config);
      return listPage(
        ctx.db.models.Job,
        input,
        {
          attributes: JOB_VIEW_FIELDS,
          where: [
            jobScope(ctx.actor),
            input.type === undefined ? {} : { type: input.type },
            input.status === undefined ? {} : { status: input.status },
          ],
          direction: 'desc',
        },
        (job) => jobView(ctx.actor, job, types),
      );
    }),
});
