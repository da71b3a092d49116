import { randomUUID } from 'node:crypto';
import { Op, type Transaction } from '@hdms/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobFile, JobFileWriter, sweepJobFiles } from '../server/src/jobs/importExportFiles';
import { IMPORT_BATCH_ROWS, patientsImportJob } from '../server/src/jobs/types/patientsImport';
import { testSleepJob } from '../server/src/jobs/types/testing';
import type { JobContext } from '../server/src/jobs/types';
import { outcome } from './helpers/callers';
import { freshDatabase } from './helpers/db';
import { doctorWithPatient, enqueue, isFinished, waitForJob } from './helpers/jobs';
import {
  adminToken as signInAdmin,
  http,
  signedInUser,
  startTestServer,
  type TestServer,
  trpcClient,
} from './helpers/server';
import { waitFor } from './helpers/wait';

/*
 * The fair, crash-proof queue at WORKER_THREADS=1 (the default on 2 cores): the bulk lane yields
 * to interactive jobs, interactive jobs are taken round-robin by account, the per-account cap on
 * queued imports, crashes as interruptions, `jobs.retry` and `jobs.cancel`, upload retention.
 */

const CAP = 3;
const MAX_INTERRUPTIONS = 2;

let t: TestServer;
let admin: string;

beforeAll(async () => {
  t = await startTestServer(
    {
      WORKER_THREADS: '1',
      BULK_JOBS_MAX_QUEUED_PER_ACCOUNT: String(CAP),
      JOBS_MAX_INTERRUPTIONS: String(MAX_INTERRUPTIONS),
      LOG_LEVEL: process.env.JOBS_LOG ?? 'silent',
    },
    { testJobs: true },
  );
  admin = await signInAdmin(t);
});

afterAll(async () => {
  await t?.close();
});

/** A unique prefix for the names of one test's patients. */
const tag = () => `q-${randomUUID().slice(0, 8)}`;

/** A CSV of `total` valid rows named `<prefix> <i>`. */
function rowsCsv(prefix: string, total: number): string {
  return ['name,age,gender', ...Array.from({ length: total }, (_, i) => `${prefix} ${i},${i % 100},f`)].join(
    '\n',
  );
}

/** Uploads a CSV as `token` (to the suite's server unless `url` says another); the response. */
function upload(csv: string, token = admin, url = t.url) {
  return http(url, 'POST', '/patients/import', {
    token,
    raw: csv,
    headers: { 'content-type': 'text/csv' },
  });
}

/** Names of the patients whose name starts with `prefix`. */
async function namesOf(prefix: string, db = t.db): Promise<string[]> {
  const rows = await db.models.Patient.findAll({
    attributes: ['name'],
    where: { name: { [Op.like]: `${prefix} %` } },
  });
  return rows.map((r) => r.name);
}

/** Every import of the suite has finished (so that a test starts with an empty bulk lane). */
async function importsSettled(): Promise<void> {
  await waitFor(
    async () =>
      (await t.db.models.Job.count({ where: { type: 'patients.import', status: ['queued', 'running'] } })) ===
      0,
    { what: 'every import to finish', timeoutMs: 120_000 },
  );
}

describe('fair queue', () => {
  it('a doctor’s update behind 10 queued imports runs within one batch, and every row is imported once', async () => {
    // Its own database: the ten imports are queued through an instance that runs no jobs, so that
    // all ten wait, however fast this machine imports, before the instance with the one thread starts.
    const target = await freshDatabase();
    const queueOnly = await startTestServer({}, { target, jobs: false });
    let runner: TestServer | undefined;
    try {
      const { patientId, doctorId } = await doctorWithPatient(queueOnly.db, 30);
      const doctor = await signedInUser(queueOnly, 'doctor', { doctorId });
      const prefix = tag();
      const rows = IMPORT_BATCH_ROWS * 12;
      // Ten imports of twelve batches each, from ten admins (the cap is per account).
      const importIds: number[] = [];
      for (let i = 0; i < 10; i++) {
        const other = await signedInUser(queueOnly, 'admin');
        const res = await upload(rowsCsv(`${prefix}-${i}`, rows), other.token, queueOnly.url);
        expect(res.status).toBe(202);
        importIds.push(res.body.job_id);
      }
      runner = await startTestServer(
        { WORKER_THREADS: '1', LOG_LEVEL: process.env.JOBS_LOG ?? 'silent' },
        { target },
      );
      const db = runner.db;
      const unfinishedImports = async () =>
        (await db.models.Job.findAll({ where: { id: importIds } })).filter((j) => !isFinished(j.status))
          .length;
      // The bulk lane is busy: an import has taken the thread and written its first batch.
      await waitFor(
        async () => (await db.models.Patient.count({ where: { name: { [Op.like]: `${prefix}-%` } } })) > 0,
        {
          what: 'the first import batch',
        },
      );
      const before = await unfinishedImports();
      expect(before).toBeGreaterThanOrEqual(9);
      const update = await trpcClient(runner.url, doctor.token).patients.updateAsync.mutate({
        id: patientId,
        age: 31,
      });
      await waitForJob(db, update.jobId, ['succeeded']);
      // Strict FIFO would have run every queued import first; the update waited for one batch at
      // most, in which at most one import (at its last batch) could finish.
      expect(before - (await unfinishedImports())).toBeLessThanOrEqual(1);

      await waitFor(async () => (await unfinishedImports()) === 0, {
        what: 'every import to finish',
        timeoutMs: 120_000,
      });
      for (let i = 0; i < 10; i++) {
        const names = await namesOf(`${prefix}-${i}`, db);
        expect(names).toHaveLength(rows);
        expect(new Set(names).size).toBe(rows);
      }
      const done = await db.models.Job.findAll({ where: { id: importIds } });
      for (const job of done) {
        expect(job).toMatchObject({ status: 'succeeded', attempts: 1, interruptions: 0 });
        expect(job.result).toMatchObject({ rows, imported: rows, rejected: 0 });
      }
    } finally {
      await runner?.close(0);
      await queueOnly.close(0);
      await target.drop();
    }
  }, 180_000);

  it('takes interactive jobs round-robin by account: one account’s flood does not starve another', async () => {
    const flood = { type: 'user' as const, id: 900_001, name: 'flood' };
    const other = { type: 'user' as const, id: 900_002, name: 'other' };
    // Queued not yet due, then all made due at once: a slow machine's enqueue loop must not let
    // the flood run before the other account's job is even queued.
    const later = new Date(Date.now() + 3_600_000);
    const floodIds: number[] = [];
    for (let i = 0; i < 40; i++) {
      floodIds.push(
        (await enqueue(t.db, { type: testSleepJob, payload: { ms: 50 }, owner: flood, runAfter: later })).id,
      );
    }
    const mine = await enqueue(t.db, {
      type: testSleepJob,
      payload: { ms: 0 },
      owner: other,
      runAfter: later,
    });
    await t.db.models.Job.update({ runAfter: new Date() }, { where: { id: [...floodIds, mine.id] } });
    await waitForJob(t.db, mine.id, ['succeeded']);
    const unfinished = await t.db.models.Job.count({
      where: { id: floodIds, status: ['queued', 'running'] },
    });
    // In id order it would have waited for all 40 (2 s of work); round-robin takes it next.
    expect(unfinished).toBeGreaterThanOrEqual(30);
    await waitFor(
      async () => (await t.db.models.Job.count({ where: { id: floodIds, status: 'succeeded' } })) === 40,
      { what: 'the flood to finish', timeoutMs: 60_000 },
    );
  }, 90_000);

  it(`refuses a ${CAP + 1}th unfinished import of one account with 429 (BULK_JOBS_MAX_QUEUED_PER_ACCOUNT), 10x past the cap, while /healthz answers`, async () => {
    await importsSettled();
    const owner = await signedInUser(t, 'admin');
    const prefix = tag();
    const big = await upload(rowsCsv(`${prefix}-big`, IMPORT_BATCH_ROWS * 60), owner.token);
    expect(big.status).toBe(202);
    const statuses: number[] = [];
    const refused: string[] = [];
    for (let i = 0; i < CAP * 10; i++) {
      const res = await upload(rowsCsv(`${prefix}-${i}`, 3), owner.token);
      statuses.push(res.status);
      if (res.status === 429) refused.push(res.body.error);
      expect((await http(t.url, 'GET', '/healthz')).status).toBe(200);
    }
    const unfinished = await t.db.models.Job.count({
      where: { createdById: owner.id, type: 'patients.import', status: ['queued', 'running'] },
    });
    expect(unfinished).toBeLessThanOrEqual(CAP);
    expect(statuses.filter((s) => s === 202).length).toBeGreaterThanOrEqual(1);
    expect(statuses.filter((s) => s !== 202 && s !== 429)).toEqual([]);
    expect(refused.length).toBeGreaterThan(CAP * 5);
    expect(refused[0]).toContain('BULK_JOBS_MAX_QUEUED_PER_ACCOUNT');
    // Nothing was stored for a refused upload.
    expect(await t.db.models.JobFile.count({ where: { jobId: null } })).toBe(0);
    // Through tRPC: TOO_MANY_REQUESTS, when the account is at its cap.
    const client = trpcClient(t.url, owner.token);
    let code = 'OK';
    for (let i = 0; i < CAP + 1 && code === 'OK'; i++) {
      code = (await outcome(client.patients.import.mutate({ csv: rowsCsv(`${prefix}-t${i}`, 2) }))).code;
    }
    expect(code).toBe('TOO_MANY_REQUESTS');
    // Another account is not held by it.
    const second = await upload(rowsCsv(`${prefix}-second`, 2));
    expect(second.status).toBe(202);
    await importsSettled();
  }, 180_000);
});

describe('interruptions', () => {
  /** A `test.sleep` job left `running` by a server that died: its lease ran out a minute ago. */
  async function orphaned(interruptions: number) {
    const job = await enqueue(t.db, {
      type: testSleepJob,
      payload: { ms: 0 },
      runAfter: new Date(Date.now() + 3_600_000),
    });
    await t.db.models.Job.update(
      {
        status: 'running',
        attempts: 1,
        interruptions,
        leaseOwner: randomUUID(),
        leaseExpiresAt: new Date(Date.now() - 60_000),
      },
      { where: { id: job.id } },
    );
    t.server.jobs?.wake();
    return job;
  }

  it('a run cut by a crash is an interruption, not an attempt', async () => {
    const job = await orphaned(0);
    const done = await waitForJob(t.db, job.id);
    expect(done).toMatchObject({ status: 'succeeded', attempts: 1, interruptions: 1 });
  });

  it(`a job cut ${MAX_INTERRUPTIONS + 1} times (JOBS_MAX_INTERRUPTIONS=${MAX_INTERRUPTIONS}) is failed`, async () => {
    const job = await orphaned(MAX_INTERRUPTIONS);
    const done = await waitForJob(t.db, job.id);
    expect(done.status).toBe('failed');
    expect(done.error).toBe(
      `The job was interrupted ${MAX_INTERRUPTIONS + 1} times (its server stopped each time); it was stopped`,
    );
    expect(done.attempts).toBe(1);
  });
});

describe('jobs.retry and jobs.cancel', () => {
  /** Stores `csv` as an upload of a failed import of the bootstrap admin; its job id and file id. */
  async function failedImport(csv: string, createdById?: number) {
    const adminUser = await t.db.models.User.findOne({ where: { usernameKey: 'admin' } });
    const fileId = await createJobFile(t.db, 'import', { expiresAt: null });
    const writer = new JobFileWriter(t.db, fileId);
    await writer.write(csv);
    await writer.end();
    const job = await t.db.models.Job.create({
      type: 'patients.import',
      payload: { fileId },
      status: 'failed',
      attempts: 3,
      maxAttempts: 3,
      runAfter: new Date(),
      createdByType: 'user',
      createdById: createdById ?? adminUser!.id,
      createdByName: 'admin',
      requestId: `failed-${randomUUID()}`,
      error: 'Database unavailable',
      finishedAt: new Date(),
    });
    await t.db.models.JobFile.update(
      { jobId: job.id, expiresAt: new Date(Date.now() + 3_600_000) },
      { where: { id: fileId } },
    );
    return { jobId: job.id, fileId, requestId: job.requestId };
  }

  it('retries a failed import from its last committed batch: every row once, the upload then deleted', async () => {
    const prefix = tag();
    const total = IMPORT_BATCH_ROWS * 3 + 7;
    const { jobId, fileId, requestId } = await failedImport(rowsCsv(prefix, total));
    // One batch committed before it failed (run by hand, dying after the first batch).
    const adminUser = await t.db.models.User.findOne({ where: { usernameKey: 'admin' } });
    const ctx: JobContext<{ fileId: number }> = {
      db: t.db,
      job: {
        id: jobId,
        type: 'patients.import',
        payload: { fileId },
        attempt: 1,
        owner: { type: 'user', id: adminUser!.id, name: 'admin' },
        requestId,
        ip: null,
      },
      config: t.server.services.config,
      signal: new AbortController().signal,
      async progress(done) {
        if (done > 0) throw new Error('the server died');
      },
      complete: <R>(work: (tx: Transaction) => Promise<R>) => t.db.transaction(work),
      checkpoint: <R>(work: (tx: Transaction) => Promise<R>) => t.db.transaction(work),
      yieldIfAsked: () => undefined,
    };
    await expect(patientsImportJob.run(ctx)).rejects.toThrow('the server died');
    expect(await namesOf(prefix)).toHaveLength(IMPORT_BATCH_ROWS);

    const retried = await trpcClient(t.url, admin).jobs.retry.mutate({ id: jobId });
    expect(retried).toMatchObject({ id: jobId, attempts: 0 });
    expect(['queued', 'running', 'succeeded']).toContain(retried.status);
    const done = await waitForJob(t.db, jobId);
    expect(done).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(done.result).toMatchObject({ rows: total, imported: total });
    const names = await namesOf(prefix);
    expect(names).toHaveLength(total);
    expect(new Set(names).size).toBe(total);
    expect(await t.db.models.JobFile.count({ where: { id: fileId } })).toBe(0);
  });

  it('keeps a failed import’s upload until IMPORT_UPLOAD_RETENTION_HOURS pass, then the sweep deletes it', async () => {
    const { fileId, jobId } = await failedImport(rowsCsv(tag(), 2));
    expect(await sweepJobFiles(t.db)).toBeGreaterThanOrEqual(0);
    expect(await t.db.models.JobFile.count({ where: { id: fileId } })).toBe(1);
    await sweepJobFiles(t.db, new Date(Date.now() + 2 * 3_600_000));
    expect(await t.db.models.JobFile.count({ where: { id: fileId } })).toBe(0);
    const res = await http(t.url, 'POST', `/jobs/${jobId}/retry`, { token: admin });
    expect(res.status).toBe(409);
    expect(res.body.error).toContain('upload is no longer kept');
  });

  it('an import failed for good by the queue keeps its upload for IMPORT_UPLOAD_RETENTION_HOURS (default 72)', async () => {
    const { jobId, fileId } = await failedImport(rowsCsv(tag(), 2));
    await t.db.models.JobFile.update({ expiresAt: null }, { where: { id: fileId } });
    // Left running by a server that died, for the last time it may be.
    await t.db.models.Job.update(
      {
        status: 'running',
        attempts: 1,
        interruptions: MAX_INTERRUPTIONS,
        leaseOwner: randomUUID(),
        leaseExpiresAt: new Date(Date.now() - 60_000),
        finishedAt: null,
      },
      { where: { id: jobId } },
    );
    t.server.jobs?.wake();
    const failed = await waitForJob(t.db, jobId);
    expect(failed.status).toBe('failed');
    expect(failed.payload).toEqual({ fileId });
    const file = await t.db.models.JobFile.findByPk(fileId);
    const hours = (file!.expiresAt!.getTime() - failed.finishedAt!.getTime()) / 3_600_000;
    expect(hours).toBeCloseTo(72, 3);
  });

  it('cancels a running import: it stops at its next batch, keeps and counts the committed batches, frees the upload', async () => {
    await importsSettled();
    const prefix = tag();
    const total = IMPORT_BATCH_ROWS * 200;
    const res = await upload(rowsCsv(prefix, total));
    expect(res.status).toBe(202);
    const jobId = res.body.job_id as number;
    await waitFor(async () => ((await t.db.models.Job.findByPk(jobId))?.progressDone ?? 0) > 0, {
      what: 'the import to commit a batch',
    });
    const cancelled = await http(t.url, 'POST', `/jobs/${jobId}/cancel`, { token: admin });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ id: jobId, status: 'cancelled' });
    const imported = cancelled.body.result.imported as number;
    expect(imported).toBeGreaterThan(0);
    expect(imported).toBeLessThan(total);
    expect(imported % IMPORT_BATCH_ROWS).toBe(0);
    // The run stops at its next batch: nothing more is committed.
    await waitFor(async () => t.server.jobs?.running === 0, {
      what: 'the cancelled run to stop',
      timeoutMs: 30_000,
    });
    expect(await namesOf(prefix)).toHaveLength(imported);
    expect(await t.db.models.JobFile.count({ where: { jobId } })).toBe(0);
    expect((await t.db.models.Job.findByPk(jobId))!.status).toBe('cancelled');
    const again = await http(t.url, 'POST', `/jobs/${jobId}/cancel`, { token: admin });
    expect(again.status).toBe(409);
    const retry = await http(t.url, 'POST', `/jobs/${jobId}/retry`, { token: admin });
    expect(retry.status).toBe(409);
  }, 60_000);

  it('cancels a queued job; only a failed job is retried, only an unfinished one cancelled', async () => {
    const job = await enqueue(t.db, {
      type: testSleepJob,
      payload: { ms: 0 },
      runAfter: new Date(Date.now() + 3_600_000),
    });
    const client = trpcClient(t.url, admin);
    expect((await outcome(client.jobs.retry.mutate({ id: job.id }))).code).toBe('CONFLICT');
    expect(await client.jobs.cancel.mutate({ id: job.id })).toMatchObject({ status: 'cancelled' });
    const row = await t.db.models.Job.findByPk(job.id);
    expect(row).toMatchObject({ status: 'cancelled', payload: null, leaseOwner: null });
    expect(row!.finishedAt).not.toBeNull();
    const listed = await client.jobs.list.query({ status: 'cancelled' });
    expect(listed.items.map((j) => j.id)).toContain(job.id);
  });

  it('someone else’s job answers exactly as a missing one (404); an admin acting on it is audited', async () => {
    const { doctorId } = await doctorWithPatient(t.db);
    const doctor = await signedInUser(t, 'doctor', { doctorId });
    const stranger = await signedInUser(t, 'doctor', { doctorId: (await doctorWithPatient(t.db)).doctorId });
    const owner = { type: 'user' as const, id: doctor.id, name: doctor.username };
    const job = await enqueue(t.db, {
      type: testSleepJob,
      payload: { ms: 0 },
      owner,
      runAfter: new Date(Date.now() + 3_600_000),
    });
    const missing = 2_000_000_000;
    for (const action of ['retry', 'cancel']) {
      const theirs = await http(t.url, 'POST', `/jobs/${job.id}/${action}`, { token: stranger.token });
      const none = await http(t.url, 'POST', `/jobs/${missing}/${action}`, { token: stranger.token });
      expect(theirs.status).toBe(404);
      expect(theirs.body).toEqual(none.body);
      const client = trpcClient(t.url, stranger.token);
      const a = await outcome(client.jobs[action as 'retry' | 'cancel'].mutate({ id: job.id }));
      const b = await outcome(client.jobs[action as 'retry' | 'cancel'].mutate({ id: missing }));
      expect(a.code).toBe('NOT_FOUND');
      expect(a.message).toBe(b.message);
    }
    expect((await t.db.models.Job.findByPk(job.id))!.status).toBe('queued');

    const res = await http(t.url, 'POST', `/jobs/${job.id}/cancel`, { token: admin });
    expect(res.status).toBe(200);
    const audit = await t.db.models.AuditEvent.findAll({
      where: { procedure: 'jobs.cancel', targetId: job.id },
    });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ action: 'update', targetType: 'job', actorType: 'user' });
    // The creator acting on their own job is not an administrative act.
    const own = await enqueue(t.db, {
      type: testSleepJob,
      payload: { ms: 0 },
      owner,
      runAfter: new Date(Date.now() + 3_600_000),
    });
    expect((await http(t.url, 'POST', `/jobs/${own.id}/cancel`, { token: doctor.token })).status).toBe(200);
    expect(
      await t.db.models.AuditEvent.count({ where: { procedure: 'jobs.cancel', targetId: own.id } }),
    ).toBe(0);
  });

  it('retrying a patient.update answers 409 once a later update of the patient was accepted', async () => {
    const { doctorId, patientId } = await doctorWithPatient(t.db, 40);
    const doctor = await signedInUser(t, 'doctor', { doctorId });
    const failedUpdate = async () => {
      const job = await t.db.models.Job.create({
        type: 'patient.update',
        payload: { patientId, changes: { age: 41 } },
        status: 'failed',
        attempts: 5,
        maxAttempts: 5,
        runAfter: new Date(),
        serialKey: `patient:${patientId}`,
        patientId,
        createdByType: 'user',
        createdById: doctor.id,
        createdByName: doctor.username,
        requestId: `upd-${randomUUID()}`,
        error: 'Database unavailable',
        finishedAt: new Date(),
      });
      return job.id;
    };
    const client = trpcClient(t.url, doctor.token);
    // No later update: the retry applies it.
    const first = await failedUpdate();
    await client.jobs.retry.mutate({ id: first });
    expect(await waitForJob(t.db, first)).toMatchObject({ status: 'succeeded' });
    expect((await t.db.models.Patient.findByPk(patientId))!.age).toBe(41);

    // A later direct update: retrying the older one would overwrite it.
    const second = await failedUpdate();
    await client.patients.update.mutate({ id: patientId, age: 50 });
    const refused = await http(t.url, 'POST', `/jobs/${second}/retry`, { token: doctor.token });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toContain('later update of this patient');

    // A later queued update (accepted, even if not yet run) refuses it too.
    const third = await failedUpdate();
    await client.patients.updateAsync.mutate({ id: patientId, age: 52 });
    expect((await outcome(client.jobs.retry.mutate({ id: third }))).code).toBe('CONFLICT');
    expect((await t.db.models.Job.findByPk(third))!.status).toBe('failed');
  });
});
