import { createWriteStream } from 'node:fs';
import { link, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { openExport } from '../rest';
import { CliError } from './errors';
import { followJob } from './progress';
import type { Session } from './session';

/** `hdms export` flags. */
export interface ExportOptions {
  /**
   * The file to write; a folder to write the server's file name in; `-` for stdout. Default: the
   * name the server suggests, in the current folder.
   */
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
  const stream = toStdout ? process.stderr : process.stdout;
  const say = (line: string) => stream.write(`${line}\n`);
  const folder = options.output && !toStdout && (await isFolder(options.output)) ? options.output : null;
  // Checked before anything starts, and again once the file name is known.
  if (options.output && !toStdout && !folder) await refuseExisting(options.output, options.force);

  const { jobId } = await session.client.patients.export.mutate({ patientId });
  say(`Export job #${jobId} of patient #${patientId} queued; waiting for it`);
  const job = await followJob(session, jobId, {
    label: `Exporting #${jobId}`,
    unit: 'records',
    what: 'export',
    stream,
  });
  if (job.status !== 'succeeded') {
    throw new CliError(`Export job #${jobId} ${job.status}${job.error ? `: ${job.error}` : ''}`);
  }

  const document = await openExport(session.rest, jobId);
  if (toStdout) {
    await document.body.pipeTo(Writable.toWeb(process.stdout) as WritableStream<Uint8Array>);
    say(`Wrote patient #${patientId}'s record (${document.bytes} bytes) to stdout`);
    return;
  }
  const target = folder ? join(folder, document.filename) : (options.output ?? document.filename);
  await refuseExisting(target, options.force).catch(async (error) => {
    await document.body.cancel();
    throw error;
  });
  const partial = join(dirname(target), `.${process.pid}.${Date.now()}.hdms-export.part`);
  try {
    const file = createWriteStream(partial, { flags: 'wx', mode: 0o600 });
    file.on('error', () => undefined); // pipeTo rejects with it
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
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`Cannot write ${target}: ${(error as Error).message}`);
  } finally {
    await rm(partial, { force: true });
  }
  say(`Saved patient #${patientId}'s record (${document.bytes} bytes) to ${target}`);
}

async function isFolder(path: string): Promise<boolean> {
  return stat(path).then(
    (info) => info.isDirectory(),
    () => false,
  );
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
