import type { Job } from '../rest';
import type { Session } from './session';

/** `hdms jobs` flags. */
export interface JobsOptions {
  status?: Job['status'];
  type?: string;
  limit?: number;
  cursor?: number;
  json?: boolean;
}

/** A time as a short UTC ISO string, to the second. */
const when = (at: Date | null) => (at ? at.toISOString().replace(/\.\d{3}Z$/, 'Z') : '-');

/**
 * `hdms jobs`: the caller's background jobs (an admin's: everyone's), newest first, one page: a
 * table, or one JSON object per line with `--json`.
 */
export async function listJobs(session: Session, options: JobsOptions): Promise<void> {
  const page = await session.client.jobs.list.query({
    limit: options.limit,
    cursor: options.cursor,
    status: options.status,
    type: options.type,
  });
  if (options.json) {
    for (const job of page.items) process.stdout.write(`${JSON.stringify(job)}\n`);
  } else if (page.items.length === 0) {
    process.stdout.write('No jobs.\n');
  } else {
    const rows = page.items.map((job) => [
      `#${job.id}`,
      job.type,
      job.status,
      job.progress ? `${job.progress.done}/${job.progress.total}` : '-',
      when(job.createdAt),
      when(job.finishedAt),
      job.error ?? '',
    ]);
    const header = ['ID', 'TYPE', 'STATUS', 'PROGRESS', 'CREATED', 'FINISHED', 'ERROR'];
    const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
    for (const row of [header, ...rows]) {
      process.stdout.write(
        `${row
          .map((cell, i) => cell.padEnd(widths[i]!))
          .join('  ')
          .trimEnd()}\n`,
      );
    }
  }
  if (page.nextCursor !== null) {
    process.stderr.write(`More jobs: hdms jobs --cursor ${page.nextCursor}\n`);
  }
}
