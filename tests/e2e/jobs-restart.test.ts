import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createDatabase, type Database } from '@hdms/db';
import { afterAll, describe, expect, it } from 'vitest';
import { patientUpdateJob } from '../../server/src/jobs/types/patientUpdate';
import { testSleepJob } from '../../server/src/jobs/types/testing';
import { DB_KINDS, freshDatabase, type TestDatabase } from '../helpers/db';
import { effects, enqueue, waitForJob } from '../helpers/jobs';
import { http } from '../helpers/server';
import { startServerProcess } from '../helpers/serverProcess';
import { quietPeriod } from '../helpers/wait';

const ENV = {
  ADMIN_USERNAME: 'chief',
  ADMIN_EMAIL: 'chief@example.org',
  ADMIN_PASSWORD: 'orchard-compass-17',
  JOBS_TEST_TYPES: '1',
  JOB_LEASE_SECONDS: '2',
  WORKER_THREADS: '2',
};

/** Starts the server process on `databaseUrl` and waits for its banner. */
const startProcess = (databaseUrl: string) => startServerProcess({ DATABASE_URL: databaseUrl, ...ENV });

const kinds = DB_KINDS;

describe.each(kinds)('background jobs across a kill -9 on %s', (kind) => {
  let target: TestDatabase;
  let db: Database | undefined;
  const children: ChildProcess[] = [];
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await db?.close();
    await target?.drop();
  });

  it('a job running when the server is killed is completed after the restart, exactly once', async () => {
    target = await freshDatabase(kind);
    const first = await startProcess(target.url);
    children.push(first.child);
    db = await createDatabase(target.url);

    const slow = await enqueue(db, { type: testSleepJob, payload: { ms: 3_000 } });
    const quick = await enqueue(db, { type: testSleepJob, payload: { ms: 0 } });
    await waitForJob(db, slow.id, ['running'], 30_000);
    expect((await waitForJob(db, quick.id, ['succeeded'], 30_000)).attempts).toBe(1);

    first.child.kill('SIGKILL');
    await once(first.child, 'exit');
    const orphaned = await db.models.Job.findByPk(slow.id);
    expect(orphaned).toMatchObject({ status: 'running', attempts: 1 });
    expect(orphaned!.leaseOwner).not.toBeNull();
    expect(await effects(db, slow.requestId)).toBe(0);

    // Accepted while no server runs: the cause committed, so the job waits in the table.
    const admin = await db.models.User.findOne({ where: { usernameKey: 'chief' } });
    const doctor = await db.models.Doctor.create({ name: 'Dr. Restart', specialization: 'Uptime' });
    const patient = await db.models.Patient.create({
      name: 'Pat',
      age: 50,
      gender: 'F',
      doctorId: doctor.id,
    });
    const update = await enqueue(db, {
      type: patientUpdateJob,
      payload: { patientId: patient.id, changes: { age: 51 } },
      owner: { type: 'user', id: admin!.id, name: 'chief' },
      serialKey: `patient:${patient.id}`,
    });

    const second = await startProcess(target.url);
    children.push(second.child);
    // Taken over once its lease (2 s) has expired: the crash is an interruption, not a second
    // attempt (issue 19); one effect in all.
    const done = await waitForJob(db, slow.id, ['succeeded', 'failed'], 30_000);
    expect(done).toMatchObject({ status: 'succeeded', attempts: 1, interruptions: 1, leaseOwner: null });
    expect(await effects(db, slow.requestId)).toBe(1);
    expect(await waitForJob(db, update.id, ['succeeded', 'failed'], 30_000)).toMatchObject({
      status: 'succeeded',
    });
    expect((await db.models.Patient.findByPk(patient.id))!.age).toBe(51);
    expect(await db.models.PatientRevision.count({ where: { patientId: patient.id } })).toBe(1);
    await quietPeriod(500, 'no second effect of a job taken over from the killed server');
    expect(await effects(db, slow.requestId)).toBe(1);
    expect(await effects(db, quick.requestId)).toBe(1);

    // A graceful stop (SIGTERM) leaves nothing running.
    expect((await http(second.url, 'GET', '/healthz')).status).toBe(200);
    second.child.kill('SIGTERM');
    const [code] = await once(second.child, 'exit');
    expect(code).toBe(0);
    expect(await db.models.Job.count({ where: { status: 'running' } })).toBe(0);
  }, 120_000);
});
