import { type Database, eventsRepo, jobFilesRepo, jobsRepo, type Transaction } from '@hdms/db';
import type { Config } from '../../env';
import type { Actor, UserActor } from '../actor';
import type { DomainContext } from '../context';
import { jobOwnerOf } from '../../jobs/actor';
import { deleteJobFile, readJobFile } from '../../jobs/importExportFiles';
import { enqueueJob } from '../../jobs/queue';
import { patientExportJob } from '../../jobs/types/patientExport';
import { scopeOf } from '../access/scope';
import { findExportablePatient } from '../patients/lookup';
import { recordAudit } from '../audit/record';
import { DomainError, notFound, tooManyRequests } from '../errors';

/** The procedure name audit rows of a download carry. */
const DOWNLOAD_PROCEDURE = 'jobs.result';

/**
 * The job types whose files are exports: they share one rate and one storage quota per account.
 * FHIR bulk exports (a later issue) join this list.
 */
export const EXPORT_JOB_TYPES: readonly string[] = ['patient.export'];

/** One account may hold at most this fraction of EXPORT_STORAGE_MAX_MB (an eighth: 128 MiB by default). */
export const EXPORT_ACCOUNT_SHARE = 1 / 8;

/** The export limits of the configuration. */
export type ExportLimits = Pick<Config, 'exportsPerHour' | 'exportStorageMaxBytes'>;

/** Who an export belongs to: the account that asked for it. */
export interface ExportAccount {
  type: string;
  id: number;
}

const starterOf = (account: ExportAccount) => ({ createdByType: account.type, createdById: account.id });
const mib = (bytes: number) => `${Math.round((bytes / 1024 / 1024) * 10) / 10} MiB`;

/**
 * The one account of export storage: bytes held by stored export files, by every account
 * (`total`) and by `account`'s exports (`account`), with what is left of each quota (`room`: the
 * most a new or running export of theirs may still write). Every kind of export counts here.
 */
export async function exportStorageOf(
  db: Database,
  limits: ExportLimits,
  account: ExportAccount,
): Promise<{ total: number; account: number; room: number; accountMax: number }> {
  const used = await jobFilesRepo.exportStorage(db, EXPORT_JOB_TYPES, starterOf(account));
  const accountMax = Math.floor(limits.exportStorageMaxBytes * EXPORT_ACCOUNT_SHARE);
  const room = Math.max(0, Math.min(limits.exportStorageMaxBytes - used.total, accountMax - used.account));
  return { ...used, room, accountMax };
}

/**
 * Refuses a new export of `account` beyond its limits: TOO_MANY_REQUESTS when it has started
 * EXPORTS_PER_HOUR exports in the last hour (Retry-After: until the oldest of them is an hour
 * old), or when the stored exports fill its share of EXPORT_STORAGE_MAX_MB or the whole of it
 * (Retry-After: an hour; stored exports are deleted after EXPORT_RETENTION_HOURS).
 */
export async function checkExportAllowance(
  db: Database,
  limits: ExportLimits,
  account: ExportAccount,
): Promise<void> {
  const hourAgo = new Date(Date.now() - 3_600_000);
  const recent = await jobFilesRepo.exportsAcceptedSince(
    db,
    EXPORT_JOB_TYPES,
    starterOf(account),
    hourAgo,
    limits.exportsPerHour,
  );
  if (recent.length >= limits.exportsPerHour) {
    const wait = (recent[0]!.getTime() + 3_600_000 - Date.now()) / 1000;
    throw tooManyRequests(
      `Too many exports: at most ${limits.exportsPerHour} an hour per account (EXPORTS_PER_HOUR); try again later`,
      wait,
    );
  }
  const storage = await exportStorageOf(db, limits, account);
  if (storage.room <= 0) {
    const whose =
      storage.account >= storage.accountMax
        ? `your exports take ${mib(storage.account)} of the ${mib(storage.accountMax)} one account may keep`
        : `stored exports take ${mib(storage.total)} of ${mib(limits.exportStorageMaxBytes)} (EXPORT_STORAGE_MAX_MB)`;
    throw tooManyRequests(
      `Export storage is full: ${whose}; exports are deleted after their retention, try again later`,
      3_600,
    );
  }
}

/**
 * Whether a finished export whose document reflects the change events up to `throughEventId`
 * still shows patient `patientId`'s record as it is: no event of the record (the patient's own
 * changes, its check-ups, notes; anything but job events) was committed after it, and none was
 * pruned unseen.
 */
async function recordUnchangedSince(
  db: Database,
  patientId: number,
  throughEventId: number,
): Promise<boolean> {
  if ((await eventsRepo.prunedThrough(db)) > throughEventId) return false;
  const later = await eventsRepo.listAfter(db, throughEventId, { limit: 200, patientId });
  if (later.length === 200) return false;
  return later.every((event) => event.patientId !== patientId || event.type.startsWith('job.'));
}

/**
 * The export of patient `patientId` that `account` asked for and that answers a new request as
 * well, or null: one queued or running, or one succeeded whose document is still kept and whose
 * record has not changed since it was written (`recordUnchangedSince`).
 */
async function reusableExport(
  db: Database,
  account: ExportAccount,
  patientId: number,
  tx: Transaction,
): Promise<number | null> {
  const newest = await jobFilesRepo.newestExportOf(db, patientExportJob.name, starterOf(account), patientId, {
    tx,
  });
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
    config: ExportLimits;
  },
  patientId: number,
): Promise<{ jobId: number; reused: boolean }> {
  const account = { type: ctx.actor.type, id: ctx.actor.id };
  return ctx.db.transaction(async (tx) => {
    await findExportablePatient({ ...ctx, scope: scopeOf(ctx.actor) }, patientId, { tx, lock: 'update' });
    const reused = await reusableExport(ctx.db, account, patientId, tx);
    if (reused !== null) return { jobId: reused, reused: true };
    await checkExportAllowance(ctx.db, ctx.config, account);
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
 * started the export: only the patient and their current doctor read it (admins and services
 * never; a refused reader is audited as `denied` on the patient). A job the caller may not read
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
    await findExportablePatient({ db, actor, scope: scopeOf(actor) }, patientId);
  } catch (error) {
    if (!(error instanceof DomainError) || error.code !== 'NOT_FOUND') throw error;
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
