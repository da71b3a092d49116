import { jobFilesRepo, jobsRepo } from '@hdms/db';
import type { Actor, UserActor } from '../actor';
import type { DomainContext } from '../context';
import { jobOwnerOf } from '../../jobs/actor';
import { deleteJobFile, readJobFile } from '../../jobs/importExportFiles';
import { enqueueJob } from '../../jobs/queue';
import { patientExportJob } from '../../jobs/types/patientExport';
import { scopeOf } from '../access/scope';
import { findExportablePatient } from '../patients/lookup';
import { recordAudit } from '../audit/record';
import { DomainError, notFound } from '../errors';

/** The procedure name audit rows of a download carry. */
const DOWNLOAD_PROCEDURE = 'jobs.result';

/**
 * Accepts an export of a patient's full record (`patients.export`) for the patient or their
 * doctor: a patient out of the caller's scope is NOT_FOUND and nothing is queued. The job is
 * queued under the patient's row lock, in order with the patient's updates (see
 * `patientExportJob`).
 */
export async function requestPatientExport(
  ctx: Pick<DomainContext, 'db' | 'requestId' | 'ip'> & { actor: UserActor<'doctor' | 'patient'> },
  patientId: number,
): Promise<{ jobId: number }> {
  return ctx.db.transaction(async (tx) => {
    await findExportablePatient({ ...ctx, scope: scopeOf(ctx.actor) }, patientId, { tx, lock: 'update' });
    const { id } = await enqueueJob(ctx.db, tx, {
      type: patientExportJob,
      payload: { patientId },
      owner: jobOwnerOf(ctx.actor),
      requestId: ctx.requestId,
      ip: ctx.ip,
      serialKey: `patient:${patientId}`,
      patientId,
    });
    return { jobId: id };
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
 * started the export: only the patient and their current doctor read it (admins and services
 * never; a refused reader is audited as `denied` on the patient). Anything else (no such job,
 * not an export, not finished, expired) is NOT_FOUND, the same answer as for a record out of
 * scope. A successful open is audited as a `read` of the patient before any byte is sent. An
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
  if (!job || job.patientId === null) throw notFound('Export');
  const patientId = job.patientId;
  const source = { db, actor, requestId: ctx.requestId, ip: ctx.ip, procedure: DOWNLOAD_PROCEDURE };
  try {
    await findExportablePatient({ db, actor, scope: scopeOf(actor) }, patientId);
  } catch (error) {
    await recordAudit(source, { action: 'denied', patientIds: [patientId] });
    throw error;
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
