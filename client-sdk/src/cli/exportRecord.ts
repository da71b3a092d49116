import { createWriteStream } from 'node:fs';
import { link, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { openExport, waitForJob } from '../rest';
import { CliError } from './errors';
import { progressReporter } from './progress';
import type { Session } from './session';

/** `hdms export` flags. */
export interface ExportOptions {
  /** The file to write; `-` for stdout. Default: the name the server suggests, in the current folder. */
  output?: string;
  /** Replace an existing file. */
  force?: boolean;
}

/**
 * `hdms export <patientId>`: starts the export (`patients.export`), waits for its job, then
 * downloads the document. The file is written beside its target and renamed into place once
 * complete (mode 0600: it is a health record), so a failed download leaves nothing behind and an
 * existing file is replaced only with `--force`.
 */
export async function exportRecord(
  session: Session,
  patientId: number,
  options: ExportOptions,
): Promise<void> {
  const toStdout = options.output === '-';
  // With the document on stdout, what hdms says goes to stderr.
  const say = (line: string) => (toStdout ? process.stderr : process.stdout).write(`${line}\n`);
  if (options.output && !toStdout) await refuseExisting(options.output, options.force);

  const { jobId } = await session.client.patients.export.mutate({ patientId });
  say(`Export job #${jobId} of patient #${patientId} queued; waiting for it`);
  const progress = progressReporter(
    `Exporting #${jobId}`,
    'records',
    toStdout ? process.stderr : process.stdout,
  );
  const job = await waitForJob(session.client, jobId, { onProgress: progress.update }).finally(() =>
    progress.stop(),
  );
  if (job.status !== 'succeeded') {
    throw new CliError(`Export job #${jobId} ${job.status}${job.error ? `: ${job.error}` : ''}`);
  }

  const document = await openExport(session.rest, jobId);
  if (toStdout) {
    await document.body.pipeTo(Writable.toWeb(process.stdout) as WritableStream<Uint8Array>);
    say(`Wrote patient #${patientId}'s record (${document.bytes} bytes) to stdout`);
    return;
  }
  const target = options.output ?? document.filename;
  await refuseExisting(target, options.force).catch(async (error) => {
    await document.body.cancel();
    throw error;
  });
  const partial = join(dirname(target), `.${process.pid}.${Date.now()}.hdms-export.part`);
  try {
    const file = createWriteStream(partial, { flags: 'wx', mode: 0o600 });
    file.on('error', () => undefined); // reported by pipeTo
    await document.body.pipeTo(Writable.toWeb(file) as WritableStream<Uint8Array>);
    const { size } = await stat(partial);
    if (Number.isFinite(document.bytes) && size !== document.bytes) {
      throw new CliError(`The download ended after ${size} of ${document.bytes} bytes; try again`);
    }
    if (options.force) await rename(partial, target);
    // link fails if the file appeared meanwhile: an existing file is never replaced silently
    else
      await link(partial, target).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'EEXIST')
          throw new CliError(`${target} appeared meanwhile: add --force to replace it`);
        throw new CliError(`Cannot write ${target}: ${error.message}`);
      });
  } finally {
    await rm(partial, { force: true });
  }
  say(`Saved patient #${patientId}'s record (${document.bytes} bytes) to ${target}`);
}

async function refuseExisting(file: string, force: boolean | undefined): Promise<void> {
  if (force) return;
  const exists = await stat(file).then(
    () => true,
    () => false,
  );
  if (exists)
    throw new CliError(`${file} already exists: choose another file with -o, or add --force to replace it`);
}
