import { jobFilesRepo, jobsRepo } from '@hdms/db';
import type { Actor } from '../../domain/actor';
import { recordAudit } from '../../domain/audit/record';
import type { DomainContext } from '../../domain/context';
import { badRequest, DomainError, notFound } from '../../domain/errors';
import { cancelJob } from '../../domain/jobs/commands';
import { checkExportAllowance, exportRateRefusal } from '../../domain/jobs/exportLimits';
import { jobOwnerOf } from '../../jobs/actor';
import { createJobFile, deleteJobFile, readJobFile } from '../../jobs/importExportFiles';
import { enqueueJob } from '../../jobs/queue';
import { exportStateOf, type FhirExportResult, fhirExportJob } from '../../jobs/types/fhirExport';
import { RESOURCE_TYPES, type ResourceType } from '../mapping';
import { exportPatientsOf, exportTypesFor } from './access';

/**
 * FHIR Bulk Data v2 export, as the HTTP routes (`routes.ts`) call it: kick-off, status, delete
 * (cancel) and file downloads. The export itself is the `fhir.export` job (`jobs/types/fhirExport.ts`).
 * An export, its status and its files are the requester's only: to anyone else they answer
 * exactly as a missing one (NOT_FOUND "Export not found").
 */

/** The procedure names audit rows carry. */
const DOWNLOAD_PROCEDURE = 'fhir.export.download';

/** What the kick-off, status, delete and download need of their caller. */
export type BulkContext = Pick<DomainContext, 'db' | 'config' | 'requestId' | 'ip'> & { actor: Actor };

/** The kick-off's parameters, parsed (`parseKickoff`). */
export interface KickoffParams {
  types: ResourceType[];
  since: Date | null;
}

/** The kick-off parameters HDMS reads; any other is refused unless the client asked for lenient handling. */
const KNOWN_PARAMS = new Set(['_type', '_since', '_outputFormat', '_format']);
/** The `_outputFormat` values that mean NDJSON (the spec's abbreviations included). */
const NDJSON_FORMATS = new Set(['application/fhir+ndjson', 'application/ndjson', 'ndjson']);

/**
 * The kick-off's parameters from the query (`name` → every value given): `_type` (comma-separated
 * types HDMS serves; default all), `_since` (a FHIR instant, not in the future), `_outputFormat`
 * (NDJSON only). An unknown parameter is BAD_REQUEST unless `lenient` (`Prefer: handling=lenient`).
 */
export function parseKickoff(query: Record<string, string[]>, lenient: boolean): KickoffParams {
  for (const name of Object.keys(query)) {
    if (!KNOWN_PARAMS.has(name) && !lenient) {
      throw badRequest(
        `Unsupported parameter ${name}: $export takes _type, _since and _outputFormat (send Prefer: handling=lenient to have others ignored)`,
      );
    }
  }
  const format = query._outputFormat?.at(-1);
  if (format !== undefined && !NDJSON_FORMATS.has(format)) {
    throw badRequest(`_outputFormat ${format} is not supported: only application/fhir+ndjson`);
  }
  let types: ResourceType[] = [...RESOURCE_TYPES];
  if (query._type?.length) {
    const asked = query._type.flatMap((v) => v.split(',')).map((t) => t.trim());
    const unknown = asked.filter((t) => !(RESOURCE_TYPES as readonly string[]).includes(t));
    if (unknown.length || asked.length === 0) {
      throw badRequest(
        `_type names ${unknown.length ? `unsupported types (${unknown.join(', ')})` : 'no type'}: HDMS exports ${RESOURCE_TYPES.join(', ')}`,
      );
    }
    types = RESOURCE_TYPES.filter((t) => asked.includes(t));
  }
  let since: Date | null = null;
  const sinceText = query._since?.at(-1);
  if (sinceText !== undefined) {
    const instant = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
    since = instant.test(sinceText) ? new Date(sinceText) : null;
    if (!since || Number.isNaN(since.getTime())) {
      throw badRequest(
        `_since must be a FHIR instant with a time zone, e.g. 2026-01-31T12:00:00Z (got ${sinceText})`,
      );
    }
    if (since.getTime() > Date.now() + 60_000) throw badRequest('_since is in the future');
  }
  return { types, since };
}

/**
 * Accepts a bulk export for the caller: checks the export limits (EXPORTS_PER_HOUR and the
 * storage quota: TOO_MANY_REQUESTS beyond them) and queues a `fhir.export` job in the bulk lane,
 * with the file that will hold its progress. Returns the job's id.
 */
export async function requestBulkExport(
  ctx: BulkContext,
  params: KickoffParams,
  request: string,
): Promise<number> {
  const { types } = exportTypesFor(ctx.actor, params.types);
  exportPatientsOf(ctx.actor, types);
  const account = { type: ctx.actor.type, id: ctx.actor.id };
  await checkExportAllowance(ctx.db, ctx.config, account);
  // The state file exists before its job; one never claimed is deleted by the sweep after six hours.
  const stateFileId = await createJobFile(ctx.db, 'export', {
    expiresAt: new Date(Date.now() + 6 * 3_600_000),
  });
  try {
    return await ctx.db.transaction(async (tx) => {
      await exportRateRefusal(ctx.db, ctx.config, account, tx);
      const { id } = await enqueueJob(ctx.db, tx, {
        type: fhirExportJob,
        payload: {
          types: params.types,
          since: params.since?.toISOString() ?? null,
          request: request.slice(0, 2000),
          transactionTime: new Date().toISOString(),
          stateFileId,
        },
        owner: jobOwnerOf(ctx.actor),
        requestId: ctx.requestId,
        ip: ctx.ip,
      });
      await jobFilesRepo.updateFile(ctx.db, stateFileId, { jobId: id }, { tx });
      return id;
    });
  } catch (error) {
    await deleteJobFile(ctx.db, stateFileId).catch(() => undefined);
    throw error;
  }
}

/** The caller's export job `jobId` (type, status, payload, result, progress), or NOT_FOUND. */
async function ownExport(ctx: BulkContext, jobId: number): Promise<jobsRepo.JobRow> {
  const job = await jobsRepo.findJob(ctx.db, jobId, {
    attributes: [
      'id',
      'type',
      'status',
      'payload',
      'result',
      'error',
      'progressDone',
      'progressTotal',
      'createdByType',
      'createdById',
    ],
    type: fhirExportJob.name,
  });
  if (!job || job.createdByType !== ctx.actor.type || job.createdById !== ctx.actor.id) {
    throw notFound('Export');
  }
  return job;
}

/** Where an export stands, as the status URL answers it. */
export type BulkStatus =
  | { status: 'in-progress'; progress: string }
  | { status: 'complete'; result: FhirExportResult }
  | { status: 'failed'; message: string };

/**
 * The status of the caller's export `jobId`: in progress (with what is done), complete (the
 * result the manifest is made of), or failed (why). A cancelled or deleted export, one whose
 * files have expired, and anyone else's answer NOT_FOUND.
 */
export async function bulkExportStatus(ctx: BulkContext, jobId: number): Promise<BulkStatus> {
  const job = await ownExport(ctx, jobId);
  switch (job.status) {
    case 'queued':
      return { status: 'in-progress', progress: 'queued' };
    case 'running': {
      const done = job.progressDone ?? 0;
      const total = job.progressTotal;
      return {
        status: 'in-progress',
        progress: total ? `${Math.floor((done / total) * 100)}% (${done} of ${total} patients)` : 'started',
      };
    }
    case 'failed':
      return { status: 'failed', message: job.error ?? 'The export failed' };
    case 'succeeded': {
      const result = job.result as FhirExportResult;
      if (new Date(result.expiresAt).getTime() <= Date.now()) throw gone();
      const kept = await jobFilesRepo.findFile(ctx.db, result.stateFileId, {
        jobId,
        kind: 'export',
        attributes: ['id'],
      });
      if (!kept) throw gone();
      return { status: 'complete', result };
    }
    default:
      throw notFound('Export');
  }
}

const gone = () => new DomainError('NOT_FOUND', 'Export not found: it was deleted or has expired');

/**
 * `DELETE` on the status URL: a queued or running export is cancelled (`jobs.cancel`: its files
 * are deleted), a finished one has its files deleted; afterwards the status URL answers
 * NOT_FOUND. Anyone else's, or one already deleted: NOT_FOUND.
 */
export async function deleteBulkExport(ctx: BulkContext, jobId: number): Promise<void> {
  const job = await ownExport(ctx, jobId);
  if (job.status === 'queued' || job.status === 'running') {
    try {
      await cancelJob({ ...ctx, procedure: 'fhir.export.cancel' }, { id: jobId });
      return;
    } catch (error) {
      // It finished meanwhile: delete its files as for a finished one.
      if (!(error instanceof DomainError) || error.code !== 'CONFLICT') throw error;
    }
  }
  // A finished job keeps no payload: a succeeded export names its state file in its result.
  const result = job.status === 'succeeded' ? (job.result as FhirExportResult) : null;
  if (!result) throw notFound('Export');
  const file = await jobFilesRepo.findFile(ctx.db, result.stateFileId, { jobId, kind: 'export' });
  if (!file) throw notFound('Export');
  const ids = new Set([
    ...exportStateOf(file.state).segments.map((s) => s.fileId),
    ...result.output.map((s) => s.fileId),
    ...(result.errorFileId ? [result.errorFileId] : []),
    file.id,
  ]);
  await ctx.db.transaction(async (tx) => {
    for (const id of ids) await deleteJobFile(ctx.db, id, tx);
  });
}

/** A file of an export, ready to be streamed. */
export interface BulkFile {
  bytes: number;
  chunks: AsyncIterable<Buffer>;
}

/**
 * Opens file `fileId` of the caller's finished export `jobId`, audited (`read`, procedure
 * `fhir.export.download`, naming the job) before any byte is sent. Anyone else's export, a file
 * not in its manifest, and an expired or deleted one answer NOT_FOUND alike.
 */
export async function openBulkFile(ctx: BulkContext, jobId: number, fileId: number): Promise<BulkFile> {
  const job = await ownExport(ctx, jobId).catch(() => null);
  const result = job?.status === 'succeeded' ? (job.result as FhirExportResult) : null;
  const listed =
    result !== null && (result.output.some((s) => s.fileId === fileId) || result.errorFileId === fileId);
  const file = listed ? await jobFilesRepo.findFile(ctx.db, fileId, { jobId, kind: 'export' }) : null;
  if (!file || !result || new Date(result.expiresAt).getTime() <= Date.now()) {
    throw new DomainError('NOT_FOUND', 'Export file not found');
  }
  await recordAudit(
    { ...ctx, procedure: DOWNLOAD_PROCEDURE },
    { action: 'read', targets: [{ type: 'job', id: jobId, name: `fhir.export file ${fileId}` }] },
  );
  return { bytes: file.byteSize, chunks: readJobFile(ctx.db, fileId) };
}
