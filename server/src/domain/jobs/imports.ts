import { type Database, jobFilesRepo, jobsRepo, type Transaction } from '@hdms/db';
import type { UserActor } from '../actor';
import type { DomainContext } from '../context';
import { jobOwnerOf } from '../../jobs/actor';
import { createJobFile, deleteJobFile, FileTooLargeError, JobFileWriter } from '../../jobs/importExportFiles';
import { enqueueJob } from '../../jobs/queue';
import { patientsImportJob } from '../../jobs/types/patientsImport';
import { badRequest, tooLarge, tooManyRequests } from '../errors';

/** How long an upload may wait for its job before the sweep deletes it (a request that failed half-way). */
const UNCLAIMED_UPLOAD_MS = 60 * 60_000;

/**
 * Accepts a CSV import (`patients.import`, `POST /patients/import`): stores the file's bytes in the
 * database as they arrive (never the whole file in memory), up to `maxBytes`, then enqueues the
 * `patients.import` job and hands it the file in one transaction. The rows are read and checked
 * by the job; here the file is only stored. A file larger than `maxBytes` is PAYLOAD_TOO_LARGE
 * (413), an empty one BAD_REQUEST; nothing is kept of either.
 */
export async function acceptPatientsImport(
  ctx: Pick<DomainContext, 'db' | 'requestId' | 'ip' | 'config'> & { actor: UserActor<'admin'> },
  body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  maxBytes: number,
): Promise<{ jobId: number }> {
  const { db } = ctx;
  const maxQueued = ctx.config.jobs.bulkMaxQueuedPerAccount;
  await assertBulkRoom(db, ctx.actor, maxQueued);
  const fileId = await createJobFile(db, 'import', { expiresAt: new Date(Date.now() + UNCLAIMED_UPLOAD_MS) });
  try {
    const writer = new JobFileWriter(db, fileId, maxBytes);
    try {
      for await (const chunk of body) await writer.write(chunk);
    } catch (error) {
      if (error instanceof FileTooLargeError) {
        throw tooLarge(`Request body too large (limit ${maxBytes} bytes)`);
      }
      if (isClientAbort(error)) throw badRequest('The upload was interrupted before the file was complete');
      throw error;
    }
    const bytes = await writer.end();
    if (bytes === 0) throw badRequest('The CSV file is empty: send a header row, then one row per patient');
    return await db.transaction(async (tx) => {
      await assertBulkRoom(db, ctx.actor, maxQueued, tx);
      const { id } = await enqueueJob(db, tx, {
        type: patientsImportJob,
        payload: { fileId },
        owner: jobOwnerOf(ctx.actor),
        requestId: ctx.requestId,
        ip: ctx.ip,
      });
      await jobFilesRepo.updateFile(db, fileId, { jobId: id, expiresAt: null }, { tx });
      return { jobId: id };
    });
  } catch (error) {
    await deleteJobFile(db, fileId).catch(() => undefined);
    throw error;
  }
}

/** The job types of the bulk lane (`lane: 'bulk'`). */
const BULK_TYPES = [patientsImportJob.name];

/**
 * TOO_MANY_REQUESTS (429) when `actor` already has `maxQueued` unfinished (queued or running)
 * bulk jobs (BULK_JOBS_MAX_QUEUED_PER_ACCOUNT): checked before the upload is stored and again
 * in the transaction that queues it.
 */
async function assertBulkRoom(
  db: Database,
  actor: UserActor<'admin'>,
  maxQueued: number,
  tx?: Transaction,
): Promise<void> {
  const owner = jobOwnerOf(actor);
  const unfinished = await jobsRepo.countUnfinishedOf(
    db,
    { createdByType: owner.type, createdById: owner.id },
    BULK_TYPES,
    { tx },
  );
  if (unfinished >= maxQueued) {
    throw tooManyRequests(
      `You already have ${unfinished} imports queued or running (BULK_JOBS_MAX_QUEUED_PER_ACCOUNT is ${maxQueued}); wait for one to finish`,
      30,
    );
  }
}

/** The client went away mid-upload (the request stream was aborted or reset). */
function isClientAbort(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown } | null;
  return e?.code === 'ECONNRESET' || e?.code === 'ERR_STREAM_PREMATURE_CLOSE' || e?.message === 'aborted';
}
