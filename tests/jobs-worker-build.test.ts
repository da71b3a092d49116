import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultWorkerFile, workerExecArgv } from '../server/src/jobs/pool';
import { patientUpdateJob } from '../server/src/jobs/types/patientUpdate';
import { testSleepJob } from '../server/src/jobs/types/testing';
import { doctorWithPatient, effects, enqueue, waitForJob } from './helpers/jobs';
import { signedInUser, startTestServer, type TestServer } from './helpers/server';

const ROOT = join(import.meta.dirname, '..');

/*
 * The worker threads' code loads from TypeScript (the source tree, through tsx's loader: `npm
 * start` and the other suites) and from compiled JavaScript (a build that emits `worker.js` next to
 * the server bundle). Here the worker and everything it imports are compiled with esbuild into a
 * temporary folder and run by plain Node, with no TypeScript loader at all.
 */
describe('job worker threads', () => {
  const servers: TestServer[] = [];
  const dirs: string[] = [];
  afterAll(async () => {
    for (const server of servers) await server.close(0);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('load from TypeScript in the source tree, adding tsx when the process has no loader', () => {
    const file = defaultWorkerFile();
    expect(file).toBe(join(ROOT, 'server', 'src', 'jobs', 'worker.ts'));
    const execArgv = workerExecArgv(file);
    expect(execArgv.join(' ')).toMatch(/tsx/);
    expect(workerExecArgv(join(ROOT, 'dist', 'worker.js'))).toEqual(process.execArgv);
  });

  it('run jobs from a compiled JavaScript worker, with no TypeScript loader', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hdms-worker-'));
    dirs.push(dir);
    const outfile = join(dir, 'worker.mjs');
    execFileSync(
      join(ROOT, 'node_modules', '.bin', 'esbuild'),
      [
        join(ROOT, 'server', 'src', 'jobs', 'worker.ts'),
        '--bundle',
        '--platform=node',
        '--format=esm',
        '--packages=external',
        `--alias:@hdms/db=${join(ROOT, 'db', 'src', 'index.ts')}`,
        `--outfile=${outfile}`,
        '--log-level=warning',
      ],
      { cwd: ROOT },
    );
    // The bundle's own dependencies (sequelize, zod, …) resolve as an installed build's would.
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');

    const t = await startTestServer(
      { WORKER_THREADS: '2' },
      { testJobs: true, jobs: { workerFile: outfile, execArgv: [] } },
    );
    servers.push(t);
    const sleep = await enqueue(t.db, { type: testSleepJob, payload: { ms: 1 } });
    expect(await waitForJob(t.db, sleep.id)).toMatchObject({ status: 'succeeded', result: { slept: 1 } });
    expect(await effects(t.db, sleep.requestId)).toBe(1);

    const { doctorId, patientId } = await doctorWithPatient(t.db, 30);
    const doctor = await signedInUser(t, 'doctor', { doctorId });
    const update = await enqueue(t.db, {
      type: patientUpdateJob,
      payload: { patientId, changes: { age: 33, diagnosis: 'Compiled' } },
      owner: { type: 'user', id: doctor.id, name: doctor.username },
    });
    expect(await waitForJob(t.db, update.id)).toMatchObject({ status: 'succeeded' });
    expect(await t.db.models.Patient.findByPk(patientId)).toMatchObject({ age: 33, diagnosis: 'Compiled' });
  });
});
