import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createDatabase, type Database, Op } from '@hdms/db';
import { afterAll, describe, expect, it } from 'vitest';
import { DB_KINDS, freshDatabase, type TestDatabase } from '../helpers/db';
import { waitForJob } from '../helpers/jobs';
import { http } from '../helpers/server';
import { startServerProcess } from '../helpers/serverProcess';
import { waitFor } from '../helpers/wait';

/*
 * An accepted import survives its server being killed (SIGKILL) three times while it runs: each
 * cut run is an interruption, not an attempt; each restart resumes after the last committed
 * batch; every row is admitted exactly once and the job succeeds on its first attempt.
 */

const ENV = {
  ADMIN_USERNAME: 'chief',
  ADMIN_EMAIL: 'chief@example.org',
  ADMIN_PASSWORD: 'orchard-compass-17',
  JOB_LEASE_SECONDS: '2',
  WORKER_THREADS: '1',
};

const ROWS = 60_000;
const KILLS = 3;

const kinds = DB_KINDS;

describe.each(kinds)('an import across three kill -9 on %s', (kind) => {
  let target: TestDatabase;
  let db: Database | undefined;
  const children: ChildProcess[] = [];
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await db?.close();
    await target?.drop();
  });

  it('admits every row exactly once, the kills counted as interruptions', async () => {
    target = await freshDatabase(kind);
    let server = await startServerProcess({ DATABASE_URL: target.url, ...ENV });
    children.push(server.child);
    db = await createDatabase(target.url);
    const login = await http(server.url, 'POST', '/login', {
      body: { username: ENV.ADMIN_USERNAME, password: ENV.ADMIN_PASSWORD },
    });
    const csv = ['name,age,gender', ...Array.from({ length: ROWS }, (_, i) => `Kill ${i},${i % 100},f`)].join(
      '\n',
    );
    const accepted = await http(server.url, 'POST', '/patients/import', {
      token: login.body.token,
      raw: csv,
      headers: { 'content-type': 'text/csv' },
    });
    expect(accepted.status).toBe(202);
    const jobId = accepted.body.job_id as number;

    let seen = 0;
    for (let kill = 1; kill <= KILLS; kill++) {
      // Killed while running, after at least one more batch committed by this server.
      const job = await waitFor(
        async () => {
          const row = await db!.models.Job.findByPk(jobId);
          return row?.status === 'running' && (row.progressDone ?? 0) > seen ? row : null;
        },
        { what: `the import to commit a batch before kill ${kill}`, timeoutMs: 60_000 },
      );
      seen = job.progressDone ?? 0;
      expect(seen).toBeLessThan(ROWS);
      server.child.kill('SIGKILL');
      await once(server.child, 'exit');
      server = await startServerProcess({ DATABASE_URL: target.url, ...ENV });
      children.push(server.child);
    }

    const done = await waitForJob(db, jobId, ['succeeded', 'failed'], 180_000);
    expect(done).toMatchObject({ status: 'succeeded', attempts: 1, interruptions: KILLS });
    expect(done.result).toMatchObject({ rows: ROWS, imported: ROWS, rejected: 0 });
    const names = (
      await db.models.Patient.findAll({ attributes: ['name'], where: { name: { [Op.like]: 'Kill %' } } })
    ).map((p) => p.name);
    expect(names).toHaveLength(ROWS);
    expect(new Set(names).size).toBe(ROWS);
    expect(await db.models.AuditEvent.count({ where: { procedure: 'patients.import' } })).toBe(ROWS);
    // The upload is deleted with the success.
    expect(await db.models.JobFile.count({ where: { jobId } })).toBe(0);

    server.child.kill('SIGTERM');
    await once(server.child, 'exit');
  }, 400_000);
});
