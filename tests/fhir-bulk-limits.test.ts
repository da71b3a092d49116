import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPORT_ACCOUNT_SHARE } from '../server/src/domain/jobs/exportLimits';
import { type CareTeam, careTeam, linkedDoctor } from './helpers/clinical';
import { type TestServer, startTestServer, trpcClient } from './helpers/server';
import { waitFor } from './helpers/wait';

/*
 * Issue 21 with issue 19's limits: FHIR bulk exports count in EXPORTS_PER_HOUR and in the export
 * storage quota like every export. At the bound the kick-off is 429 with an OperationOutcome
 * (and Retry-After), 10x past it as well with /healthz answering; an export that runs into the
 * quota fails cleanly and frees its files.
 */

const PER_HOUR = 3;
/** 0.01 MiB in total: one account may keep an eighth, 1,310 bytes (three Patient lines or so). */
const STORAGE_MB = 0.01;
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

const headers = (token: string) => ({ authorization: `Bearer ${token}`, prefer: 'respond-async' });

function kickoff(token: string, query = '?_type=Patient') {
  return fetch(`${t.url}/fhir/R4/Patient/$export${query}`, { headers: headers(token) });
}

/** Polls a status URL until the export has finished one way or the other. */
function finished(status: string, token: string): Promise<Response> {
  return waitFor(
    async () => {
      const res = await fetch(status, { headers: headers(token) });
      if (res.status === 202) {
        await res.arrayBuffer();
        return null;
      }
      return res;
    },
    { what: `export ${status} to finish`, timeoutMs: 60_000 },
  );
}

const exportJobs = () => t.db.models.Job.count({ where: { type: 'fhir.export' } });

describe('EXPORTS_PER_HOUR', () => {
  it('the export past the hourly bound is 429 with an OperationOutcome and Retry-After; 10x past it too, /healthz answering', async () => {
    const doctor = await linkedDoctor(t);
    for (let i = 0; i < PER_HOUR; i++) {
      const res = await kickoff(doctor.token);
      expect(res.status).toBe(202);
      const status = res.headers.get('content-location')!;
      expect((await finished(status, doctor.token)).status).toBe(200);
      // Deleting an export frees its storage, not its place in the hourly count.
      expect((await fetch(status, { method: 'DELETE', headers: headers(doctor.token) })).status).toBe(202);
    }
    const before = await exportJobs();
    const refused = await kickoff(doctor.token);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toContain('application/fhir+json');
    const wait = Number(refused.headers.get('retry-after'));
    expect(wait).toBeGreaterThan(3_000);
    expect(wait).toBeLessThanOrEqual(3_600);
    const body = await refused.json();
    expect(body.resourceType).toBe('OperationOutcome');
    expect(body.issue[0].code).toBe('throttled');
    expect(body.issue[0].diagnostics).toMatch(/at most 3 an hour per account \(EXPORTS_PER_HOUR\)/);

    const flood = await Promise.all(
      Array.from({ length: 10 * PER_HOUR }, async () => {
        const res = await kickoff(doctor.token);
        await res.arrayBuffer();
        return res.status;
      }),
    );
    expect(flood).toEqual(flood.map(() => 429));
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    expect(await exportJobs()).toBe(before);
  });
});

describe('EXPORT_STORAGE_MAX_MB', () => {
  it('an export that runs into the storage quota fails with an OperationOutcome and leaves no file behind', async () => {
    // The admin's Patient file for every patient (about 450 bytes each) passes 1,310 bytes.
    for (let i = 0; i < 6; i++) {
      await t.db.models.Patient.create({ name: `Quota ${i}`, age: 50, gender: 'male', doctorId: null });
    }
    const res = await kickoff(team.admin.token);
    expect(res.status).toBe(202);
    const status = res.headers.get('content-location')!;
    const jobId = Number(status.split('/').pop());
    const failed = await finished(status, team.admin.token);
    expect(failed.status).toBe(500);
    const body = await failed.json();
    expect(body.resourceType).toBe('OperationOutcome');
    expect(body.issue[0].diagnostics).toMatch(
      /Export storage is full.*EXPORT_STORAGE_MAX_MB.*files were deleted/,
    );
    const job = await t.db.models.Job.findByPk(jobId);
    expect(job?.status).toBe('failed');
    expect(job?.attempts).toBe(1);
    expect(await t.db.models.JobFile.count({ where: { jobId } })).toBe(0);
    expect(await t.db.models.JobFile.count({ where: { jobId: null } })).toBe(0);
    // Its files are gone: it is not retried (a new kick-off starts over).
    await expect(trpcClient(t.url, team.admin.token).jobs.retry.mutate({ id: jobId })).rejects.toMatchObject({
      data: { code: 'CONFLICT' },
      message: 'A failed bulk export is not retried: start a new one',
    });
  });

  it('with its share of storage full, an account is refused at kick-off: 429 naming the quota', async () => {
    const { patientA } = team;
    // A stored export of the patient's that fills their share (as a finished one would).
    const job = await t.db.models.Job.create({
      type: 'fhir.export',
      payload: null,
      status: 'succeeded',
      maxAttempts: 1,
      runAfter: new Date(),
      createdByType: 'user',
      createdById: patientA.id,
      createdByName: patientA.username,
      requestId: 'storage-test',
    });
    await t.db.models.JobFile.create({
      kind: 'export',
      jobId: job.id,
      byteSize: ACCOUNT_MAX,
      expiresAt: new Date(Date.now() + 3_600_000),
    });
    const before = await exportJobs();
    const refused = await kickoff(patientA.token);
    expect(refused.status).toBe(429);
    const body = await refused.json();
    expect(body.issue[0].code).toBe('throttled');
    expect(body.issue[0].diagnostics).toMatch(/Export storage is full: your exports take/);
    expect(Number(refused.headers.get('retry-after'))).toBe(3_600);
    expect(await exportJobs()).toBe(before);
  });
});
