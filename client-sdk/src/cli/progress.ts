import { Presets, SingleBar } from 'cli-progress';
import type { Job } from '../rest';

/** Shows a job's progress while `hdms` waits for it. */
export interface ProgressReporter {
  /** The job as last seen. */
  update(job: Job): void;
  /** Ends the display (the bar stays, at its last value). */
  stop(): void;
}

/**
 * A progress display on stdout: a bar (cli-progress) on a terminal; on anything else (a pipe, a
 * file, CI logs) one plain line each time the job's status or progress changes, e.g.
 * `Importing: running 500/2000 rows (25%)`.
 */
export function progressReporter(
  label: string,
  unit: string,
  stream: NodeJS.WriteStream = process.stdout,
): ProgressReporter {
  return stream.isTTY ? barReporter(label, unit, stream) : lineReporter(label, unit, stream);
}

function lineReporter(label: string, unit: string, stream: NodeJS.WriteStream): ProgressReporter {
  let last = '';
  return {
    update(job) {
      const progress = job.progress;
      const line = progress
        ? `${label}: ${job.status} ${progress.done}/${progress.total} ${unit} (${percent(progress.done, progress.total)}%)`
        : `${label}: ${job.status}`;
      if (line !== last) stream.write(`${line}\n`);
      last = line;
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
