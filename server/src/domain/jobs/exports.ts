import { type Database, eventsRepo, jobFilesRepo, jobsRepo, type Transaction } from '@hdms/db';
import { checkExportAllowance, type ExportLimits, exportRateRefusal } from './exportLimits';
import type { Actor, UserActor } from '../actor';
import type { DomainContext } from '../context';
import { jobOwnerOf } from '../../jobs/actor';
import { deleteJobFile, readJobFile } from '../../jobs/importExportFiles';
import { enqueueJob } from '../../jobs/queue';
import { patientExportJob } from '../../jobs/types/patientExport';
import { type AccessScope, loadScope } from '../access/scope';
import { findExportablePatient } from '../patients/lookup';
import { recordAudit } from '../audit/record';
import { DomainError, notFound } from '../errors';

/** The procedure name audit rows of a download carry. */
const DOWNLOAD_PROCEDURE = 'jobs.result';

/**
 * Whether a finished export whose document reflects the change events up to `throughEventId`
 * still shows patient `patientId`'s record as it is: no event of the record (the patient's own
 * changes, its check-ups, notes; anything but job events and emergency accesses opened) was
 * committed after it, and none was pruned unseen.
 */
async function recordUnchangedSince(
  db: Database,
  patientId: number,
  throughEventId: number,
): Promise<boolean> {
  if ((await eventsRepo.prunedThrough(db)) > throughEventId) return false;
  const later = await eventsRepo.listAfter(db, throughEventId, { limit: 200, patientId });
  if (later.length === 200) return false;
  return later.every(
    (event) =>
      event.patientId !== patientId || event.type.startsWith('job.') || event.type.startsWith('emergency.'),
  );
}

/**
 * The export of patient `patientId` that `account` asked for and that answers a new request as
 * well, or null: one queued or running, or one succeeded whose document is still kept and whose
 * record has not changed since it was written (`recordUnchangedSince`).
 */
async function reusableExport(
  db: Database,
  account: { type: string; id: number },
  patientId: number,
  tx?: Transaction,
): Promise<number | null> {
  const newest = await jobFilesRepo.newestExportOf(
    db,
    patientExportJob.name,
    { createdByType: account.type, createdById: account.id },
    patientId,
    {
      tx,
    },
  );
  if (!newest) return null;
  if (newest.status === 'queued' || newest.status === 'running') return newest.id;
  if (newest.status !== 'succeeded') return null;
  const fileId = (newest.result as { fileId?: unknown } | null)?.fileId;
  if (typeof fileId !== 'number') return null;
  const file = await jobFilesRepo.findFile(db, fileId, { jobId: newest.id, kind: 'export' });
  if (!file?.expiresAt || file.expiresAt.getTime() <= Date.now() + 60_000) return null;
  const through = (file.state as { throughEventId?: unknown } | null)?.throughEventId;
  if (typeof through !== 'number') return null;
  return (await recordUnchangedSince(db, patientId, through)) ? newest.id : null;
}

/**
 * Accepts an export of a patient's full record (`patients.export`, `POST /patients/:id/export`)
 * for the patient or their doctor: a patient out of the caller's scope is NOT_FOUND and nothing
 * is queued. The same caller asking again for the same patient gets the same job while it is
 * queued or running, or once it has succeeded while its document is kept and the record has not
 * changed since (see `reusableExport`); such a request costs nothing of the limits. Otherwise the
 * export must fit the caller's limits (`checkExportAllowance`: TOO_MANY_REQUESTS beyond them). The
 * job is queued under the patient's row lock, in order with the patient's updates (see
 * `patientExportJob`).
 */
export async function requestPatientExport(
  ctx: Pick<DomainContext, 'db' | 'requestId' | 'ip'> & {
    actor: UserActor<'doctor' | 'patient'>;
    scope: AccessScope;
    config: ExportLimits;
  },
  patientId: number,
): Promise<{ jobId: number; reused: boolean }> {
  const account = { type: ctx.actor.type, id: ctx.actor.id };
  // Checked first without locks, so that a flood of refused requests holds no transaction...
  await findExportablePatient(ctx, patientId);
  const reusable = await reusableExport(ctx.db, account, patientId);
  if (reusable !== null) return { jobId: reusable, reused: true };
  await checkExportAllowance(ctx.db, ctx.config, account);
  // ...then again under the patient's row lock: concurrent requests of one account queue one job.
  return ctx.db.transaction(async (tx) => {
    await findExportablePatient(ctx, patientId, { tx, lock: 'update' });
    const reused = await reusableExport(ctx.db, account, patientId, tx);
    if (reused !== null) return { jobId: reused, reused: true };
    await exportRateRefusal(ctx.db, ctx.config, account, tx);
    const { id } = await enqueueJob(ctx.db, tx, {
      type: patientExportJob,
      payload: { patientId },
      owner: jobOwnerOf(ctx.actor),
      requestId: ctx.requestId,
      ip: ctx.ip,
      serialKey: `patient:${patientId}`,
      patientId,
    });
    return { jobId: id, reused: false };
  });
}

/** A finished export, ready to be streamed to the reader. */
export interface ExportDownload {
  patientId: number;
  filename: string;
  bytes: number;
  /** The document's bytes, read from the database one chunk at a time. */
  chunks: AsyncIterable<Buffer>;
}

/**
 * Opens the document of export job `jobId` for `ctx.actor`, with access checked now, whoever
 * started the export: only the patient and their current doctors, assigned or consented, read it
 * (admins, services and emergency access never; a refused reader is audited as `denied` on the
 * patient). A job the caller may not read
 * the result of answers exactly as a missing id or a job of another type: NOT_FOUND "Export not
 * found", by the same path and queries. To a reader of the patient, an export not finished or
 * expired is NOT_FOUND saying so. A successful open is audited as a `read` of the patient before any byte is sent. An
 * expired export is deleted on the spot.
 */
export async function openPatientExport(
  ctx: Pick<DomainContext, 'db' | 'requestId' | 'ip'> & { actor: Actor },
  jobId: number,
): Promise<ExportDownload> {
  const { db, actor } = ctx;
  const job = await jobsRepo.findJob(db, jobId, {
    attributes: ['id', 'type', 'status', 'patientId', 'result'],
    type: patientExportJob.name,
  });
  // A missing id, a job of another type, and an export of a patient the caller may not read take
  // the same path and the same patient query (id 0 names no patient) and answer the same.
  const patientId = job?.patientId ?? 0;
  const source = { db, actor, requestId: ctx.requestId, ip: ctx.ip, procedure: DOWNLOAD_PROCEDURE };
  let reachable = true;
  try {
    await findExportablePatient({ db, actor, scope: await loadScope(db, actor) }, patientId);
  } catch (error) {
    // Emergency access (FORBIDDEN to export) downloads nothing either, answered like the rest.
    if (!(error instanceof DomainError) || (error.code !== 'NOT_FOUND' && error.code !== 'FORBIDDEN')) {
      throw error;
    }
    reachable = false;
  }
  if (!job || !reachable) {
    if (job && patientId) await recordAudit(source, { action: 'denied', patientIds: [patientId] });
    throw notFound('Export');
  }
  if (job.status !== 'succeeded') {
    throw new DomainError('NOT_FOUND', 'Export not ready: it has not finished (see GET /jobs/:id)');
  }
  const fileId = (job.result as { fileId?: unknown } | null)?.fileId;
  const file =
    typeof fileId === 'number'
      ? await jobFilesRepo.findFile(db, fileId, { jobId: job.id, kind: 'export' })
      : null;
  if (!file || (file.expiresAt && file.expiresAt.getTime() <= Date.now())) {
    if (file) await deleteJobFile(db, file.id);
    throw new DomainError('NOT_FOUND', 'Export not found: it has expired');
  }
  await recordAudit(source, { action: 'read', patientIds: [patientId] });
  return {
    patientId,
    filename: `hdms-patient-${patientId}-export-${job.id}.json`,
    bytes: file.byteSize,
    chunks: readJobFile(db, file.id),
  };
}
