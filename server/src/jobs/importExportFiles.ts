import { type Database, jobFilesRepo, type JobFileKind, type Transaction } from '@hdms/db';

/**
 * The files of import and export jobs (`job_files`, `job_file_chunks`): a CSV upload waiting for
 * its import, an export waiting to be downloaded. They live in the database, so every server
 * instance and every worker sees them and a restart loses none, and they pass through memory one
 * chunk at a time, never whole.
 */

/** The size of one stored chunk: far below MEDIUMBLOB's 16 MiB and MariaDB's default `max_allowed_packet`. */
export const CHUNK_BYTES = 512 * 1024;

/** Thrown by `JobFileWriter.write` when a file would exceed its size limit. */
export class FileTooLargeError extends Error {
  override name = 'FileTooLargeError';
  constructor(readonly limit: number) {
    super(`The file is larger than ${limit} bytes`);
  }
}

/** Creates an empty file of `kind`; the sweep deletes it after `expiresAt` unless a job claims it. */
export async function createJobFile(
  db: Database,
  kind: JobFileKind,
  options: { expiresAt: Date | null; jobId?: number | null },
): Promise<number> {
  return jobFilesRepo.createFile(db, { kind, jobId: options.jobId ?? null, expiresAt: options.expiresAt });
}

/**
 * Writes a file's bytes as they arrive, in chunks of `CHUNK_BYTES`: at most one chunk is held in
 * memory. `end()` stores the last chunk and the file's size.
 */
export class JobFileWriter {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private seq = 0;
  /** Bytes written so far. */
  bytes = 0;

  constructor(
    private readonly db: Database,
    readonly fileId: number,
    private readonly maxBytes = Number.POSITIVE_INFINITY,
  ) {}

  /** Appends `data`; throws `FileTooLargeError` (storing nothing more) past the size limit. */
  async write(data: Uint8Array | string): Promise<void> {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    if (this.bytes + bytes.length > this.maxBytes) throw new FileTooLargeError(this.maxBytes);
    this.bytes += bytes.length;
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    while (this.pendingBytes >= CHUNK_BYTES) await this.flush(CHUNK_BYTES);
  }

  /** Stores what is left and records the file's size; returns the number of bytes. */
  async end(): Promise<number> {
    if (this.pendingBytes > 0) await this.flush(this.pendingBytes);
    await jobFilesRepo.updateFile(this.db, this.fileId, { byteSize: this.bytes, chunkCount: this.seq });
    return this.bytes;
  }

  private async flush(size: number): Promise<void> {
    const all = Buffer.concat(this.pending, this.pendingBytes);
    const data = all.subarray(0, size);
    const rest = all.subarray(size);
    await jobFilesRepo.insertChunk(this.db, this.fileId, this.seq, data);
    this.seq += 1;
    this.pending = rest.length ? [rest] : [];
    this.pendingBytes = rest.length;
  }
}

/**
 * A file's bytes, one chunk at a time, read from the database as the consumer asks for them.
 * Throws if the file is gone (deleted by its job or the sweep) before or while it is read.
 */
export async function* readJobFile(db: Database, fileId: number): AsyncGenerator<Buffer> {
  const file = await jobFilesRepo.findFile(db, fileId, { attributes: ['id', 'chunkCount'] });
  if (!file) throw new Error(`job file ${fileId} no longer exists`);
  for (let seq = 0; seq < file.chunkCount; seq++) {
    const chunk = await jobFilesRepo.readChunk(db, fileId, seq);
    if (!chunk) throw new Error(`job file ${fileId} no longer exists`);
    yield chunk;
  }
}

/** Deletes a file and its bytes. */
export async function deleteJobFile(db: Database, fileId: number, transaction?: Transaction): Promise<void> {
  await jobFilesRepo.deleteFile(db, fileId, { tx: transaction });
}

/** Files a sweep deletes at most, per call. */
const SWEEP_BATCH = 100;

/**
 * Deletes the job files nobody needs any more: exports past their retention, uploads that no job
 * claimed (the request failed half-way), an export a failed attempt left half-written, and the
 * upload of an import whose job has failed for good. Returns how many files it deleted. Safe to
 * run on every instance at once.
 */
export async function sweepJobFiles(db: Database, now = new Date()): Promise<number> {
  const ids = await jobFilesRepo.findDisposable(db, now, SWEEP_BATCH);
  for (const id of ids) await deleteJobFile(db, id);
  return ids.length;
}
