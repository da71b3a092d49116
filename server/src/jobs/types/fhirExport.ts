import { type Database, jobFilesRepo, jobsRepo, type Transaction } from '@hdms/db';
import { z } from 'zod';
import { recordAudit } from '../../domain/audit/record';
import { notFound, tooLarge } from '../../domain/errors';
import { exportStorageOf } from '../../domain/jobs/exportLimits';
import { exportPatientsOf, exportTypesFor, type OmittedType } from '../../fhir/bulk/access';
import { BudgetExceededError, NdjsonSegments, type Segment } from '../../fhir/bulk/files';
import {
  doctorPages,
  PATIENT_PAGE,
  patientPages,
  practitionerOf,
  resourcesOfPatients,
} from '../../fhir/bulk/source';
import { type FhirBase, RESOURCE_TYPES, type ResourceType } from '../../fhir/mapping';
import { idSchema } from '../../lib/schemas';
import { actorOfJobOwner } from '../actor';
import { createJobFile, deleteJobFile, JobFileWriter } from '../importExportFiles';
import type { JobContext, JobType } from '../types';

/** The job type's name (`jobs.get` shows it; the export limits count it). */
export const FHIR_EXPORT_JOB = 'fhir.export';

/** How long a file a run started but never recorded is kept before the sweep deletes it. */
const UNRECORDED_MS = 60 * 60_000;
/** How long the recorded files of an unfinished export are kept (renewed at every checkpoint). */
const RECORDED_MS = 6 * 60 * 60_000;
/** A run records its files at least this often, so a crash redoes at most this much work. */
const SEGMENT_MS = 30_000;

const resourceType = z.enum(RESOURCE_TYPES);

/** What a `fhir.export` job stores: what was asked, when, and where its progress is kept. */
const payload = z
  .object({
    /** The types asked for (`_type`, default every type); the caller's rights are applied at each run. */
    types: z.array(resourceType).min(1),
    /** `_since`: only resources last updated after this instant (ISO 8601). */
    since: z.string().datetime({ offset: true }).nullable(),
    /** The kick-off request's URL (the manifest's `request`). */
    request: z.string().max(2000),
    /** When the export was accepted (the manifest's `transactionTime`). */
    transactionTime: z.string().datetime({ offset: true }),
    /** The file (`job_files`, no bytes) whose `state` holds the export's progress. */
    stateFileId: idSchema,
  })
  .strict();
export type FhirExportPayload = z.output<typeof payload>;

/** Where an export stands, committed at each checkpoint. */
const stateSchema = z.object({
  phase: z.enum(['doctors', 'patients', 'done']),
  /** The last doctor or patient id whose resources are in a recorded file. */
  cursor: z.number().int().nullable(),
  patientsDone: z.number().int(),
  patientsTotal: z.number().int().nullable(),
  segments: z.array(
    z.object({
      type: z.string(),
      fileId: z.number().int(),
      count: z.number().int(),
      bytes: z.number().int(),
    }),
  ),
});
type ExportState = z.output<typeof stateSchema>;

const FRESH: ExportState = {
  phase: 'doctors',
  cursor: null,
  patientsDone: 0,
  patientsTotal: null,
  segments: [],
};

/** A finished `fhir.export`: its files (one or more per type) and the types it left out. */
export interface FhirExportResult {
  transactionTime: string;
  request: string;
  output: Segment[];
  /** The OperationOutcome NDJSON file naming the types left out, if any were. */
  errorFileId: number | null;
  omitted: OmittedType[];
  /** The file that held the export's progress: kept with the files, deleted with them. */
  stateFileId: number;
  /** Patients whose resources are in the export. */
  patients: number;
  /** When the files are deleted (EXPORT_RETENTION_HOURS after the export finished). */
  expiresAt: string;
}

/** Deletes every file of the export: its recorded segments, error file and state file. */
async function deleteExportFiles(
  db: Database,
  stateFileId: number,
  state: ExportState | null,
  tx?: Transaction,
): Promise<void> {
  for (const segment of state?.segments ?? []) await deleteJobFile(db, segment.fileId, tx);
  await deleteJobFile(db, stateFileId, tx);
}

/** The state an export's state file holds (fresh when it holds none yet). */
export function exportStateOf(state: unknown): ExportState {
  const parsed = stateSchema.safeParse(state);
  return parsed.success ? parsed.data : { ...FRESH, segments: [] };
}

/**
 * `fhir.export`: a FHIR Bulk Data export (`GET /fhir/R4/Patient/$export`), as the account that
 * asked for it is now (`fhir/bulk/access.ts`: which patients and which types). One NDJSON file
 * per type (or several: see below), written into the job file store as it goes: the doctors'
 * register, then the export's patients a page at a time (keyset by id), each with its Condition,
 * MedicationStatement, Encounters and DocumentReferences; memory holds one page and one chunk per
 * type, whatever the number of patients. `_since` keeps the resources whose `meta.lastUpdated` is
 * after it. Each page's patients are audited (`read`, procedure `fhir.export`, one row per patient
 * with a resource in the export) in one batch as they are written.
 *
 * A bulk job: between pages it yields its thread to waiting interactive jobs. A run records what
 * it has written at a checkpoint (every `SEGMENT_MS`, and before it yields): it ends its open files
 * and commits them with its cursor in the state file, under the job's lease. The next run resumes
 * after that cursor with new files, so a type may have several files, listed in order by the
 * manifest. The files count in the export storage of the account; a run that would pass what is
 * left of it deletes every file of the export and fails (PAYLOAD_TOO_LARGE, no retry). At the
 * end the files are kept for EXPORT_RETENTION_HOURS. `jobs.cancel` (or `DELETE` on the status
 * URL) deletes them at once.
 */
export const fhirExportJob: JobType<FhirExportPayload, FhirExportResult> = {
  name: FHIR_EXPORT_JOB,
  payload,
  timeoutMs: 60 * 60_000,
  maxAttempts: 3,
  backoffMs: 5_000,
  lane: 'bulk',
  run: runExport,
  adminResult: ({ transactionTime, output, omitted, patients, expiresAt }) => ({
    transactionTime,
    output: output.map(({ type, count, bytes }) => ({ type, count, bytes })),
    omitted,
    patients,
    expiresAt,
  }),
  async onCancel(db, jobId, tx) {
    const job = await jobsRepo.findForUpdate(db, jobId, tx);
    const parsed = payload.safeParse(job?.payload);
    if (!parsed.success) return null;
    const { stateFileId } = parsed.data;
    const file = await jobFilesRepo.findFile(db, stateFileId, { jobId, kind: 'export' });
    if (file) await deleteExportFiles(db, stateFileId, exportStateOf(file.state), tx);
    return null;
  },
};

async function runExport(ctx: JobContext<FhirExportPayload>): Promise<FhirExportResult> {
  const { db, job, config } = ctx;
  const { stateFileId } = job.payload;
  const actor = await actorOfJobOwner(db, job.owner);
  const { types, omitted } = exportTypesFor(actor, job.payload.types);
  const scope = exportPatientsOf(actor, types);
  const stateFile = await jobFilesRepo.findFile(db, stateFileId, { jobId: job.id, kind: 'export' });
  if (!stateFile) throw notFound('Export');
  let state = exportStateOf(stateFile.state);

  const account = { type: job.owner.type, id: job.owner.id };
  const { room } = await exportStorageOf(db, config, account);
  const out = new NdjsonSegments(db, job.id, room, () => new Date(Date.now() + UNRECORDED_MS));
  const base: FhirBase = { url: '', identifierSystem: config.fhirIdentifierSystem };
  const since = job.payload.since ? new Date(job.payload.since).getTime() : null;
  const wanted = new Set(types);
  const fresh = (resource: { meta?: { lastUpdated?: string } }) =>
    since === null || new Date(resource.meta?.lastUpdated ?? 0).getTime() > since;

  let lastCheckpoint = Date.now();
  /** Ends the open files and commits them with where the export stands. */
  const checkpoint = async (next: ExportState) => {
    const ended = await out.endAll();
    const recorded: ExportState = { ...next, segments: [...state.segments, ...ended] };
    const keepUntil = new Date(Date.now() + RECORDED_MS);
    await ctx.checkpoint(async (tx) => {
      for (const segment of recorded.segments) {
        await jobFilesRepo.updateFile(db, segment.fileId, { expiresAt: keepUntil }, { tx });
      }
      await jobFilesRepo.updateFile(db, stateFileId, { state: recorded, expiresAt: keepUntil }, { tx });
    });
    state = recorded;
    lastCheckpoint = Date.now();
  };
  /** Between two pages: stop if asked to, yield the thread if asked to (after a checkpoint). */
  const between = async (next: ExportState) => {
    ctx.signal.throwIfAborted();
    try {
      ctx.yieldIfAsked();
    } catch (yielded) {
      await checkpoint(next);
      throw yielded;
    }
    if (Date.now() - lastCheckpoint >= SEGMENT_MS) await checkpoint(next);
  };

  try {
    if (state.phase === 'doctors') {
      let cursor = state.cursor;
      if (wanted.has('Practitioner')) {
        for await (const doctors of doctorPages(db, cursor)) {
          for (const doctor of doctors) {
            const resource = practitionerOf(doctor);
            if (fresh(resource)) await out.write('Practitioner', resource);
          }
          cursor = doctors[doctors.length - 1]!.id;
          await between({ ...state, cursor });
        }
      }
      state = { ...state, phase: 'patients', cursor: null };
    }
    if (state.phase === 'patients') {
      let total = state.patientsTotal;
      if (total === null) {
        total = 0;
        for await (const page of patientPages(db, actor, scope, null)) total += page.length;
      }
      let { cursor, patientsDone } = state;
      await ctx.progress(patientsDone, total);
      const source = { db, actor, requestId: job.requestId, ip: job.ip, procedure: FHIR_EXPORT_JOB };
      const patientTypes = new Set([...wanted].filter((t) => t !== 'Practitioner'));
      if (patientTypes.size > 0) {
        for await (const patients of patientPages(db, actor, scope, cursor)) {
          const exported = new Set<number>();
          for await (const { type, resource, patientId } of resourcesOfPatients(
            db,
            actor,
            base,
            patients,
            patientTypes,
          )) {
            if (!fresh(resource)) continue;
            await out.write(type, resource);
            exported.add(patientId);
          }
          if (exported.size) await recordAudit(source, { action: 'read', patientIds: [...exported] });
          cursor = patients[patients.length - 1]!.id;
          patientsDone += patients.length;
          await ctx.progress(patientsDone, total);
          if (patients.length === PATIENT_PAGE) {
            await between({ ...state, cursor, patientsDone, patientsTotal: total });
          }
        }
      }
      state = { ...state, phase: 'done', cursor, patientsDone, patientsTotal: total };
    }
  } catch (error) {
    if (!(error instanceof BudgetExceededError)) throw error;
    await out.discard();
    await deleteExportFiles(db, stateFileId, state);
    throw tooLarge(
      'Export storage is full: this export would pass the storage quota of your account or of the server (EXPORT_STORAGE_MAX_MB); its files were deleted',
    );
  }

  const ended = await out.endAll();
  const segments = [...state.segments, ...ended];
  const errorFileId = omitted.length ? await writeOmitted(db, job.id, omitted) : null;
  const final: ExportState = { ...state, segments };
  return ctx.complete(async (tx) => {
    const expiresAt = new Date(Date.now() + config.exportRetentionHours * 3_600_000);
    const kept = [...segments.map((s) => s.fileId), ...(errorFileId ? [errorFileId] : []), stateFileId];
    for (const fileId of kept) await jobFilesRepo.updateFile(db, fileId, { expiresAt }, { tx });
    await jobFilesRepo.updateFile(db, stateFileId, { state: final }, { tx });
    return {
      transactionTime: job.payload.transactionTime,
      request: job.payload.request,
      output: segments,
      errorFileId,
      omitted,
      stateFileId,
      patients: final.patientsDone,
      expiresAt: expiresAt.toISOString(),
    };
  });
}

/** The manifest's `error` file: one OperationOutcome per type left out, saying why. */
async function writeOmitted(db: Database, jobId: number, omitted: readonly OmittedType[]): Promise<number> {
  const fileId = await createJobFile(db, 'export', {
    jobId,
    expiresAt: new Date(Date.now() + UNRECORDED_MS),
  });
  const writer = new JobFileWriter(db, fileId);
  for (const { type, reason } of omitted) {
    const outcome = {
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: 'forbidden',
          diagnostics: `${type} resources are not in this export: ${reason}`,
        },
      ],
    };
    await writer.write(`${JSON.stringify(outcome)}\n`);
  }
  await writer.end();
  return fileId;
}

export type { ResourceType };
