import { type Attributes, Op, type Transaction } from 'sequelize';
import type { Database } from '../connection';
import type { JobFile, JobFileKind } from '../models/index';
import { findPlain } from '../plain';

/**
 * The files of import and export jobs (`job_files`) and their bytes (`job_file_chunks`, in order
 * of `seq` from 0).
 */

/** One stored job file (without its bytes). */
export type JobFileRow = Attributes<JobFile>;

/** The columns of a file one write may change. */
export type JobFileChanges = Partial<
  Pick<JobFileRow, 'jobId' | 'byteSize' | 'chunkCount' | 'resumePoint' | 'state' | 'expiresAt'>
>;

/** Creates an empty file; returns its id. */
export async function createFile(
  db: Pick<Database, 'models'>,
  file: { kind: JobFileKind; jobId: number | null; expiresAt: Date | null },
): Promise<number> {
  const created = await db.models.JobFile.create(file);
  return created.id;
}

/**
 * Writes `changes` to file `id`, only while its resume point is `resumePoint` when one is given;
 * returns how many rows changed (0 or 1).
 */
export async function updateFile(
  db: Pick<Database, 'models'>,
  id: number,
  changes: JobFileChanges,
  options: { tx?: Transaction; resumePoint?: number } = {},
): Promise<number> {
  const [updated] = await db.models.JobFile.update(changes, {
    where: options.resumePoint === undefined ? { id } : { id, resumePoint: options.resumePoint },
    transaction: options.tx,
  });
  return updated;
}

/** File `id` (its `attributes`, default all), or null; with `jobId` and `kind`, only a file of that job and kind. */
export async function findFile(
  db: Pick<Database, 'models'>,
  id: number,
  options: { jobId?: number; kind?: JobFileKind; attributes?: (keyof JobFileRow)[] } = {},
): Promise<JobFileRow | null> {
  const where: Partial<Record<'id' | 'jobId' | 'kind', number | string>> = { id };
  if (options.jobId !== undefined) where.jobId = options.jobId;
  if (options.kind !== undefined) where.kind = options.kind;
  const [row] = await findPlain(db.models.JobFile, { attributes: options.attributes, where });
  return row ?? null;
}

/** Stores chunk `seq` of file `fileId`. */
export async function insertChunk(
  db: Pick<Database, 'models'>,
  fileId: number,
  seq: number,
  data: Buffer,
): Promise<void> {
  await db.models.JobFileChunk.create({ fileId, seq, data });
}

/** Chunk `seq` of file `fileId`'s bytes, or null if it is gone. */
export async function readChunk(
  db: Pick<Database, 'models'>,
  fileId: number,
  seq: number,
): Promise<Buffer | null> {
  const chunk = await db.models.JobFileChunk.findOne({
    attributes: ['data'],
    where: { fileId, seq },
    raw: true,
  });
  if (!chunk) return null;
  return Buffer.isBuffer(chunk.data) ? chunk.data : Buffer.from(chunk.data);
}

/** Deletes a file and its bytes, in the caller's transaction if any. */
export async function deleteFile(
  db: Pick<Database, 'models'>,
  id: number,
  options: { tx?: Transaction } = {},
): Promise<void> {
  await db.models.JobFileChunk.destroy({ where: { fileId: id }, transaction: options.tx });
  await db.models.JobFile.destroy({ where: { id }, transaction: options.tx });
}

/** The ids of jobs that succeeded or were cancelled, as a subquery. */
const DONE_WITH_UPLOAD = "(SELECT id FROM jobs WHERE status IN ('succeeded', 'cancelled'))";

/**
 * Up to `limit` files nobody needs any more: those past `expiresAt` by `now` (an upload of a job
 * that failed for good is given one, see `setUploadExpiry`), and uploads whose job succeeded or
 * was cancelled.
 */
export async function findDisposable(db: Database, now: Date, limit: number): Promise<number[]> {
  const { JobFile } = db.models;

  const expired = await JobFile.findAll({
    attributes: ['id'],
    where: { expiresAt: { [Op.lte]: now } },
    limit,
    raw: true,
  });
  const orphans = await JobFile.findAll({
    attributes: ['id'],
    where: { kind: 'import', jobId: { [Op.in]: db.sequelize.literal(DONE_WITH_UPLOAD) } },
    limit,
    raw: true,
  });
  return [...new Set([...expired, ...orphans].map((f) => f.id))];
}

/**
 * Sets when the upload of job `jobId` may be deleted: a time when its job failed for good (kept
 * until then for a retry), null again when it is retried.
 */
export async function setUploadExpiry(
  db: Pick<Database, 'models'>,
  jobId: number,
  expiresAt: Date | null,
  options: { tx?: Transaction } = {},
): Promise<void> {
  await db.models.JobFile.update(
    { expiresAt },
    { where: { jobId, kind: 'import' }, transaction: options.tx },
  );
}

/** The upload (import file) of job `jobId`, without its bytes, or null. */
export async function findUploadOf(
  db: Pick<Database, 'models'>,
  jobId: number,
  options: { tx?: Transaction } = {},
): Promise<JobFileRow | null> {
  const row = await db.models.JobFile.findOne({ where: { jobId, kind: 'import' }, transaction: options.tx });
  return row ? (row.get({ plain: true }) as JobFileRow) : null;
}

/*
 * Export accounting (issue 19): the storage, rate and reuse of exports per account. An export is a
 * job of one of the caller's `types` (today `patient.export`; FHIR bulk exports join the list) and
 * its `export` files.
 */

/** Who started a job, as the `jobs` table stores it. */
export interface JobStarter {
  createdByType: string;
  createdById: number;
}

/** The jobs of `types` started by `starter`, as a subquery of their ids. */
function jobsOf(db: Database, types: readonly string[], starter: JobStarter) {
  const q = (v: string | number) => db.sequelize.escape(v);
  return db.sequelize.literal(
    `(SELECT id FROM jobs WHERE type IN (${types.map(q).join(', ')}) AND created_by_type = ${q(starter.createdByType)} AND created_by_id = ${q(starter.createdById)})`,
  );
}

/**
 * Bytes held by stored export files: of every export (`total`) and of the exports of `types`
 * started by `starter` (`account`). A file being written counts once its writer has ended.
 */
export async function exportStorage(
  db: Database,
  types: readonly string[],
  starter: JobStarter,
): Promise<{ total: number; account: number }> {
  const { JobFile } = db.models;
  const total = (await JobFile.sum('byteSize', { where: { kind: 'export' } })) ?? 0;
  const account =
    (await JobFile.sum('byteSize', {
      where: { kind: 'export', jobId: { [Op.in]: jobsOf(db, types, starter) } },
    })) ?? 0;
  return { total: Number(total), account: Number(account) };
}

/** When each of the (up to `limit`) jobs of `types` `starter` started after `since` was accepted, oldest first. */
export async function exportsAcceptedSince(
  db: Database,
  types: readonly string[],
  starter: JobStarter,
  since: Date,
  limit: number,
  options: { tx?: Transaction } = {},
): Promise<Date[]> {
  const rows = await db.models.Job.findAll({
    attributes: ['createdAt'],
    where: { type: [...types], ...starter, createdAt: { [Op.gt]: since } },
    order: [['id', 'ASC']],
    limit,
    transaction: options.tx,
    raw: true,
  });
  return rows.map((row) => new Date(row.createdAt));
}

/** The newest job of `type` `starter` started on patient `patientId` (its status and result), or null. */
export async function newestExportOf(
  db: Database,
  type: string,
  starter: JobStarter,
  patientId: number,
  options: { tx?: Transaction } = {},
): Promise<{ id: number; status: string; result: unknown } | null> {
  const [row] = await findPlain(db.models.Job, {
    attributes: ['id', 'status', 'result'],
    where: { type, createdByType: starter.createdByType, createdById: starter.createdById, patientId },
    order: [['id', 'DESC']],
    limit: 1,
    transaction: options.tx,
  });
  return row ? { id: row.id, status: row.status, result: row.result } : null;
}
