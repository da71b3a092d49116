import {
  type Database,
  doctorsRepo,
  jobFilesRepo,
  type PatientRow,
  patientsRepo,
  type Transaction,
} from '@hdms/db';
import { z } from 'zod';
import { patientCreated, recordEvents } from '../../domain/events/record';
import { admittingDoctorId, mayImportPatients } from '../../domain/access/policy';
import type { Actor } from '../../domain/actor';
import { badRequest, forbidden } from '../../domain/errors';
import { idSchema } from '../../lib/schemas';
import { recordAudit } from '../../domain/audit/record';
import type { PatientCreateItem } from '../../domain/patients/schemas';
import { actorOfJobOwner } from '../actor';
import { checkRow, CsvFileError, csvRecords, type ImportColumn, readHeader } from '../importCsv';
import { deleteJobFile, readJobFile } from '../importExportFiles';
import { LeaseLostError } from '../store';
import type { JobContext, JobType } from '../types';

/** Rows committed per transaction (each batch with its audit rows and the job's resume point). */
export const IMPORT_BATCH_ROWS = 500;
/** Rejected rows listed in the result at most; `rejected` counts them all. */
export const MAX_REJECTED_LISTED = 1000;

/** What a `patients.import` job stores: the uploaded file (in `job_files`). */
const payload = z.object({ fileId: idSchema }).strict();
type PatientsImportPayload = z.output<typeof payload>;

/** A row that was not imported: its line in the file (the header is line 1) and why. */
export interface RejectedRow {
  line: number;
  errors: string[];
}

/** A `patients.import` job's result. */
export interface PatientsImportResult {
  /** Data rows in the file (the header and empty lines not counted). */
  rows: number;
  /** Patients admitted. */
  imported: number;
  /** Rows refused. */
  rejected: number;
  /** The first `MAX_REJECTED_LISTED` refused rows, in file order. */
  rejectedRows: RejectedRow[];
  /** True when more rows were refused than listed. */
  rejectedRowsTruncated: boolean;
}

/** What an import has done so far, kept with its file and committed with every batch. */
interface ImportState {
  /** Data rows in the file, counted by the first pass (null until then). */
  rows: number | null;
  /** Data rows handled (imported or refused) up to the resume point. */
  done: number;
  imported: number;
  rejected: number;
  rejectedRows: RejectedRow[];
}

const stateSchema = z.object({
  rows: z.number().int().nullable(),
  done: z.number().int(),
  imported: z.number().int(),
  rejected: z.number().int(),
  rejectedRows: z.array(z.object({ line: z.number().int(), errors: z.array(z.string()) })),
});

const FRESH: ImportState = { rows: null, done: 0, imported: 0, rejected: 0, rejectedRows: [] };

/** A row checked and waiting for its batch. */
type Pending = { line: number; patient: PatientCreateItem } | { line: number; errors: string[] };

/** A file-level problem as the job's permanent failure (no retry can change the file). */
function fileRejected(error: CsvFileError): Error {
  return badRequest(error.message);
}

/**
 * Pass one: reads the whole file once (decoding, CSV syntax, header) and counts its data rows,
 * inserting nothing. A file that is not UTF-8, not valid CSV, empty, or whose header is wrong is
 * refused here as a whole, before any patient is admitted.
 */
async function countRows(db: Database, fileId: number, signal: AbortSignal): Promise<number> {
  let header = false;
  let rows = 0;
  for await (const record of csvRecords(readJobFile(db, fileId))) {
    if (!header) {
      readHeader(record.fields);
      header = true;
    } else rows++;
    if (rows % 1000 === 0) signal.throwIfAborted();
  }
  if (!header) throw new CsvFileError('The file is empty: it needs a header row, then one row per patient');
  return rows;
}

/**
 * `patients.import`: admits the patients of an uploaded CSV file (see `jobs/importCsv.ts` for the
 * format) as the admin who uploaded it.
 *
 * Two passes over the file, streamed from the database chunk by chunk: the first checks the file
 * as a whole and counts its rows (the progress total); a bad file fails the job with nothing
 * admitted. The second checks each row with `patients.create`'s schema and that its doctor exists,
 * and admits valid rows in batches of `IMPORT_BATCH_ROWS`, each batch in one transaction with its
 * audit rows (procedure `patients.import`) and the job's resume point (the last line handled).
 * An import is therefore not all-or-nothing: batches commit as they go, and refused rows are
 * listed in the result with their line numbers and reasons. A retry (the server stopped, the
 * database failed) resumes after the last committed line, so no row is admitted twice; the resume
 * point's guarded update also stops a second run of the same job from committing the same batch.
 * The upload is deleted when the job succeeds (in `complete`'s transaction) or fails on the file;
 * an import that fails otherwise keeps it for a retry until IMPORT_UPLOAD_RETENTION_HOURS pass.
 * A bulk job: between batches it yields its thread to waiting interactive jobs (`yieldIfAsked`),
 * and each batch commits only while the run holds the job (`checkpoint`): a cancelled or
 * taken-over run stops at its next batch, whose rows the job's new owner then commits.
 */
export const patientsImportJob: JobType<PatientsImportPayload, PatientsImportResult> = {
  name: 'patients.import',
  payload,
  timeoutMs: 30 * 60_000,
  maxAttempts: 3,
  backoffMs: 5_000,
  lane: 'bulk',
  run: importPatients,
  adminResult: (result) => result,
  onCancel: cancelImport,
};

/** The result of an import from its state: what its committed batches did. */
function resultOf(state: ImportState): PatientsImportResult {
  return {
    rows: state.rows ?? 0,
    imported: state.imported,
    rejected: state.rejected,
    rejectedRows: state.rejectedRows,
    rejectedRowsTruncated: state.rejected > state.rejectedRows.length,
  };
}

/**
 * A cancelled import keeps its committed batches: its result counts what they admitted and
 * refused (`rows` is the file's row count), and its upload is deleted.
 */
async function cancelImport(db: Database, jobId: number, tx: Transaction): Promise<PatientsImportResult> {
  const upload = await jobFilesRepo.findUploadOf(db, jobId, { tx });
  const stored = stateSchema.safeParse(upload?.state);
  const state = stored.success ? stored.data : FRESH;
  if (upload) await deleteJobFile(db, upload.id, tx);
  return resultOf(state);
}

async function importPatients(ctx: JobContext<PatientsImportPayload>): Promise<PatientsImportResult> {
  const { db, job, signal } = ctx;
  const { fileId } = job.payload;
  const file = await jobFilesRepo.findFile(db, fileId, { kind: 'import', jobId: job.id });
  if (!file) throw badRequest('The uploaded file is no longer available; upload it again');
  const actor = await actorOfJobOwner(db, job.owner);
  if (!mayImportPatients(actor)) throw forbidden('Only admins may import patients');

  const stored = stateSchema.safeParse(file.state);
  let state: ImportState = stored.success ? stored.data : { ...FRESH };
  let resumePoint = file.resumePoint;
  try {
    if (state.rows === null) {
      state = { ...state, rows: await countRows(db, fileId, signal) };
      await jobFilesRepo.updateFile(db, fileId, { state }, { resumePoint });
    }
    const rows = state.rows ?? 0;
    await ctx.progress(state.done, rows);

    let columns: ImportColumn[] | null = null;
    let batch: Pending[] = [];
    for await (const record of csvRecords(readJobFile(db, fileId))) {
      if (!columns) {
        columns = readHeader(record.fields);
        continue;
      }
      if (record.line <= resumePoint) continue;
      const check = checkRow(columns, record.fields);
      batch.push(
        check.ok
          ? { line: record.line, patient: check.patient }
          : { line: record.line, errors: check.errors },
      );
      if (batch.length >= IMPORT_BATCH_ROWS) {
        signal.throwIfAborted();
        ({ state, resumePoint } = await commitBatch(ctx, actor, batch, state, resumePoint));
        batch = [];
        await ctx.progress(state.done, rows);
        ctx.yieldIfAsked();
      }
    }
    if (batch.length) ({ state, resumePoint } = await commitBatch(ctx, actor, batch, state, resumePoint));
    await ctx.progress(state.done, rows);
  } catch (error) {
    if (error instanceof CsvFileError) {
      await deleteJobFile(db, fileId).catch(() => undefined);
      throw fileRejected(error);
    }
    throw error;
  }

  const final = state;
  return ctx.complete(async (tx) => {
    await deleteJobFile(db, fileId, tx);
    return resultOf(final);
  });
}

/**
 * Commits one batch: claims its lines by moving the resume point (only from where this run
 * expects it: another run of the job that got there first makes this one stop), refuses rows whose
 * doctor does not exist, inserts the rest with their audit rows and records the new state, all in
 * one transaction.
 */
async function commitBatch(
  ctx: JobContext<PatientsImportPayload>,
  actor: Actor,
  batch: Pending[],
  state: ImportState,
  resumePoint: number,
): Promise<{ state: ImportState; resumePoint: number }> {
  const { db, job } = ctx;
  const last = batch[batch.length - 1]!.line;
  return ctx.checkpoint(async (tx) => {
    const claimed = await jobFilesRepo.updateFile(
      db,
      job.payload.fileId,
      { resumePoint: last },
      { tx, resumePoint },
    );
    if (claimed !== 1) throw new LeaseLostError();

    const wanted = [
      ...new Set(
        batch.flatMap((row) => ('patient' in row && row.patient.doctorId ? [row.patient.doctorId] : [])),
      ),
    ];
    const known = await doctorsRepo.existingIds(db, wanted, tx);
    const admit: { line: number; patient: PatientCreateItem }[] = [];
    const refused: RejectedRow[] = [];
    for (const row of batch) {
      if (!('patient' in row)) refused.push({ line: row.line, errors: row.errors });
      else if (row.patient.doctorId && !known.has(row.patient.doctorId)) {
        refused.push({ line: row.line, errors: ['doctor_id: Doctor not found'] });
      } else admit.push(row);
    }

    let patients: PatientRow[] = [];
    if (admit.length) {
      // Every row passed the schema of patients.create: one multi-row INSERT, as patients.create does.
      patients = await patientsRepo.insertMany(
        db,
        admit.map(({ patient }) => ({
          name: patient.name,
          age: patient.age,
          gender: patient.gender,
          doctorId: admittingDoctorId(actor, patient.doctorId),
          roomNumber: patient.roomNumber ?? null,
          bedNumber: patient.bedNumber ?? null,
          diagnosis: null,
          prescribedMedicine: null,
        })),
        tx,
      );
      await recordAudit(
        { db, actor, requestId: job.requestId, ip: job.ip, procedure: 'patients.import' },
        { action: 'create', patientIds: patients.map((p) => p.id) },
        tx,
      );
    }

    const room = MAX_REJECTED_LISTED - state.rejectedRows.length;
    const next: ImportState = {
      rows: state.rows,
      done: state.done + batch.length,
      imported: state.imported + admit.length,
      rejected: state.rejected + refused.length,
      rejectedRows: room > 0 ? [...state.rejectedRows, ...refused.slice(0, room)] : state.rejectedRows,
    };
    await jobFilesRepo.updateFile(db, job.payload.fileId, { state: next }, { tx });
    await recordEvents(db, tx, patients.map(patientCreated));
    return { state: next, resumePoint: last };
  });
}
