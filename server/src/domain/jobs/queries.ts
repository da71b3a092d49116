import { type JobStatus, jobsRepo } from '@hdms/db';
import type { DomainContext } from '../context';
import { jobRegistry } from '../../jobs/registry';
import type { Page } from '../../lib/pagination';
import { jobScope, mayReadJob } from '../access/policy';
import { notFound } from '../errors';
import { JOB_VIEW_FIELDS, type JobView, jobView } from './views';

/**
 * Reading background jobs: a job is visible to whoever started it and to admins; to anyone else
 * it does not exist (NOT_FOUND).
 */

/** One job in the view the actor may see; NOT_FOUND if there is none or it is not theirs. */
export async function getJob(
  ctx: Pick<DomainContext, 'db' | 'actor' | 'config'>,
  input: { id: number },
): Promise<JobView> {
  const job = await jobsRepo.findJob(ctx.db, input.id, { attributes: JOB_VIEW_FIELDS });
  if (!job || !mayReadJob(ctx.actor, job)) throw notFound('Job');
  return jobView(ctx.actor, job, jobRegistry(ctx.config));
}

/** A page of the jobs the actor sees (theirs, or every job for admins), newest first. */
export async function listJobs(
  ctx: Pick<DomainContext, 'db' | 'actor' | 'config'>,
  input: { limit: number; cursor?: number | null; type?: string; status?: JobStatus },
): Promise<Page<JobView>> {
  const types = jobRegistry(ctx.config);
  const scope = jobScope(ctx.actor) as Pick<jobsRepo.JobFilter, 'createdByType' | 'createdById'>;
  const rows = await jobsRepo.listNewestFirst(
    ctx.db,
    { ...scope, type: input.type, status: input.status },
    { limit: input.limit + 1, before: input.cursor, attributes: JOB_VIEW_FIELDS },
  );
  const items = rows.slice(0, input.limit);
  return {
    items: items.map((job) => jobView(ctx.actor, job, types)),
    nextCursor: rows.length > input.limit ? (items[items.length - 1]?.id ?? null) : null,
  };
}
