import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDatabase, DatabaseOpenError } from '@hdms/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_DB_KIND } from './helpers/db';

/** Opens `url` and expects a one-line `DatabaseOpenError` naming `file`, within two seconds. */
async function expectOpenFailure(url: string, file: string, reason: RegExp): Promise<void> {
  const started = performance.now();
  const error = await createDatabase(url).then(
    async (db) => {
      await db.close();
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(performance.now() - started).toBeLessThan(2_000);
  expect(error).toBeInstanceOf(DatabaseOpenError);
  const message = (error as Error).message;
  expect(message.startsWith(`cannot open the SQLite database ${file}: `), message).toBe(true);
  expect(message).toMatch(reason);
  expect(message).not.toContain('\n');
}

// The file system is the same whichever database the other suites run on: run these once.
describe.skipIf(TEST_DB_KIND !== 'sqlite')('SQLite file paths that cannot work', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hdms-paths-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('a folder that cannot be created (under /proc) fails at once instead of hanging', async () => {
    await expectOpenFailure(
      'sqlite:/proc/x/hdms.sqlite',
      '/proc/x/hdms.sqlite',
      /cannot create the directory \/proc\/x/,
    );
  });

  it('a folder where no file can be created fails naming the file', async () => {
    await expectOpenFailure('sqlite:/proc/hdms.sqlite', '/proc/hdms.sqlite', /SQLITE_CANTOPEN/);
  });

  it('a parent that is a regular file fails naming that file', async () => {
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'not a folder');
    await expectOpenFailure(
      `sqlite:${file}/hdms.sqlite`,
      `${file}/hdms.sqlite`,
      /plain-file is not a directory/,
    );
    await expectOpenFailure(
      `sqlite:${file}/deeper/hdms.sqlite`,
      `${file}/deeper/hdms.sqlite`,
      /plain-file is not a directory/,
    );
  });

  it('a path that is a directory fails', async () => {
    const folder = join(dir, 'a-folder');
    mkdirSync(folder);
    await expectOpenFailure(`sqlite:${folder}`, folder, /it is a directory/);
  });

  it('a file that is not a SQLite database fails', async () => {
    const file = join(dir, 'notes.txt');
    writeFileSync(file, 'just some text, long enough to have a header that is not SQLite at all....');
    await expectOpenFailure(`sqlite:${file}`, file, /SQLITE_NOTADB/);
  });

  it('a device instead of a file fails', async () => {
    await expectOpenFailure('sqlite:/dev/null', '/dev/null', /not a regular file/);
  });

  it('missing folders are created, several levels deep', async () => {
    const file = join(dir, 'new', 'deeper', 'hdms.sqlite');
    const db = await createDatabase(`sqlite:${file}`);
    try {
      await db.ping();
    } finally {
      await db.close();
    }
  });
});
