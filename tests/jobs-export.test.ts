import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepJobFiles } from '../server/src/jobs/importExportFiles';
import { callerFor, outcome } from './helpers/callers';
import { auditSince, type CareTeam, careTeam, lastAuditId, serviceToken } from './helpers/clinical';
import { isFinished } from './helpers/jobs';
import { type TestServer, startTestServer, trpcClient } from './helpers/server';
import { waitFor } from './helpers/wait';

/*
 * Patient record exports (`patients.export` → `patient.export` job → `GET /jobs/:id/result`):
 * who may ask, who may download (checked at download time), the document, the audit trail and
 * retention.
 */

let t: TestServer;
let team: CareTeam;

beforeAll(async () => {
  t = await startTestServer();
  team = await careTeam(t);
  const doctor = callerFor(t, team.doctorA.token);
  await doctor.patients.update({ id: team.patientA.patientId, diagnosis: 'EXPORT-PA diagnosis: asthma' });
  await doctor.notes.create({
    patientId: team.patientA.patientId,
    body: 'EXPORT-PA note: inhaler twice daily',
  });
  await doctor.checkHistory.create({ patientId: team.patientA.patientId });
});

afterAll(async () => {
  await t?.close();
});

/** Polls `jobs.get` as `token` until the job has finished. */
async function finished(jobId: number, token: string, timeoutMs = 30_000, server: TestServer = t) {
  const client = trpcClient(server.url, token);
  return waitFor(
    async () => {
      const job = await client.jobs.get.query({ id: jobId });
      return isFinished(job.status) ? job : null;
    },
    { what: `job ${jobId} to finish`, timeoutMs },
  );
}

/** Downloads an export's result as `token` (none: anonymous). */
function download(jobId: number, token?: string) {
  return fetch(`${t.url}/jobs/${jobId}/result`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
}

/** Requests an export of patient A as `token` and waits for it. */
async function exportOfA(token: string): Promise<number> {
  const { jobId } = await trpcClient(t.url, token).patients.export.mutate({
    patientId: team.patientA.patientId,
  });
  const job = await finished(jobId, token);
  expect(job.status).toBe('succeeded');
  return jobId;
}

describe('requesting an export', () => {
  it('the patient exports their own full record and downloads it as a JSON attachment', async () => {
    const jobId = await exportOfA(team.patientA.token);
    const res = await download(jobId, team.patientA.token);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('content-disposition')).toBe(
      `attachment; filename="hdms-patient-${team.patientA.patientId}-export-${jobId}.json"`,
    );
    expect(res.headers.get('cache-control')).toBe('no-store');
    const text = await res.text();
    expect(Number(res.headers.get('content-length'))).toBe(Buffer.byteLength(text));
    const doc = JSON.parse(text);
    expect(doc).toMatchObject({
      format: 'hdms.patient-export',
      version: 1,
      exportedAt: expect.any(String),
      patient: {
        id: team.patientA.patientId,
        doctorId: team.doctorA.doctorId,
        diagnosis: 'EXPORT-PA diagnosis: asthma',
        prescribedMedicine: 'secret medicine',
      },
      doctor: { id: team.doctorA.doctorId, name: team.doctorA.name, specialization: 'General medicine' },
    });
    expect(doc.checkHistory).toEqual([
      { id: expect.any(Number), patientId: team.patientA.patientId, checkTime: expect.any(String) },
    ]);
    expect(doc.notes.map((n: { body: string }) => n.body)).toEqual(['EXPORT-PA note: inhaler twice daily']);
    expect(doc.revisions).toEqual([
      expect.objectContaining({
        patientId: team.patientA.patientId,
        changes: { diagnosis: { old: 'secret diagnosis', new: 'EXPORT-PA diagnosis: asthma' } },
      }),
    ]);
  });

  it('their doctor exports it too, and the patient may download what the doctor asked for', async () => {
    const jobId = await exportOfA(team.doctorA.token);
    const byDoctor = await download(jobId, team.doctorA.token);
    expect(byDoctor.status).toBe(200);
    expect((await byDoctor.json()).patient.id).toBe(team.patientA.patientId);
    expect((await download(jobId, team.patientA.token)).status).toBe(200);
  });

  it('the job says where the document is, never what it says', async () => {
    const jobId = await exportOfA(team.patientA.token);
    const own = await trpcClient(t.url, team.patientA.token).jobs.get.query({ id: jobId });
    expect(own.result).toEqual({
      patientId: team.patientA.patientId,
      fileId: expect.any(Number),
      bytes: expect.any(Number),
      expiresAt: expect.any(String),
      download: `/jobs/${jobId}/result`,
    });
    const expiresAt = new Date((own.result as { expiresAt: string }).expiresAt).getTime();
    expect(Math.abs(expiresAt - (own.finishedAt!.getTime() + 24 * 3_600_000))).toBeLessThan(60_000);
    const asAdmin = await trpcClient(t.url, team.admin.token).jobs.get.query({ id: jobId });
    expect(asAdmin.result).toEqual({
      patientId: team.patientA.patientId,
      bytes: expect.any(Number),
      expiresAt: expect.any(String),
    });
    expect(JSON.stringify(asAdmin)).not.toContain('EXPORT-PA');
  });

  it('admins and services may not ask for one; another doctor or patient finds no such patient', async () => {
    const input = { patientId: team.patientA.patientId };
    expect((await outcome(callerFor(t, team.admin.token).patients.export(input))).code).toBe('FORBIDDEN');
    const svc = await serviceToken(t, team.admin.token, ['patients:read', 'patients:write']);
    expect((await outcome(callerFor(t, svc.token).patients.export(input))).code).toBe('FORBIDDEN');
    expect((await outcome(callerFor(t, team.doctorB.token).patients.export(input))).code).toBe('NOT_FOUND');
    expect((await outcome(callerFor(t, team.patientB.token).patients.export(input))).code).toBe('NOT_FOUND');
    expect((await outcome(callerFor(t).patients.export(input))).code).toBe('UNAUTHORIZED');
  });
});

describe('downloading an export', () => {
  it('is 404 for another doctor, another patient and admins, each refusal audited', async () => {
    const jobId = await exportOfA(team.doctorA.token);
    const before = await lastAuditId(t);
    for (const who of [team.doctorB, team.patientB, team.admin]) {
      const res = await download(jobId, who.token);
      expect(res.status).toBe(404);
      const text = await res.text();
      expect(text).not.toContain('EXPORT-PA');
      // Issue 19: exactly as for a missing id (it was "Patient not found", which told ids apart).
      expect(JSON.parse(text)).toEqual({ error: 'Export not found' });
    }
    const rows = await auditSince(t, before);
    expect(rows.map((r) => [r.actorName, r.action, r.patientId, r.procedure])).toEqual(
      [team.doctorB, team.patientB, team.admin].map((who) => [
        who.username,
        'denied',
        team.patientA.patientId,
        'jobs.result',
      ]),
    );
  });

  it('is 401 without a sign-in and 404 for a job that is no export or does not exist', async () => {
    const jobId = await exportOfA(team.patientA.token);
    expect((await download(jobId)).status).toBe(401);
    expect((await download(2_000_000_000, team.patientA.token)).status).toBe(404);
    // A finished job that is no export (on patient B, so that A's record stays as the suite made it).
    const update = await callerFor(t, team.doctorB.token).patients.updateAsync({
      id: team.patientB.patientId,
      age: 41,
    });
    await finished(update.jobId, team.doctorB.token);
    expect((await download(update.jobId, team.doctorB.token)).status).toBe(404);
    expect((await download(0, team.patientA.token)).status).toBe(400);
  });

  it('is audited as a read of the patient, before the document is sent', async () => {
    const jobId = await exportOfA(team.patientA.token);
    const before = await lastAuditId(t);
    expect((await download(jobId, team.doctorA.token)).status).toBe(200);
    const rows = await auditSince(t, before);
    expect(rows.map((r) => [r.actorName, r.action, r.patientId, r.procedure])).toEqual([
      [team.doctorA.username, 'read', team.patientA.patientId, 'jobs.result'],
    ]);
  });

  it('re-checks access at download time: a doctor no longer assigned gets 404', async () => {
    const other = await t.db.models.Patient.create({
      name: 'Moving patient',
      age: 30,
      gender: 'm',
      doctorId: team.doctorA.doctorId,
    });
    const { jobId } = await callerFor(t, team.doctorA.token).patients.export({ patientId: other.id });
    await finished(jobId, team.doctorA.token);
    expect((await download(jobId, team.doctorA.token)).status).toBe(200);
    await callerFor(t, team.admin.token).patients.update({ id: other.id, doctorId: team.doctorB.doctorId });
    expect((await download(jobId, team.doctorA.token)).status).toBe(404);
    expect((await download(jobId, team.doctorB.token)).status).toBe(200);
  });
});

describe('retention', () => {
  it('an export is gone once its retention has passed, on download and by the sweep', async () => {
    const first = await exportOfA(team.patientA.token);
    // Issue 19: the patient asking again for the unchanged record gets the same export; the doctor's is another.
    const second = await exportOfA(team.doctorA.token);
    expect(second).not.toBe(first);
    const files = t.db.models.JobFile;
    const ids = (await files.findAll({ attributes: ['id'], where: { jobId: [first, second] } })).map(
      (f) => f.id,
    );
    expect(ids).toHaveLength(2);
    // Move the clock: both exports expired a second ago.
    await files.update({ expiresAt: new Date(Date.now() - 1_000) }, { where: { id: ids } });

    const res = await download(first, team.patientA.token);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'Export not found: it has expired' });
    expect(await files.count({ where: { jobId: first } })).toBe(0);

    expect(await files.count({ where: { jobId: second } })).toBe(1);
    expect(await sweepJobFiles(t.db)).toBeGreaterThanOrEqual(1);
    expect(await files.count({ where: { id: ids } })).toBe(0);
    expect(await t.db.models.JobFileChunk.count({ where: { fileId: ids } })).toBe(0);
    expect((await download(second, team.patientA.token)).status).toBe(404);
  });

  it('a recurring exports.purge job is kept queued to sweep them', async () => {
    const queued = await t.db.models.Job.findAll({ where: { type: 'exports.purge', status: 'queued' } });
    expect(queued).toHaveLength(1);
    expect(queued[0]!.runAfter.getTime()).toBeGreaterThan(Date.now());
  });

  it('follows EXPORT_RETENTION_HOURS', async () => {
    const short = await startTestServer({ EXPORT_RETENTION_HOURS: '0.0005' }); // 1.8 s
    try {
      const shortTeam = await careTeam(short);
      const client = trpcClient(short.url, shortTeam.patientA.token);
      const { jobId } = await client.patients.export.mutate({ patientId: shortTeam.patientA.patientId });
      const job = await finished(jobId, shortTeam.patientA.token, 30_000, short);
      expect(job.status).toBe('succeeded');
      const url = `${short.url}/jobs/${jobId}/result`;
      const headers = { authorization: `Bearer ${shortTeam.patientA.token}` };
      expect((await fetch(url, { headers })).status).toBe(200);
      // Gone once the 1.8 s retention has passed (the default retention would keep it for hours).
      const gone = await waitFor(async () => (await fetch(url, { headers })).status === 404, {
        what: 'the export to expire after EXPORT_RETENTION_HOURS (1.8 s)',
        timeoutMs: 6_000,
      });
      expect(gone).toBe(true);
    } finally {
      await short.close();
    }
  });
});
