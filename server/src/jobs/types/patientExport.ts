import { z } from 'zod';
import { eventsRepo, jobFilesRepo } from '@hdms/db';
import { tooLarge } from '../../domain/errors';
import { exportStorageOf } from '../../domain/jobs/exportLimits';
import { loadScope } from '../../domain/access/scope';
import { findExportablePatient } from '../../domain/patients/lookup';
import { idSchema } from '../../lib/schemas';
import { actorOfJobOwner } from '../actor';
import { writePatientExport } from '../../domain/patients/exportDocument';
import { createJobFile, deleteJobFile, FileTooLargeError, JobFileWriter } from '../importExportFiles';
import type { JobType } from '../types';

/** How long a half-written export (its run failed or was abandoned) is kept before the sweep deletes it. */
const UNFINISHED_EXPORT_MS = 60 * 60_000;

/** What a `patient.export` job stores: the patient whose record to export. */
const payload = z.object({ patientId: idSchema }).strict();
type PatientExportPayload = z.output<typeof payload>;

/**
 * A `patient.export` job's result: where the document is, never what it says. Download it with
 * `GET /jobs/:id/result` until `expiresAt`.
 */
export interface PatientExportResult {
  patientId: number;
  /** The stored document (`job_files`). */
  fileId: number;
  /** Its size in bytes. */
  bytes: number;
  /** When it is deleted (ISO 8601): EXPORT_RETENTION_HOURS after it was written. */
  expiresAt: string;
  /** Where to download it. */
  download: string;
}

/**
 * `patient.export`: writes a patient's full record (patient, doctor, check history, notes,
 * revisions; see `writePatientExport`) as one JSON document into the job file store, streamed a
 * page of rows at a time, for the patient or their doctor who asked. It runs as that user as they
 * are now: one who may no longer read the record fails the job (NOT_FOUND, no retry). The file
 * is written outside the final transaction; `complete` then sets its retention, so a run that
 * fails half-way leaves only a file the sweep deletes within the hour. It runs in its patient's
 * order with `patient.update` jobs (serial key `patient:<id>`): an export reflects every update
 * accepted before it. The file records (in its `state`) the newest change event id read before
 * the record was, so a later request can tell whether the record changed since (see
 * `requestPatientExport`). It may write only what is left of its account's storage quota and of
 * the total (`exportStorageOf`): past that the file is deleted and the job fails at once
 * (PAYLOAD_TOO_LARGE, no retry).
 */
export const patientExportJob: JobType<PatientExportPayload, PatientExportResult> = {
  name: 'patient.export',
  payload,
  timeoutMs: 10 * 60_000,
  maxAttempts: 3,
  backoffMs: 2_000,
  async run(ctx) {
    const { db, job } = ctx;
    const { patientId } = job.payload;
    const actor = await actorOfJobOwner(db, job.owner);
    const scope = await loadScope(db, actor);
    await findExportablePatient({ db, actor, scope }, patientId);

    const account = { type: job.owner.type, id: job.owner.id };
    const { room } = await exportStorageOf(db, ctx.config, account);
    const throughEventId = await eventsRepo.newestId(db);
    const fileId = await createJobFile(db, 'export', {
      jobId: job.id,
      expiresAt: new Date(Date.now() + UNFINISHED_EXPORT_MS),
    });
    let bytes: number;
    try {
      const writer = new JobFileWriter(db, fileId, room);
      await writePatientExport(db, actor, scope, patientId, writer, (done, total) => {
        ctx.signal.throwIfAborted();
        return ctx.progress(done, total);
      });
      bytes = await writer.end();
    } catch (error) {
      if (!(error instanceof FileTooLargeError)) throw error;
      await deleteJobFile(db, fileId);
      throw tooLarge(
        'Export storage is full: this export would pass the storage quota of your account or of the server (EXPORT_STORAGE_MAX_MB); its partial file was deleted',
      );
    }

    return ctx.complete(async (tx) => {
      const expiresAt = new Date(Date.now() + ctx.config.exportRetentionHours * 3_600_000);
      const state: object = { throughEventId };
      await jobFilesRepo.updateFile(db, fileId, { expiresAt, state }, { tx });
      return {
        patientId,
        fileId,
        bytes,
        expiresAt: expiresAt.toISOString(),
        download: `/jobs/${job.id}/result`,
      };
    });
  },
  adminResult: ({ patientId, bytes, expiresAt }) => ({ patientId, bytes, expiresAt }),
};
