import type { Database } from '@hdms/db';
import { createJobFile, deleteJobFile, FileTooLargeError, JobFileWriter } from '../../jobs/importExportFiles';

/**
 * The NDJSON files of a FHIR bulk export, in the job file store (`job_files`): one open file per
 * resource type at a time, each written a chunk at a time (at most one chunk of each held in
 * memory), all sharing one byte budget (what is left of the export storage quota).
 *
 * A run writes *segments*: it ends every open file at a checkpoint (`endAll`) and the job records
 * the ended ones; the next lines of a type go to a new file. A run that stops (it yields its
 * thread, the server stops) resumes after its last checkpoint, and the manifest lists every
 * segment of a type in order (the Bulk Data spec allows several files per type). A file a run
 * started but never recorded keeps its short expiry and the sweep deletes it.
 */

/** A finished file of the export: its type, where it is, how many resources and bytes it holds. */
export interface Segment {
  type: string;
  fileId: number;
  count: number;
  bytes: number;
}

/** Thrown when the export would pass its storage budget. */
export class BudgetExceededError extends Error {
  override name = 'BudgetExceededError';
}

interface OpenFile {
  writer: JobFileWriter;
  count: number;
}

/** The open files of one run. */
export class NdjsonSegments {
  private readonly open = new Map<string, OpenFile>();
  /** Bytes written by this run (ended or not). */
  written = 0;

  constructor(
    private readonly db: Database,
    private readonly jobId: number,
    /** The most this run may still write, in bytes. */
    private readonly budget: number,
    /** When a file left unrecorded may be swept. */
    private readonly unfinishedUntil: () => Date,
  ) {}

  /** Appends one resource as one line to its type's file. */
  async write(type: string, resource: object): Promise<void> {
    const line = `${JSON.stringify(resource)}\n`;
    const bytes = Buffer.byteLength(line, 'utf8');
    if (this.written + bytes > this.budget) throw new BudgetExceededError();
    let file = this.open.get(type);
    if (!file) {
      const fileId = await createJobFile(this.db, 'export', {
        jobId: this.jobId,
        expiresAt: this.unfinishedUntil(),
      });
      file = { writer: new JobFileWriter(this.db, fileId), count: 0 };
      this.open.set(type, file);
    }
    try {
      await file.writer.write(line);
    } catch (error) {
      if (error instanceof FileTooLargeError) throw new BudgetExceededError();
      throw error;
    }
    this.written += bytes;
    file.count += 1;
  }

  /** Ends every open file (its last chunk and size stored) and returns them as segments. */
  async endAll(): Promise<Segment[]> {
    const ended: Segment[] = [];
    for (const [type, file] of this.open) {
      const bytes = await file.writer.end();
      ended.push({ type, fileId: file.writer.fileId, count: file.count, bytes });
    }
    this.open.clear();
    return ended;
  }

  /** Deletes every open file (a run that fails on its budget frees what it wrote). */
  async discard(): Promise<void> {
    for (const file of this.open.values()) await deleteJobFile(this.db, file.writer.fileId);
    this.open.clear();
  }
}
