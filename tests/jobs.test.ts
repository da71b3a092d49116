import { randomUUID } from 'node:crypto';
import { TRPCClientError } from '@trpc/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueJob } from '../server/src/jobs/queue';
import { patientUpdateJob } from '../server/src/jobs/types/patientUpdate';
import { sessionsPurgeJob } from '../server/src/jobs/types/sessionsPurge';
import { testFailJob, testHangJob, testSleepJob } from '../server/src/jobs/types/testing';
import { doctorWithPatient, effects, enqueue, isFinished, waitForJob, waitForJobs } from './helpers/jobs';
import {
  adminToken as signInAdmin,
  http,
  signedInUser,
  startTestServer,
  type TestServer,
  trpcClient,
} from './helpers/server';
import { waitFor } from './helpers/wait';

/** The tRPC error code of a call that must fail. */
async function codeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'OK';
  } catch (error) {
    if (error instanceof TRPCClientError) return String(error.data?.code);
    throw error;
  }
}

/*
 * The background job queue on a running server: patient updates through REST and tRPC, who sees
 * which job, retries, time limits, rollbacks and per-patient ordering. Every test makes its own
 * doctor and patient; the test-only job types (`JOBS_TEST_TYPES=1`) count their effects as audit
 * rows.
 */
describe('background jobs', () => {
  let t: TestServer;
  let adminToken: string;

  beforeAll(async () => {
    t = await startTestServer(
      { WORKER_THREADS: '4', LOG_LEVEL: process.env.JOBS_LOG ?? 'silent' },
      { testJobs: true },
    );
    adminToken = await signInAdmin(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  /** A doctor account linked to a new doctor record with one patient. */
  async function doctorAndPatient(age = 30) {
    const { doctorId, patientId } = await doctorWithPatient(t.db, age);
    const doctor = await signedInUser(t, 'doctor', { doctorId });
    return { doctorId, patientId, doctor };
  }

  /** Polls `GET /jobs/:id` until the job has finished; returns the last answer. */
  async function pollJob(id: number, token: string) {
    return waitFor(
      async () => {
        const res = await http(t.url, 'GET', `/jobs/${id}`, { token });
        return res.status !== 200 || isFinished(res.body.status) ? res : null;
      },
      { what: `GET /jobs/${id} to show it finished`, timeoutMs: 20_000 },
    );
  }

  it('applies a queued update (POST /update_patient/:id → 202) in a worker; visible afterwards', async () => {
    const { patientId, doctor } = await doctorAndPatient(30);
    const accepted = await http(t.url, 'POST', `/update_patient/${patientId}`, {
      token: doctor.token,
      body: { age: 41, diagnosis: 'Influenza', prescribed_medicine: 'Rest' },
    });
    expect(accepted.status).toBe(202);
    expect(accepted.body).toEqual({ message: expect.any(String), job_id: expect.any(Number) });
    expect(accepted.headers.get('location')).toBe(`/jobs/${accepted.body.job_id}`);

    const done = await pollJob(accepted.body.job_id, doctor.token);
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({
      id: accepted.body.job_id,
      type: 'patient.update',
      status: 'succeeded',
      attempts: 1,
      result: { patient_id: patientId, changed_fields: ['age', 'diagnosis', 'prescribedMedicine'] },
    });
    expect(done.body.error).toBeUndefined();

    const record = await trpcClient(t.url, doctor.token).patients.get.query({ id: patientId });
    expect(record).toMatchObject({ age: 41, diagnosis: 'Influenza', prescribedMedicine: 'Rest' });
    const revisions = await t.db.models.PatientRevision.findAll({ where: { patientId } });
    expect(revisions).toHaveLength(1);
    expect(revisions[0]!.actorId).toBe(doctor.id);
    expect(revisions[0]!.changes).toEqual({
      age: { old: 30, new: 41 },
      diagnosis: { old: null, new: 'Influenza' },
      prescribedMedicine: { old: null, new: 'Rest' },
    });
    // The same audit row as patients.update, carrying the accepting request's id.
    const audit = await t.db.models.AuditEvent.findAll({ where: { patientId, action: 'update' } });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      actorId: doctor.id,
      procedure: 'patient.update',
      requestId: accepted.headers.get('x-request-id'),
    });
    // A finished job keeps no payload (it held clinical values).
    expect((await t.db.models.Job.findByPk(accepted.body.job_id))!.payload).toBeNull();
  });

  it('patients.updateAsync returns { jobId }; jobs.get follows it to the result', async () => {
    const { patientId, doctor } = await doctorAndPatient(50);
    const client = trpcClient(t.url, doctor.token);
    const { jobId } = await client.patients.updateAsync.mutate({
      id: patientId,
      name: 'Renamed',
      roomNumber: undefined,
    });
    expect(jobId).toEqual(expect.any(Number));
    const job = await waitFor(
      async () => {
        const job = await client.jobs.get.query({ id: jobId });
        return isFinished(job.status) ? job : null;
      },
      { what: `jobs.get to show job ${jobId} finished`, timeoutMs: 20_000 },
    );
    expect(job).toMatchObject({
      id: jobId,
      status: 'succeeded',
      result: { patientId, changedFields: ['name'] },
      patientId,
      createdBy: { type: 'user', id: doctor.id, name: doctor.username },
    });
    expect(job.finishedAt).toBeInstanceOf(Date);
    expect((await client.patients.get.query({ id: patientId })).name).toBe('Renamed');
  });

  it('refuses at once, queueing nothing: bad input 400, a refused field 403, out of scope 404', async () => {
    const { patientId, doctor } = await doctorAndPatient();
    const other = await doctorAndPatient();
    const patientAccount = await signedInUser(t, 'patient', { patientId });
    const before = await t.db.models.Job.count();
    const post = (id: number | string, body: unknown, token = doctor.token) =>
      http(t.url, 'POST', `/update_patient/${id}`, { token, body });

    const bad = await post(patientId, { age: -1 });
    expect(bad.status).toBe(400);
    expect(bad.body.issues[0].path).toBe('age');
    expect((await post(patientId, { agee: 3 })).status).toBe(400);
    expect((await post(patientId, {})).status).toBe(400);
    expect((await post(patientId, [{ age: 3 }])).status).toBe(400);
    expect((await post('abc', { age: 3 })).status).toBe(400);
    expect((await post(patientId, { id: 999, age: 3 })).status).toBe(400);
    const refused = await post(patientId, { room_number: '12' });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatch(/room_number/);
    expect((await post(other.patientId, { age: 3 })).status).toBe(404);
    expect((await post(2_000_000, { age: 3 })).status).toBe(404);
    expect((await post(patientId, { age: 3 }, patientAccount.token)).status).toBe(403);
    expect((await post(patientId, { doctor_id: 2_000_000 }, adminToken)).status).toBe(400);
    expect((await http(t.url, 'POST', `/update_patient/${patientId}`, { body: { age: 3 } })).status).toBe(
      401,
    );

    const client = trpcClient(t.url, doctor.token);
    expect(await codeOf(client.patients.updateAsync.mutate({ id: other.patientId, age: 3 }))).toBe(
      'NOT_FOUND',
    );
    expect(await codeOf(client.patients.updateAsync.mutate({ id: patientId, bedNumber: '1' }))).toBe(
      'FORBIDDEN',
    );
    expect(await t.db.models.Job.count()).toBe(before);
    // The refusal is on the audit trail like any other.
    expect(
      await t.db.models.AuditEvent.count({
        where: { patientId: other.patientId, action: 'denied', procedure: 'patients.updateAsync' },
      }),
    ).toBeGreaterThan(0);
  });

  it('shows a job only to whoever started it and to admins; admins never see clinical content', async () => {
    const { patientId, doctor } = await doctorAndPatient();
    const stranger = await doctorAndPatient();
    const patientAccount = await signedInUser(t, 'patient', { patientId });
    const { jobId } = await trpcClient(t.url, doctor.token).patients.updateAsync.mutate({
      id: patientId,
      diagnosis: 'Secret diagnosis',
    });
    await waitForJob(t.db, jobId);

    for (const token of [stranger.doctor.token, patientAccount.token]) {
      expect((await http(t.url, 'GET', `/jobs/${jobId}`, { token })).status).toBe(404);
      expect(await codeOf(trpcClient(t.url, token).jobs.get.query({ id: jobId }))).toBe('NOT_FOUND');
      const listed = await trpcClient(t.url, token).jobs.list.query({});
      expect(listed.items.map((j) => j.id)).not.toContain(jobId);
    }
    expect((await http(t.url, 'GET', `/jobs/${jobId}`)).status).toBe(401);
    expect((await http(t.url, 'GET', '/jobs/2000000', { token: doctor.token })).status).toBe(404);

    const asAdmin = await http(t.url, 'GET', `/jobs/${jobId}`, { token: adminToken });
    expect(asAdmin.status).toBe(200);
    expect(asAdmin.body).toMatchObject({ status: 'succeeded', result: { changed_fields: ['diagnosis'] } });
    expect(JSON.stringify(asAdmin.body)).not.toContain('Secret diagnosis');
    const adminList = await trpcClient(t.url, adminToken).jobs.list.query({ type: 'patient.update' });
    expect(JSON.stringify(adminList)).not.toContain('Secret diagnosis');
    expect(adminList.items.map((j) => j.id)).toContain(jobId);
    const mine = await trpcClient(t.url, doctor.token).jobs.list.query({});
    expect(mine.items.map((j) => j.id)).toEqual([jobId]);
  });

  it('jobs.list: newest first in keyset pages; admins filter by type and status', async () => {
    const { doctor, patientId } = await doctorAndPatient();
    const client = trpcClient(t.url, doctor.token);
    const ids: number[] = [];
    for (const age of [1, 2, 3])
      ids.push((await client.patients.updateAsync.mutate({ id: patientId, age })).jobId);
    await waitForJobs(t.db, ids);
    const first = await client.jobs.list.query({ limit: 2 });
    expect(first.items.map((j) => j.id)).toEqual([ids[2], ids[1]]);
    expect(first.nextCursor).toBe(ids[1]);
    const second = await client.jobs.list.query({ limit: 2, cursor: first.nextCursor });
    expect(second.items.map((j) => j.id)).toEqual([ids[0]]);
    expect(second.nextCursor).toBeNull();
    expect((await client.jobs.list.query({ status: 'failed' })).items).toEqual([]);

    const failed = await enqueue(t.db, { type: testFailJob, payload: { failures: 99 } });
    await waitForJob(t.db, failed.id);
    const admin = trpcClient(t.url, adminToken);
    const failures = await admin.jobs.list.query({ status: 'failed', type: 'test.fail' });
    expect(failures.items.map((j) => j.id)).toContain(failed.id);
    expect(failures.items.every((j) => j.status === 'failed' && j.type === 'test.fail')).toBe(true);
    expect(await codeOf(admin.jobs.list.query({ status: 'done' as 'failed' }))).toBe('BAD_REQUEST');
  });

  it('runs as the user as they are now: a link revoked before the run fails the job, without retry', async () => {
    const { patientId, doctor, doctorId } = await doctorAndPatient(30);
    await t.db.models.User.update({ doctorId: null }, { where: { id: doctor.id } });
    const { id } = await enqueue(t.db, {
      type: patientUpdateJob,
      payload: { patientId, changes: { age: 31 } },
      owner: { type: 'user', id: doctor.id, name: doctor.username },
      serialKey: `patient:${patientId}`,
    });
    const job = await waitForJob(t.db, id);
    expect(job).toMatchObject({ status: 'failed', attempts: 1, error: 'Patient not found' });
    expect((await t.db.models.Patient.findByPk(patientId))!.age).toBe(30);

    await t.db.models.User.update({ doctorId, disabledAt: new Date() }, { where: { id: doctor.id } });
    const disabled = await enqueue(t.db, {
      type: patientUpdateJob,
      payload: { patientId, changes: { age: 32 } },
      owner: { type: 'user', id: doctor.id, name: doctor.username },
    });
    expect(await waitForJob(t.db, disabled.id)).toMatchObject({
      status: 'failed',
      attempts: 1,
      error: 'The account that started this job is disabled',
    });
  });

  it('never runs a job enqueued in a transaction that rolled back', async () => {
    const requestId = randomUUID();
    await expect(
      t.db.transaction(async (tx) => {
        await enqueueJob(t.db, tx, {
          type: testSleepJob,
          payload: { ms: 0 },
          owner: { type: 'system', id: 0, name: 'system' },
          requestId,
        });
        throw new Error('the cause failed');
      }),
    ).rejects.toThrow('the cause failed');
    const committed = await enqueue(t.db, { type: testSleepJob, payload: { ms: 0 } });
    // The committed job, enqueued after the rolled-back one, has run: the queue has had its chance
    // to run anything enqueued before it.
    await waitForJob(t.db, committed.id);
    expect(await t.db.models.Job.count({ where: { requestId } })).toBe(0);
    expect(await effects(t.db, requestId)).toBe(0);
    expect(await effects(t.db, committed.requestId)).toBe(1);
  });

  it('retries a failing job with growing delays, then succeeds, taking effect once', async () => {
    const started = Date.now();
    const { id, requestId } = await enqueue(t.db, { type: testFailJob, payload: { failures: 2 } });
    const job = await waitForJob(t.db, id);
    expect(job).toMatchObject({ status: 'succeeded', attempts: 3, result: { attempt: 3 } });
    // Backoff 200 ms, then 400 ms (each up to 20% more).
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
    expect(await effects(t.db, requestId)).toBe(1);
  });

  it('marks a job failed after its last attempt, with a message that shows no internals', async () => {
    const { id, requestId } = await enqueue(t.db, { type: testFailJob, payload: { failures: 99 } });
    const job = await waitForJob(t.db, id);
    expect(job).toMatchObject({ status: 'failed', attempts: 3, error: 'Internal server error' });
    expect(job.finishedAt).toBeInstanceOf(Date);
    expect(job.leaseOwner).toBeNull();
    expect(await effects(t.db, requestId)).toBe(0);
  });

  it('aborts a hanging job at its time limit, retries it, and the server keeps answering', async () => {
    const hang = await enqueue(t.db, { type: testHangJob, payload: {} });
    await waitForJob(t.db, hang.id, ['running']);
    const started = Date.now();
    const health = await http(t.url, 'GET', '/healthz');
    expect(health.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(1000);
    const job = await waitForJob(t.db, hang.id);
    expect(job).toMatchObject({ status: 'failed', attempts: 2, error: 'Timed out after 1 s' });
    // The pool replaced the terminated threads: jobs still run.
    const next = await enqueue(t.db, { type: testSleepJob, payload: { ms: 1 } });
    expect((await waitForJob(t.db, next.id)).get({ plain: true })).toMatchObject({ status: 'succeeded' });
  });

  it('applies updates of one patient in the order accepted, whatever the number of workers', async () => {
    const { patientId, doctor } = await doctorAndPatient(30);
    const client = trpcClient(t.url, doctor.token);
    // Accepted together: the lock on the patient's row orders them; the highest job id is the last.
    const accepted = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        client.patients.updateAsync.mutate({ id: patientId, age: 60 + i }),
      ),
    );
    const jobs = await waitForJobs(
      t.db,
      accepted.map((a) => a.jobId),
    );
    expect([...jobs.values()].every((j) => j.status === 'succeeded')).toBe(true);
    const payloadOfLast =
      60 + accepted.findIndex((a) => a.jobId === Math.max(...accepted.map((x) => x.jobId)));
    expect((await t.db.models.Patient.findByPk(patientId))!.age).toBe(payloadOfLast);
    // The revisions were written in the order of the jobs' ids.
    const ordered = [...jobs.values()].sort((a, b) => a.id - b.id);
    const revisions = await t.db.models.PatientRevision.findAll({
      where: { patientId },
      order: [['id', 'ASC']],
    });
    expect(revisions.map((r) => r.changes.age!.new)).toEqual(
      ordered.map((j) => 60 + accepted.findIndex((a) => a.jobId === j.id)),
    );

    // Sent one after another: the last one sent wins.
    for (let age = 70; age < 80; age++) await client.patients.updateAsync.mutate({ id: patientId, age });
    const last = (await client.jobs.list.query({ limit: 1 })).items[0]!;
    await waitForJob(t.db, last.id);
    expect((await t.db.models.Patient.findByPk(patientId))!.age).toBe(79);
  });

  it('sessions.purge deletes expired sessions and keeps live ones; one is kept queued', async () => {
    const user = await signedInUser(t, 'patient');
    const { Session } = t.db.models;
    const now = Date.now();
    await Session.bulkCreate([
      { id: `idle-${randomUUID()}`.slice(0, 64), userId: user.id, expiresAt: new Date(now - 1000) },
      {
        id: `old-${randomUUID()}`.slice(0, 64),
        userId: user.id,
        expiresAt: new Date(now + 60_000),
        createdAt: new Date(now - 13 * 3_600_000),
      },
    ]);
    const live = await Session.count({ where: { userId: user.id } });
    const { id } = await enqueue(t.db, { type: sessionsPurgeJob, payload: {} });
    const job = await waitForJob(t.db, id);
    expect(job.status).toBe('succeeded');
    expect((job.result as { deleted: number }).deleted).toBeGreaterThanOrEqual(2);
    expect(await Session.count({ where: { userId: user.id } })).toBe(live - 2);
    // The session of `user` signed in above is still valid.
    expect((await http(t.url, 'GET', '/trpc/auth.me', { token: user.token })).status).toBe(200);

    await t.server.jobs!.ensureRecurring();
    await t.server.jobs!.ensureRecurring();
    const queued = await t.db.models.Job.findAll({ where: { type: 'sessions.purge', status: 'queued' } });
    expect(queued).toHaveLength(1);
    expect(queued[0]).toMatchObject({ uniqueKey: 'sessions.purge', createdByType: 'system' });
    expect(queued[0]!.runAfter.getTime()).toBeGreaterThan(Date.now() + 30 * 60_000);
  });
});

/*
 * Several jobs per worker thread (JOBS_TASKS_PER_THREAD, MySQL only): a thread terminated for one
 * run's time limit takes the runs sharing it down too; those are interrupted and run again, not
 * failed attempts. On SQLite a thread runs one job at a time, so nothing else is cut.
 */
describe('jobs sharing a worker thread', () => {
  let t: TestServer;

  beforeAll(async () => {
    t = await startTestServer(
      { WORKER_THREADS: '1', JOBS_TASKS_PER_THREAD: '4', LOG_LEVEL: process.env.JOBS_LOG ?? 'silent' },
      { testJobs: true },
    );
  });
  afterAll(async () => {
    await t?.close();
  });

  it('runs several jobs at once on one thread (MySQL), one at a time on SQLite', async () => {
    // The thread started and connected first, so that only the runs are timed.
    await waitForJob(t.db, (await enqueue(t.db, { type: testSleepJob, payload: { ms: 1 } })).id);
    const jobs = await Promise.all(
      Array.from({ length: 4 }, () => enqueue(t.db, { type: testSleepJob, payload: { ms: 2_000 } })),
    );
    const started = Date.now();
    const done = await waitForJobs(
      t.db,
      jobs.map((j) => j.id),
    );
    const elapsed = Date.now() - started;
    expect([...done.values()].every((j) => j.status === 'succeeded')).toBe(true);
    // Together: about 2 s; one after another: 8 s at least.
    if (t.db.dialect === 'mysql') expect(elapsed).toBeLessThan(6_000);
    else expect(elapsed).toBeGreaterThanOrEqual(4 * 2_000);
  });

  it('a job on the thread of a job cut at its time limit is interrupted and run again, not failed', async () => {
    const sleeper = await enqueue(t.db, { type: testSleepJob, payload: { ms: 4_000 } });
    await waitForJob(t.db, sleeper.id, ['running']);
    const hang = await enqueue(t.db, { type: testHangJob, payload: {} });
    expect((await waitForJob(t.db, hang.id)).get({ plain: true })).toMatchObject({
      status: 'failed',
      attempts: 2,
    });
    const done = (await waitForJob(t.db, sleeper.id)).get({ plain: true });
    expect(done).toMatchObject({ status: 'succeeded', attempts: 1, error: null });
    const requeued = await t.db.models.ChangeEvent.count({
      where: { type: 'job.queued', entityId: sleeper.id },
    });
    // Queued once when accepted; on MySQL again after each cut of the thread it shared.
    if (t.db.dialect === 'mysql') expect(requeued).toBeGreaterThanOrEqual(2);
    else expect(requeued).toBe(1);
  });
});
