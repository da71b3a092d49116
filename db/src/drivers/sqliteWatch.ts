import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname } from 'node:path';

/**
 * A watch on a SQLite file for commits of any connection, in this process or another: every
 * commit writes the file's write-ahead log (`<file>-wal`; the rollback journal or the file itself
 * in other journal modes), and the operating system tells of each write (inotify on Linux) without
 * a poll. It fires at a commit's first write, which may come before the commit is visible to
 * readers (its last write, the sync, the log's index in shared memory): whoever reads on it must
 * read again shortly (the event feed keeps its 250 ms bound for a while after each). It also fires
 * for writes that commit nothing of interest (sessions, audit rows, a checkpoint).
 */
export interface CommitWatch {
  /** False once the watch failed (the directory went away, the system's watches ran out). */
  readonly active: boolean;
  /** Ends the watch (idempotent). */
  close(): void;
}

/**
 * Watches the SQLite file `storage` (an absolute path) and calls `onChange` on each write to it or
 * its journal; on a failure of the watch it calls `onChange` once more and turns inactive. Null
 * when the file cannot be watched (`:memory:`, or the system refused a watch): poll instead.
 */
export function watchSqliteFile(storage: string, onChange: () => void): CommitWatch | null {
  if (storage === ':memory:') return null;
  const file = basename(storage);
  const names = new Set([file, `${file}-wal`, `${file}-journal`]);
  let watcher: FSWatcher;
  try {
    // The folder, not the file: the log is deleted when its last connection closes and created
    // again by the next one, which a watch on the file itself would not see.
    watcher = watch(dirname(storage), { persistent: false }, (_event, name) => {
      if (name === null || names.has(String(name))) onChange();
    });
  } catch {
    return null;
  }
  let active = true;
  const close = () => {
    if (!active) return;
    active = false;
    watcher.close();
  };
  watcher.on('error', () => {
    close();
    onChange();
  });
  return {
    get active() {
      return active;
    },
    close,
  };
}
