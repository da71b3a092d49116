import { type Database, jobFilesRepo, jobsRepo, type Transaction } from '@hdms/db';
import type { UserActor } from '../actor';
import type { DomainContext } from '../context';
import { jobOwnerOf } from '../../jobs/actor';
import { createJobFile, deleteJobFile, FileTooLargeError, JobFileWriter } from '../../jobs/importExportFiles';
import { enqueueJob } from '../../jobs/queue';
import { patientsImportJob } from '../../jobs/types/patientsImport';
import { badRequest, tooLarge, tooManyRequests } from '../errors';

/** How much of an upload is checked to be UTF-8 text before anything is stored. */
export const UPLOAD_CHECK_BYTES = 64 * 1024;

/** How long an upload may wait for its job before the sweep deletes it (a request that failed half-way). */
const UNCLAIMED_UPLOAD_MS = 60 * 60_000;

/**
 * Accepts a CSV import (`patients.import`, `POST /patients/import`): stores the file's bytes in the
 * database as they arrive (never the whole file in memory), up to `maxBytes`, then enqueues the
 * `patients.import` job and hands it the file in one transaction. The rows are read and checked
 * by the job; here the file is only stored. A file larger than `maxBytes` is PAYLOAD_TOO_LARGE
 * (413), an empty one BAD_REQUEST; nothing is kept of either. Its first `UPLOAD_CHECK_BYTES` are
 * held and checked before anything is stored: a file that is not UTF-8 there (a UTF-16 or UTF-32
 * byte order mark, a NUL byte, a byte sequence UTF-8 does not have) is BAD_REQUEST with no job and
 * no stored byte. Bad bytes further on fail the job, with nothing imported (see `decodeUtf8`).
 */
export async function acceptPatientsImport(
  ctx: Pick<DomainContext, 'db' | 'requestId' | 'ip' | 'config'> & { actor: UserActor<'admin'> },
  body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  maxBytes: number,
): Promise<{ jobId: number }> {
  const { db } = ctx;
  const maxQueued = ctx.config.jobs.bulkMaxQueuedPerAccount;
  await assertBulkRoom(db, ctx.actor, maxQueued);
  const chunks = (Symbol.asyncIterator in body ? body[Symbol.asyncIterator]() : body[Symbol.iterator]()) as
    | AsyncIterator<Uint8Array>
    | Iterator<Uint8Array>;
  const head: Uint8Array[] = [];
  let headBytes = 0;
  let ended = false;
  try {
    while (headBytes < UPLOAD_CHECK_BYTES) {
      const next = await chunks.next();
      if (next.done) {
        ended = true;
        break;
      }
      head.push(next.value);
      headBytes += next.value.length;
    }
  } catch (error) {
    if (isClientAbort(error)) throw badRequest('The upload was interrupted before the file was complete');
    throw error;
  }
  const refusal = notUtf8Text(Buffer.concat(head, headBytes).subarray(0, UPLOAD_CHECK_BYTES), ended);
  if (refusal) throw badRequest(refusal);

  const fileId = await createJobFile(db, 'import', { expiresAt: new Date(Date.now() + UNCLAIMED_UPLOAD_MS) });
  try {
    const writer = new JobFileWriter(db, fileId, maxBytes);
    try {
      for (const chunk of head) await writer.write(chunk);
      while (!ended) {
        const next = await chunks.next();
        if (next.done) break;
        await writer.write(next.value);
      }
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

/**
 * Why the start of an upload (`bytes`, the whole file when `complete`) is not UTF-8 text, or null
 * when it is: a UTF-16/UTF-32 byte order mark, a NUL byte, or a byte sequence UTF-8 does not have
 * (a character cut by the end of `bytes` is not one when more follows).
 */
export function notUtf8Text(bytes: Uint8Array, complete: boolean): string | null {
  const advice = 'save it as "CSV UTF-8" and upload it again';
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    return `The file is UTF-16 text (it starts with a UTF-16 byte order mark), not UTF-8: ${advice}`;
  }
  if (bytes[0] === 0x00 && bytes[1] === 0x00 && bytes[2] === 0xfe && bytes[3] === 0xff) {
    return `The file is UTF-32 text (it starts with a UTF-32 byte order mark), not UTF-8: ${advice}`;
  }
  const nul = bytes.indexOf(0);
  if (nul >= 0) {
    return `The file is not UTF-8 text (it holds a NUL byte at byte ${nul + 1}; UTF-16 text does): ${advice}`;
  }
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: !complete });
  } catch {
    return `The file is not UTF-8 text (its first ${UPLOAD_CHECK_BYTES / 1024} KiB hold bytes that are not UTF-8): ${advice}`;
  }
  return null;
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
