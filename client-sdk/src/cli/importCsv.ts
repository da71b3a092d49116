import { openAsBlob } from 'node:fs';
import { stat } from 'node:fs/promises';
import { type Job, uploadPatientsCsv } from '../rest';
import { CliError, EXIT, type ExitCode } from './errors';
import { followJob } from './progress';
import type { Session } from './session';

/** A `patients.import` job's result (`jobs.get`): the README's "Import and export" describes it. */
interface ImportResult {
  rows: number;
  imported: number;
  rejected: number;
  rejectedRows: { line: number; errors: string[] }[];
  rejectedRowsTruncated: boolean;
}

/**
 * `hdms import <file.csv>`: uploads the file (`POST /patients/import`, streamed from disk), shows
 * the job's progress until it ends, then prints what it imported and every rejected row with its
 * reasons. Exit code 0 only when every row was imported; 1 when rows were rejected, or the job
 * failed or was cancelled.
 */
export async function importCsv(session: Session, file: string): Promise<ExitCode> {
  const info = await stat(file).catch((error: NodeJS.ErrnoException) => {
    throw new CliError(`Cannot read ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`);
  });
  if (!info.isFile()) throw new CliError(`Cannot read ${file}: not a file`);

  process.stdout.write(`Uploading ${file} (${info.size} bytes) to ${session.url}\n`);
  const queued = await uploadPatientsCsv(session.rest, await openAsBlob(file));
  process.stdout.write(
    `Import job #${queued.id} queued; following it (Ctrl-C stops watching, not the job)\n`,
  );

  const job = await followJob(session, queued.id, {
    label: `Importing #${queued.id}`,
    unit: 'rows',
    what: 'import',
  });
  return report(job);
}

/** Prints the finished job's outcome and rejected rows; the exit code it calls for. */
function report(job: Job): ExitCode {
  const result = job.result as ImportResult | undefined;
  const out = (line: string) => process.stdout.write(`${line}\n`);
  if (job.status === 'failed') {
    out(`Import job #${job.id} failed: ${job.error ?? 'no reason given'}`);
    out(
      'Nothing more will be imported; fix the file and import it again (or: retry the job with jobs.retry).',
    );
    return EXIT.failed;
  }
  if (!result) {
    out(`Import job #${job.id} ended ${job.status}${job.error ? `: ${job.error}` : ''}`);
    return job.status === 'succeeded' ? EXIT.done : EXIT.failed;
  }
  const ended = job.status === 'succeeded' ? 'finished' : `was ${job.status}`;
  out(
    `Import job #${job.id} ${ended}: ${result.imported} of ${result.rows} rows imported, ${result.rejected} rejected.`,
  );
  if (result.rejectedRows.length > 0) {
    out('Rejected rows (line numbers count the header as line 1):');
    for (const row of result.rejectedRows) out(`  line ${row.line}: ${row.errors.join('; ')}`);
    if (result.rejectedRowsTruncated) {
      out(
        `  … and ${result.rejected - result.rejectedRows.length} more (the job lists the first ${result.rejectedRows.length})`,
      );
    }
  }
  return job.status === 'succeeded' && result.rejected === 0 ? EXIT.done : EXIT.failed;
}
