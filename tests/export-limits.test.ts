import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPORT_ACCOUNT_SHARE } from '../server/src/domain/jobs/exportLimits';
import { callerFor, outcome } from './helpers/callers';
import { type CareTeam, careTeam } from './helpers/clinical';
import { isFinished } from './helpers/jobs';
import { http, type TestServer, startTestServer, trpcClient } from './helpers/server';
import { waitFor } from './helpers/wait';

/*
 * Issue 19, points 6 and 7: exports are bounded (the same export answers a repeated request, a
 * per-account rate, a storage quota in total and per account, a running export stopped at the
 * quota with its file freed), and a result the caller may not see answers exactly as a missing id.
 */

const PER_HOUR = 3;
/** 0.08 MiB in total: one account may keep an eighth, 10,485 bytes. */
const STORAGE_MB = 0.08;
const ACCOUNT_MAX = Math.floor(STORAGE_MB * 1024 * 1024 * EXPORT_ACCOUNT_SHARE);

let t: TestServer;
let team: CareTeam;

beforeAll(async () => {
  t = await startTestServer({
    EXPORTS_PER_HOUR: String(PER_HOUR),
    EXPORT_STORAGE_MAX_MB: String(STORAGE_MB),
  });
  team = await careTeam(t);
});

afterAll(async () => {
  await t?.close();
});

async function finished(jobId: number, token: string) {
  const client = trpcClient(t.url, token);
  return waitFor(
    async () => {
      const job = await client.jobs.get.query({ id: jobId });
      return isFinished(job.status) ? job : null;
    },
    { what: `job ${jobId} to finish`, timeoutMs: 30_000 },
  );
}

/** `POST /patients/:id/export` as `token`. */
function restExport(patientId: number, token: string) {
  return http(t.url, 'POST', `/patients/${patientId}/export`, { token });
}

/** A new patient of doctor A, with a linked patient account. */
async function freshPatient() {
  const { linkedPatient } = await import('./helpers/clinical');
  return linkedPatient(t, team.doctorA.doctorId);
}

const exportCount = () => t.db.models.Job.count({ where: { type: 'patient.export' } });

describe('one export answers repeated requests', () => {
  it('the same requester gets the same job while it runs and after, until the record changes', async () => {
    const p = await freshPatient();
    const first = await restExport(p.patientId, p.token);
    expect(first.status).toBe(202);
    const jobId = (first.body as { job_id: number }).job_id;
    expect(first.headers.get('location')).toBe(`/jobs/${jobId}`);
    expect(first.body).toEqual({ message: expect.stringContaining(`/jobs/${jobId}`), job_id: jobId });
    const again = await restExport(p.patientId, p.token);
    expect((again.body as { job_id: number }).job_id).toBe(jobId);
    expect((await finished(jobId, p.token)).status).toBe('succeeded');
    const after = await callerFor(t, p.token).patients.export({ patientId: p.patientId });
    expect(after.jobId).toBe(jobId);

    // Another requester (their doctor) gets an export of their own.
    const byDoctor = await callerFor(t, team.doctorA.token).patients.export({ patientId: p.patientId });
    expect(byDoctor.jobId).not.toBe(jobId);
    await finished(byDoctor.jobId, team.doctorA.token);

    // A change to the record (a note, a check-up, an update) makes the next request a new export.
    await callerFor(t, team.doctorA.token).notes.create({ patientId: p.patientId, body: 'changed since' });
    const changed = await callerFor(t, p.token).patients.export({ patientId: p.patientId });
    expect(changed.jobId).not.toBe(jobId);
    await finished(changed.jobId, p.token);
    await callerFor(t, team.doctorA.token).checkHistory.create({ patientId: p.patientId });
    const checked = await callerFor(t, p.token).patients.export({ patientId: p.patientId });
    expect(checked.jobId).not.toBe(changed.jobId);
  });
});

describe('EXPORTS_PER_HOUR', () => {
  it('a fourth new export within the hour is 429 with Retry-After; a repeated request is not counted', async () => {
    const p = await freshPatient();
    const doctor = callerFor(t, team.doctorA.token);
    for (let i = 0; i < PER_HOUR; i++) {
      const { jobId } = await callerFor(t, p.token).patients.export({ patientId: p.patientId });
      await finished(jobId, p.token);
      // The same request again is the same job, however many times.
      expect((await callerFor(t, p.token).patients.export({ patientId: p.patientId })).jobId).toBe(jobId);
      await doctor.notes.create({ patientId: p.patientId, body: `change ${i}` });
    }
    const before = await exportCount();
    const refused = await restExport(p.patientId, p.token);
    expect(refused.status).toBe(429);
    expect(refused.body).toEqual({
      error: expect.stringMatching(/at most 3 an hour per account \(EXPORTS_PER_HOUR\)/),
    });
    const wait = Number(refused.headers.get('retry-after'));
    expect(wait).toBeGreaterThan(3_000);
    expect(wait).toBeLessThanOrEqual(3_600);
    const trpc = await outcome(callerFor(t, p.token).patients.export({ patientId: p.patientId }));
    expect(trpc.code).toBe('TOO_MANY_REQUESTS');
    expect(await exportCount()).toBe(before);

    // 10x past the bound: every one refused, nothing queued, /healthz answering throughout.
    const flood = await Promise.all(
      Array.from({ length: 10 * PER_HOUR }, () => restExport(p.patientId, p.token)),
    );
    expect(flood.map((r) => r.status)).toEqual(flood.map(() => 429));
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    expect(await exportCount()).toBe(before);

    // Another account is not held back by this one's rate.
    const other = await callerFor(t, team.doctorA.token).patients.export({ patientId: p.patientId });
    await finished(other.jobId, team.doctorA.token);
  });
});

describe('EXPORT_STORAGE_MAX_MB', () => {
  it('an export that reaches its account’s share while running fails cleanly and frees its file', async () => {
    const p = await freshPatient();
    await callerFor(t, team.doctorA.token).notes.create({
      patientId: p.patientId,
      body: 'x'.repeat(ACCOUNT_MAX + 1),
    });
    const { jobId } = await callerFor(t, p.token).patients.export({ patientId: p.patientId });
    const job = await finished(jobId, p.token);
    expect(job.status).toBe('failed');
    expect(job.attempts).toBe(1);
    expect(job.error).toMatch(/Export storage is full/);
    expect(await t.db.models.JobFile.count({ where: { jobId } })).toBe(0);
  });

  it('refuses a new export with 429 once the stored exports fill the account’s share, or the total', async () => {
    const p = await freshPatient();
    const { jobId } = await callerFor(t, p.token).patients.export({ patientId: p.patientId });
    expect((await finished(jobId, p.token)).status).toBe('succeeded');
    // Pretend that export is as large as the account may keep.
    await t.db.models.JobFile.update({ byteSize: ACCOUNT_MAX }, { where: { jobId } });
    await callerFor(t, team.doctorA.token).notes.create({ patientId: p.patientId, body: 'new' });
    const refused = await restExport(p.patientId, p.token);
    expect(refused.status).toBe(429);
    expect(refused.body).toEqual({
      error: expect.stringMatching(/Export storage is full: your exports take/),
    });
    expect(refused.headers.get('retry-after')).toBe('3600');

    // The whole quota full: another account is refused too, naming EXPORT_STORAGE_MAX_MB.
    await t.db.models.JobFile.update({ byteSize: Math.ceil(STORAGE_MB * 1024 * 1024) }, { where: { jobId } });
    const total = await restExport(p.patientId, team.doctorA.token);
    expect(total.status).toBe(429);
    expect(total.body).toEqual({ error: expect.stringMatching(/EXPORT_STORAGE_MAX_MB/) });
    await t.db.models.JobFile.update({ byteSize: 100 }, { where: { jobId } });
  });
});

describe('GET /jobs/:id/result answers a result the caller may not see exactly as a missing id', () => {
  it('same status, body and headers (but Date and X-Request-Id)', async () => {
    const { jobId } = await callerFor(t, team.patientA.token).patients.export({
      patientId: team.patientA.patientId,
    });
    expect((await finished(jobId, team.patientA.token)).status).toBe('succeeded');
    const update = await callerFor(t, team.doctorB.token).patients.updateAsync({
      id: team.patientB.patientId,
      age: 50,
    });
    await finished(update.jobId, team.doctorB.token);

    const answer = async (id: number, token: string) => {
      const res = await fetch(`${t.url}/jobs/${id}/result`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const headers = [...res.headers.entries()].filter(
        ([name]) => name !== 'date' && name !== 'x-request-id',
      );
      return { status: res.status, headers, body: Buffer.from(await res.arrayBuffer()).toString('hex') };
    };
    for (const who of [team.doctorB, team.patientB, team.admin]) {
      const hidden = await answer(jobId, who.token);
      const missing = await answer(2_000_000_000, who.token);
      const notExport = await answer(update.jobId, who.token);
      expect(hidden.status).toBe(404);
      expect(hidden).toEqual(missing);
      expect(notExport).toEqual(missing);
    }
  });
});
