import { jobsRepo, jobFilesRepo, patientsRepo, type Transaction } from '@hdms/db';
import { recordAudit } from '../audit/record';
import { recordEvent } from '../events/record';
import type { DomainContext } from '../context';
import { jobRegistry } from '../../jobs/registry';
import { signalCommitted } from '../../jobs/queue';
import { FINISHED } from '../../jobs/store';
import { mayReadJob, mayReadJobResult } from '../access/policy';
import { conflict, notFound } from '../errors';
import { JOB_VIEW_FIELDS, type JobView, jobView } from './views';

/**
 * Changing background jobs: `jobs.retry` (a failed job, queued again from its last committed
 * point) and `jobs.cancel` (a queued or running one). Allowed to whoever started the job and to
 * admins; to anyone else the job does not exist (NOT_FOUND, as for a missing id). An admin acting
 * on someone else's job is audited.
 */

/** What the commands need of their caller. */
type JobCommandContext = Pick<DomainContext, 'db' | 'actor' | 'config' | 'requestId' | 'ip' | 'procedure'>;

/** Job `id` locked for the command, or NOT_FOUND when it is missing or not the caller's to see. */
async function lockedJob(ctx: JobCommandContext, id: number, tx: Transaction): Promise<jobsRepo.JobRow> {
  const job = await jobsRepo.findForUpdate(ctx.db, id, tx);
  if (!job || !mayReadJob(ctx.actor, job)) throw notFound('Job');
  return job;
}

/** An audit row when an admin changes a job someone else started. */
async function auditIfOthers(ctx: JobCommandContext, job: jobsRepo.JobRow, tx: Transaction): Promise<void> {
  if (mayReadJobResult(ctx.actor, job)) return;
  await recordAudit(
    ctx,
    {
      action: 'update',
      targets: [{ type: 'job', id: job.id, name: job.type }],
    },
    tx,
  );
}

/** The job as the caller now sees it. */
async function viewOf(ctx: JobCommandContext, id: number): Promise<JobView> {
  const row = await jobsRepo.findJob(ctx.db, id, { attributes: JOB_VIEW_FIELDS });
  if (!row) throw notFound('Job');
  return jobView(ctx.actor, row, jobRegistry(ctx.config));
}

/**
 * Queues a failed job again, due now, with its attempts and interruptions reset; an import
 * resumes after its last committed batch (its upload is kept for IMPORT_UPLOAD_RETENTION_HOURS
 * after it failed). CONFLICT when the job has not failed, its payload or upload is no longer
 * kept, or (a `patient.update`) a later update of the same patient was accepted since: retrying
 * would overwrite newer data.
 */
export async function retryJob(ctx: JobCommandContext, input: { id: number }): Promise<JobView> {
  await ctx.db.transaction(async (tx) => {
    const job = await lockedJob(ctx, input.id, tx);
    if (job.status !== 'failed') {
      throw conflict(`Only a failed job can be retried; this one is ${job.status}`);
    }
    const type = jobRegistry(ctx.config).get(job.type);
    if (!type || job.payload === null || job.payload === undefined) {
      throw conflict('This job can no longer be retried: what it needs is no longer kept');
    }
    if (type.lane === 'bulk' && job.type !== 'patients.import') {
      throw conflict('A failed bulk export is not retried: start a new one');
    }
    if (job.type === 'patients.import') {
      const upload = await jobFilesRepo.findUploadOf(ctx.db, job.id, { tx });
      if (!upload) throw conflict('This import can no longer be retried: its upload is no longer kept');
      await jobFilesRepo.setUploadExpiry(ctx.db, job.id, null, { tx });
    }
    if (job.type === 'patient.update' && job.patientId) {
      const later =
        (job.serialKey !== null &&
          job.serialKey !== undefined &&
          (await jobsRepo.hasLaterWithKey(ctx.db, job.serialKey, job.id, { tx, type: 'patient.update' }))) ||
        ((await patientsRepo.read(ctx.db, 'all', job.patientId, ['updatedAt']))?.updatedAt ?? 0) >
          job.createdAt;
      if (later) {
        throw conflict(
          'A later update of this patient was accepted; retrying this one would overwrite newer data',
        );
      }
    }
    await jobsRepo.updateJob(
      ctx.db,
      job.id,
      {
        status: 'queued',
        attempts: 0,
        interruptions: 0,
        error: null,
        runAfter: new Date(),
        startedAt: null,
        finishedAt: null,
      },
      { tx },
    );
    await recordEvent(ctx.db, tx, {
      type: 'job.queued',
      entityId: job.id,
      patientId: job.patientId ?? null,
      fields: ['status', 'attempts', 'error'],
    });
    await auditIfOthers(ctx, job, tx);
    tx.afterCommit(signalCommitted);
  });
  return viewOf(ctx, input.id);
}

/**
 * Cancels a queued or running job: status `cancelled`, at once. A running job's run can commit
 * nothing more (its next batch or its completion finds the job cancelled and stops); a cancelled
 * import keeps the batches it committed, its result counts them, and its upload is deleted.
 * CONFLICT when the job has already finished.
 */
export async function cancelJob(ctx: JobCommandContext, input: { id: number }): Promise<JobView> {
  await ctx.db.transaction(async (tx) => {
    const job = await lockedJob(ctx, input.id, tx);
    if (job.status !== 'queued' && job.status !== 'running') {
      throw conflict(`Only a queued or running job can be cancelled; this one is ${job.status}`);
    }
    const type = jobRegistry(ctx.config).get(job.type);
    const result = type?.onCancel ? await type.onCancel(ctx.db, job.id, tx) : null;
    await jobsRepo.updateJob(
      ctx.db,
      job.id,
      {
        status: 'cancelled',
        result: result === null || result === undefined ? null : JSON.parse(JSON.stringify(result)),
        finishedAt: new Date(),
        ...FINISHED,
      },
      { tx },
    );
    await recordEvent(ctx.db, tx, {
      type: 'job.cancelled',
      entityId: job.id,
      patientId: job.patientId ?? null,
      fields: ['status', 'result'],
    });
    await auditIfOthers(ctx, job, tx);
  });
  return viewOf(ctx, input.id);
}
