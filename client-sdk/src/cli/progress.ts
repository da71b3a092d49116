import { Presets, SingleBar } from 'cli-progress';
import { type Job, waitForJob } from '../rest';
import { CliError, EXIT } from './errors';
import type { Session } from './session';

/** How often a job is looked at while `hdms` waits for it. */
export const POLL_MS = 500;

/** Shows a job's progress while `hdms` waits for it. */
export interface ProgressReporter {
  /** The job as last seen. */
  update(job: Job): void;
  /** Ends the display (the bar stays, at its last value). */
  stop(): void;
}

/**
 * A progress display on `stream`: a bar (cli-progress) on a terminal; on anything else (a pipe, a
 * file, CI logs) a plain line each time the job's status changes or its progress passes another
 * tenth, e.g. `Importing #7: running 500/2000 rows (25%)`.
 */
export function progressReporter(
  label: string,
  unit: string,
  stream: NodeJS.WriteStream = process.stdout,
): ProgressReporter {
  return stream.isTTY ? barReporter(label, unit, stream) : lineReporter(label, unit, stream);
}

function lineReporter(label: string, unit: string, stream: NodeJS.WriteStream): ProgressReporter {
  let last: { status: string; tenth: number } | null = null;
  return {
    update(job) {
      const progress = job.progress;
      const tenth = progress ? Math.floor(percent(progress.done, progress.total) / 10) : -1;
      if (last && last.status === job.status && last.tenth === tenth) return;
      last = { status: job.status, tenth };
      stream.write(
        progress
          ? `${label}: ${job.status} ${progress.done}/${progress.total} ${unit} (${percent(progress.done, progress.total)}%)\n`
          : `${label}: ${job.status}\n`,
      );
    },
    stop() {},
  };
}

function barReporter(label: string, unit: string, stream: NodeJS.WriteStream): ProgressReporter {
  const bar = new SingleBar(
    {
      stream,
      format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | {status}`,
      hideCursor: true,
      barsize: 30,
    },
    Presets.shades_classic,
  );
  let started = false;
  return {
    update(job) {
      const { done, total } = job.progress ?? { done: 0, total: 0 };
      if (!started) {
        bar.start(total, done, { status: job.status });
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(done, { status: job.status });
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

function percent(done: number, total: number): number {
  return total > 0 ? Math.floor((done / total) * 100) : 0;
}

/**
 * Waits for job `jobId` to finish, showing its progress, and resolves with it. Ctrl-C (SIGINT)
 * stops the watching, not the job: the display is closed, and the command ends with exit code
 * 130 and a line saying how to find the job again.
 */
export async function followJob(
  session: Session,
  jobId: number,
  display: { label: string; unit: string; what: string; stream?: NodeJS.WriteStream },
): Promise<Job> {
  const progress = progressReporter(display.label, display.unit, display.stream);
  const interrupted = new AbortController();
  const onSignal = () => interrupted.abort();
  process.once('SIGINT', onSignal);
  try {
    return await waitForJob(session.client, jobId, {
      intervalMs: POLL_MS,
      onProgress: progress.update,
      signal: interrupted.signal,
    });
  } catch (error) {
    if (!interrupted.signal.aborted) throw error;
    progress.stop();
    throw new CliError(
      `Stopped watching ${display.what} job #${jobId}; it goes on on the server (\`hdms jobs\` shows it)`,
      EXIT.interrupted,
    );
  } finally {
    process.off('SIGINT', onSignal);
    progress.stop();
  }
}
