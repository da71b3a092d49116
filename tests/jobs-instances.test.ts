import { afterAll, describe, expect, it } from 'vitest';
import { patientUpdateJob } from '../server/src/jobs/types/patientUpdate';
import { testHangJob, testSleepJob } from '../server/src/jobs/types/testing';
import { freshDatabase, TEST_DB_KIND, type TestDatabase } from './helpers/db';
import { doctorWithPatient, effects, enqueue, waitForJob, waitForJobs } from './helpers/jobs';
import {
  adminToken,
  http,
  signedInUser,
  startTestServer,
  type TestServer,
  trpcClient,
} from './helpers/server';
import { quietPeriod } from './helpers/wait';

/*
 * Servers sharing a database, and servers stopping: jobs are neither lost nor run twice. Each test
 * makes its own database and servers.
 */
describe('job queue across server instances and shutdowns', () => {
  const targets: TestDatabase[] = [];
  const servers: TestServer[] = [];
  afterAll(async () => {
    for (const server of servers) await server.close(0).catch(() => undefined);
    for (const target of targets) await target.drop();
  });

  async function database(): Promise<TestDatabase> {
    const target = await freshDatabase();
    targets.push(target);
    return target;
  }
  async function server(target: TestDatabase, env: Record<string, string> = {}): Promise<TestServer> {
    const started = await startTestServer(
      { LOG_LEVEL: process.env.JOBS_LOG ?? 'silent', ...env },
      { target, testJobs: true },
    );
    servers.push(started);
    return started;
  }

  it('two servers on one database run every job exactly once', async () => {
    const target = await database();
    const one = await server(target, { WORKER_THREADS: '3' });
    const two = await server(target, { WORKER_THREADS: '3' });
    const { doctorId, patientId } = await doctorWithPatient(one.db, 20);
    const doctor = await signedInUser(one, 'doctor', { doctorId });
    const owner = { type: 'user' as const, id: doctor.id, name: doctor.username };

    const sleeps: { id: number; requestId: string }[] = [];
    const updates: { id: number; requestId: string }[] = [];
    for (let i = 0; i < 60; i++) {
      // Enqueued through both servers' databases, as two instances would.
      const db = i % 2 ? one.db : two.db;
      sleeps.push(await enqueue(db, { type: testSleepJob, payload: { ms: 5 } }));
      if (i % 3 === 0) {
        updates.push(
          await enqueue(db, {
            type: patientUpdateJob,
            payload: { patientId, changes: { age: 21 + i } },
            owner,
            serialKey: `patient:${patientId}`,
            patientId,
          }),
        );
      }
    }
    const jobs = await waitForJobs(
      one.db,
      [...sleeps, ...updates].map((j) => j.id),
    );
    expect([...jobs.values()].filter((j) => j.status !== 'succeeded')).toEqual([]);
    for (const { requestId } of sleeps) expect(await effects(one.db, requestId)).toBe(1);
    // Every update took effect once (one audit row each), the last accepted last.
    for (const { requestId } of updates) {
      expect(
        await one.db.models.AuditEvent.count({ where: { requestId, procedure: 'patient.update' } }),
      ).toBe(1);
    }
    expect(await one.db.models.PatientRevision.count({ where: { patientId } })).toBe(updates.length);
    expect((await one.db.models.Patient.findByPk(patientId))!.age).toBe(21 + 57);
    // The recurring job is queued once, whichever server queued it.
    expect(await one.db.models.Job.count({ where: { type: 'sessions.purge', status: 'queued' } })).toBe(1);
  });

  it('graceful shutdown finishes the running job and leaves queued ones queued for the next start', async () => {
    const target = await database();
    // One job at a time on the one thread: the others wait in the queue.
    const first = await server(target, { WORKER_THREADS: '1', JOBS_TASKS_PER_THREAD: '1' });
    const running = await enqueue(first.db, { type: testSleepJob, payload: { ms: 1200 } });
    await waitForJob(first.db, running.id, ['running']);
    const waiting = [
      await enqueue(first.db, { type: testSleepJob, payload: { ms: 0 } }),
      await enqueue(first.db, { type: testSleepJob, payload: { ms: 0 } }),
    ];
    await first.close(10_000);

    const probe = await startTestServer({}, { target, testJobs: true, jobs: false });
    servers.push(probe);
    expect(await probe.db.models.Job.findByPk(running.id)).toMatchObject({
      status: 'succeeded',
      attempts: 1,
    });
    expect(await effects(probe.db, running.requestId)).toBe(1);
    for (const { id } of waiting) {
      expect(await probe.db.models.Job.findByPk(id)).toMatchObject({
        status: 'queued',
        attempts: 0,
        leaseOwner: null,
      });
    }
    await probe.close();

    const second = await server(target, { WORKER_THREADS: '2' });
    for (const { id, requestId } of waiting) {
      expect((await waitForJob(second.db, id)).status).toBe('succeeded');
      expect(await effects(second.db, requestId)).toBe(1);
    }
  });

  it('a job still running when the shutdown grace ends goes back to the queue, its attempt not counted', async () => {
    const target = await database();
    // One job at a time on the one thread: the others wait in the queue.
    const first = await server(target, { WORKER_THREADS: '1', JOBS_TASKS_PER_THREAD: '1' });
    const slow = await enqueue(first.db, { type: testSleepJob, payload: { ms: 2500 } });
    await waitForJob(first.db, slow.id, ['running']);
    await first.close(200);
    const probe = await startTestServer({}, { target, testJobs: true, jobs: false });
    servers.push(probe);
    expect(await probe.db.models.Job.findByPk(slow.id)).toMatchObject({
      status: 'queued',
      attempts: 0,
      leaseOwner: null,
    });
    expect(await effects(probe.db, slow.requestId)).toBe(0);
    await probe.close();
    const second = await server(target);
    expect(await waitForJob(second.db, slow.id)).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(await effects(second.db, slow.requestId)).toBe(1);
  });

  it('a server that accepts jobs but runs none (jobs: false) leaves them to another instance', async () => {
    const target = await database();
    const apiOnly = await startTestServer({}, { target, testJobs: true, jobs: false });
    servers.push(apiOnly);
    const { doctorId, patientId } = await doctorWithPatient(apiOnly.db, 40);
    const doctor = await signedInUser(apiOnly, 'doctor', { doctorId });
    const { jobId } = await trpcClient(apiOnly.url, doctor.token).patients.updateAsync.mutate({
      id: patientId,
      age: 41,
    });
    // Nothing runs it: the job stays queued while no instance runs jobs.
    await quietPeriod(800, 'an API-only server (jobs: false) to run no job');
    expect((await apiOnly.db.models.Job.findByPk(jobId))!.status).toBe('queued');
    const worker = await server(target);
    expect((await waitForJob(worker.db, jobId)).status).toBe('succeeded');
    expect((await apiOnly.db.models.Patient.findByPk(patientId))!.age).toBe(41);
  });
});

describe.skipIf(TEST_DB_KIND === 'mysql')('jobs on sqlite::memory: (run in the main thread)', () => {
  it('applies updates and survives a hanging job', async () => {
    const memory: TestDatabase = { url: 'sqlite::memory:', kind: 'sqlite', drop: async () => undefined };
    const t = await startTestServer({}, { target: memory, testJobs: true });
    try {
      expect(t.server.jobs!.runner.kind).toBe('inline');
      const { doctorId, patientId } = await doctorWithPatient(t.db, 30);
      const doctor = await signedInUser(t, 'doctor', { doctorId });
      const accepted = await http(t.url, 'POST', `/update_patient/${patientId}`, {
        token: doctor.token,
        body: { age: 31, diagnosis: 'Checked' },
      });
      expect(accepted.status).toBe(202);
      expect(await waitForJob(t.db, accepted.body.job_id)).toMatchObject({ status: 'succeeded' });
      expect(await t.db.models.Patient.findByPk(patientId)).toMatchObject({ age: 31, diagnosis: 'Checked' });

      const hang = await enqueue(t.db, { type: testHangJob, payload: {} });
      await waitForJob(t.db, hang.id, ['running']);
      expect((await http(t.url, 'GET', '/healthz')).status).toBe(200);
      expect(await waitForJob(t.db, hang.id)).toMatchObject({
        status: 'failed',
        error: 'Timed out after 1 s',
      });
      const next = await enqueue(t.db, { type: testSleepJob, payload: { ms: 0 } });
      expect((await waitForJob(t.db, next.id)).status).toBe('succeeded');
      const admin = await adminToken(t);
      expect((await http(t.url, 'GET', `/jobs/${hang.id}`, { token: admin })).body).toMatchObject({
        status: 'failed',
        attempts: 2,
      });
    } finally {
      await t.close(0);
    }
  });
});
