import type { Transaction } from '@hdms/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PATIENT_PAGE } from '../server/src/fhir/bulk/source';
import type { JobContext } from '../server/src/jobs/types';
import { type FhirExportPayload, fhirExportJob } from '../server/src/jobs/types/fhirExport';
import { callerFor } from './helpers/callers';
import {
  type Account,
  auditSince,
  type CareTeam,
  careTeam,
  lastAuditId,
  linkedDoctor,
  linkedPatient,
  serviceToken,
} from './helpers/clinical';
import { type TestServer, signedInUser, startTestServer } from './helpers/server';
import { nextMillisecond, waitFor } from './helpers/wait';
import { fhirSchemaErrors } from './helpers/fhirSchema';

/*
 * Issue 21, point 3 and the bulk part of point 5: FHIR Bulk Data v2 `Patient/$export` followed
 * with `fetch` as a Bulk Data client does (kick-off, poll, manifest, downloads), who gets which
 * patients and types, `_type` and `_since`, cancel with DELETE, files only for the requester,
 * and every NDJSON line valid against the FHIR R4 JSON schema.
 */

let t: TestServer;
let team: CareTeam;

beforeAll(async () => {
  t = await startTestServer();
  team = await careTeam(t);
  // A check-up exists whichever test runs first, so every export has Encounters to write.
  await callerFor(t, team.doctorA.token).checkHistory.create({ patientId: team.patientA.patientId });
});

afterAll(async () => {
  await t?.close();
});

const auth = (token: string, extra: Record<string, string> = {}) => ({
  authorization: `Bearer ${token}`,
  accept: 'application/fhir+json',
  ...extra,
});

/** Kick-off as `token` (with `Prefer: respond-async`), query string `query`. */
function kickoff(token: string, query = '', headers: Record<string, string> = {}) {
  return fetch(`${t.url}/fhir/R4/Patient/$export${query}`, {
    headers: auth(token, { prefer: 'respond-async', ...headers }),
  });
}

interface Manifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: boolean;
  output: { type: string; url: string; count: number }[];
  error: { type: string; url: string }[];
}

/** Polls the status URL until it answers something other than 202; every 202 carries X-Progress. */
async function poll(statusUrl: string, token: string): Promise<Response> {
  return waitFor(
    async () => {
      const res = await fetch(statusUrl, { headers: auth(token) });
      if (res.status !== 202) return res;
      expect(res.headers.get('x-progress')).toBeTruthy();
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      await res.arrayBuffer();
      return null;
    },
    { what: `export ${statusUrl} to finish`, timeoutMs: 60_000 },
  );
}

/** The whole sequence: kick-off, poll to the end, the manifest. */
async function exportAs(token: string, query = ''): Promise<{ manifest: Manifest; status: string }> {
  const started = await kickoff(token, query);
  expect(started.status).toBe(202);
  const status = started.headers.get('content-location')!;
  expect(status).toMatch(new RegExp(`^${t.url}/fhir/R4/\\$export-status/\\d+$`));
  const done = await poll(status, token);
  expect(done.status).toBe(200);
  return { manifest: (await done.json()) as Manifest, status };
}

/** Downloads one file of a manifest as `token`: its NDJSON lines, parsed. */
async function download(url: string, token: string): Promise<Record<string, unknown>[]> {
  const res = await fetch(url, {
    headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+ndjson' },
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/fhir+ndjson');
  const text = await res.text();
  expect(text.endsWith('\n')).toBe(true);
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

/**
 * Every resource of a manifest by type, each validated against the FHIR R4 schema (after all the
 * downloads: compiling the schema blocks this process for a while).
 */
async function resourcesOf(manifest: Manifest, token: string) {
  const byType = new Map<string, Record<string, unknown>[]>();
  for (const file of manifest.output) {
    const lines = await download(file.url, token);
    expect(lines).toHaveLength(file.count);
    byType.set(file.type, [...(byType.get(file.type) ?? []), ...lines]);
  }
  for (const [type, resources] of byType) {
    for (const resource of resources) {
      expect(resource.resourceType).toBe(type);
      expect(fhirSchemaErrors(resource)).toEqual([]);
    }
  }
  return byType;
}

const ids = (resources: Record<string, unknown>[] | undefined) =>
  new Set((resources ?? []).map((r) => String(r.id)));
const subjects = (resources: Record<string, unknown>[] | undefined) =>
  new Set((resources ?? []).map((r) => (r.subject as { reference: string }).reference));

describe('the Bulk Data sequence, followed with fetch', () => {
  it("a doctor's export holds their assigned patients with every type, and none reached by consent or emergency access", async () => {
    const doctor = callerFor(t, team.doctorA.token);
    const second = await linkedPatient(t, team.doctorA.doctorId);
    const consenting = await linkedPatient(t, team.doctorB.doctorId);
    const opened = await linkedPatient(t, team.doctorB.doctorId);
    await callerFor(t, consenting.token).consent.grant({ doctorId: team.doctorA.doctorId });
    await doctor.access.emergency({
      patientId: opened.patientId,
      reason: 'Unconscious on arrival, no records',
    });
    await doctor.checkHistory.create({ patientId: team.patientA.patientId });
    const note = await doctor.notes.create({ patientId: team.patientA.patientId, body: 'First note' });
    await doctor.notes.create({
      patientId: team.patientA.patientId,
      body: 'Corrected',
      correctsNoteId: note.id,
    });
    await doctor.notes.create({ patientId: consenting.patientId, body: 'seen under consent' });

    const before = await lastAuditId(t);
    const { manifest } = await exportAs(team.doctorA.token);
    expect(manifest.requiresAccessToken).toBe(true);
    expect(manifest.request).toBe(`${t.url}/fhir/R4/Patient/$export`);
    expect(new Date(manifest.transactionTime).getTime()).toBeLessThanOrEqual(Date.now());
    expect(manifest.error).toEqual([]);
    const types = new Set(manifest.output.map((o) => o.type));
    expect(types).toEqual(
      new Set([
        'Patient',
        'Practitioner',
        'Encounter',
        'Condition',
        'MedicationStatement',
        'DocumentReference',
      ]),
    );

    const resources = await resourcesOf(manifest, team.doctorA.token);
    const mine = [team.patientA.patientId, second.patientId].map(String);
    expect(ids(resources.get('Patient'))).toEqual(new Set(mine));
    const refs = new Set(mine.map((id) => `Patient/${id}`));
    for (const type of ['Condition', 'MedicationStatement', 'Encounter', 'DocumentReference']) {
      for (const subject of subjects(resources.get(type))) expect(refs.has(subject)).toBe(true);
    }
    expect(subjects(resources.get('Encounter'))).toEqual(new Set([`Patient/${team.patientA.patientId}`]));
    const notes = resources.get('DocumentReference')!;
    expect(notes.map((n) => n.status).sort()).toEqual(['current', 'superseded']);
    expect(ids(resources.get('Practitioner')).has(String(team.doctorB.doctorId))).toBe(true);

    // Audited as it ran: one read row per exported patient, procedure fhir.export.
    const rows = await auditSince(t, before);
    const exportRows = rows.filter((r) => r.procedure === 'fhir.export');
    expect(exportRows.map((r) => String(r.patientId)).sort()).toEqual([...mine].sort());
    expect(exportRows.every((r) => r.action === 'read' && r.actorId === team.doctorA.id)).toBe(true);
    // Each download audited, naming the export job.
    const downloads = rows.filter((r) => r.procedure === 'fhir.export.download');
    expect(downloads).toHaveLength(manifest.output.length);
    expect(downloads.every((r) => r.targetType === 'job' && r.actorId === team.doctorA.id)).toBe(true);
  });

  it('without Prefer: respond-async the kick-off is 400 with an OperationOutcome saying so, and queues nothing', async () => {
    const jobs = await t.db.models.Job.count({ where: { type: 'fhir.export' } });
    const res = await fetch(`${t.url}/fhir/R4/Patient/$export`, { headers: auth(team.doctorA.token) });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('application/fhir+json');
    const body = await res.json();
    expect(body.resourceType).toBe('OperationOutcome');
    expect(body.issue[0].diagnostics).toMatch(/Prefer: respond-async/);
    expect(await t.db.models.Job.count({ where: { type: 'fhir.export' } })).toBe(jobs);
  });

  it('refuses bad parameters with 400: an unknown type, a bad _since, another format, an unknown parameter (unless lenient)', async () => {
    for (const query of [
      '?_type=Observation',
      '?_since=yesterday',
      '?_since=2999-01-01T00:00:00Z',
      '?_outputFormat=text/csv',
      '?_typeFilter=Patient%3Fname%3Dx',
    ]) {
      const res = await kickoff(team.doctorA.token, query);
      expect(res.status, query).toBe(400);
      expect((await res.json()).resourceType).toBe('OperationOutcome');
    }
    const lenient = await kickoff(
      team.doctorA.token,
      '?_typeFilter=x&_outputFormat=application%2Ffhir%2Bndjson',
      {
        prefer: 'respond-async, handling=lenient',
      },
    );
    expect(lenient.status).toBe(202);
    await poll(lenient.headers.get('content-location')!, team.doctorA.token);
  });

  it('without sign-in: 401 OperationOutcome', async () => {
    const res = await fetch(`${t.url}/fhir/R4/Patient/$export`, { headers: { prefer: 'respond-async' } });
    expect(res.status).toBe(401);
    expect((await res.json()).resourceType).toBe('OperationOutcome');
  });
});

describe('who gets which types', () => {
  it("an admin's export has every patient without the clinical types, named in the manifest's error file", async () => {
    const { manifest } = await exportAs(team.admin.token);
    expect(new Set(manifest.output.map((o) => o.type))).toEqual(
      new Set(['Patient', 'Practitioner', 'Encounter']),
    );
    const resources = await resourcesOf(manifest, team.admin.token);
    const patients = ids(resources.get('Patient'));
    expect(
      patients.has(String(team.patientA.patientId)) && patients.has(String(team.patientB.patientId)),
    ).toBe(true);
    expect(manifest.error).toHaveLength(1);
    const outcomes = await download(manifest.error[0]!.url, team.admin.token);
    for (const o of outcomes) expect(fhirSchemaErrors(o)).toEqual([]);
    const named = outcomes.map((o) => (o.issue as { diagnostics: string }[])[0]!.diagnostics.split(' ')[0]);
    expect(named.sort()).toEqual(['Condition', 'DocumentReference', 'MedicationStatement']);
  });

  it('a service token gets the types its scopes read; the rest are named in error', async () => {
    const svc = await serviceToken(t, team.admin.token, ['patients:read']);
    const { manifest } = await exportAs(svc.token);
    expect(manifest.output.map((o) => o.type)).toEqual(['Patient']);
    const outcomes = await download(manifest.error[0]!.url, svc.token);
    expect(outcomes).toHaveLength(5);
    expect(JSON.stringify(outcomes)).toMatch(/Practitioner needs the doctors:read scope/);
  });

  it('an account linked to no record is refused at kick-off: 403 OperationOutcome, nothing queued', async () => {
    const unlinked = await signedInUser(t, 'doctor');
    const jobs = await t.db.models.Job.count({ where: { type: 'fhir.export' } });
    const res = await kickoff(unlinked.token);
    expect(res.status).toBe(403);
    const body = await res.json();
    expect(body.issue[0]).toMatchObject({
      code: 'forbidden',
      diagnostics: expect.stringMatching(/not linked/),
    });
    expect(await t.db.models.Job.count({ where: { type: 'fhir.export' } })).toBe(jobs);
  });

  it('a patient exports their own record', async () => {
    const { manifest } = await exportAs(team.patientB.token, '?_type=Patient,Condition');
    const resources = await resourcesOf(manifest, team.patientB.token);
    expect(ids(resources.get('Patient'))).toEqual(new Set([String(team.patientB.patientId)]));
    expect(ids(resources.get('Condition'))).toEqual(new Set([`diagnosis-${team.patientB.patientId}`]));
  });
});

describe('_type and _since', () => {
  it('_type limits the files to the types named', async () => {
    const { manifest } = await exportAs(team.doctorA.token, '?_type=Patient,Encounter');
    expect(new Set(manifest.output.map((o) => o.type))).toEqual(new Set(['Patient', 'Encounter']));
  });

  it('_since keeps only resources changed after it', async () => {
    const doctor = await linkedDoctor(t);
    const old = await linkedPatient(t, doctor.doctorId);
    const changed = await linkedPatient(t, doctor.doctorId);
    const since = await nextMillisecond();
    await nextMillisecond();
    await callerFor(t, doctor.token).patients.update({ id: changed.patientId, diagnosis: 'updated later' });
    const { manifest } = await exportAs(
      doctor.token,
      `?_type=Patient,Condition&_since=${since.toISOString()}`,
    );
    const resources = await resourcesOf(manifest, doctor.token);
    expect(ids(resources.get('Patient'))).toEqual(new Set([String(changed.patientId)]));
    expect(ids(resources.get('Condition'))).toEqual(new Set([`diagnosis-${changed.patientId}`]));
    expect(ids(resources.get('Patient')).has(String(old.patientId))).toBe(false);
  });
});

describe('files and status belong to the requester', () => {
  it('anyone else gets 404 for the status and the files, identical to a missing one', async () => {
    const { manifest, status } = await exportAs(team.doctorA.token, '?_type=Patient');
    const other: Account = team.doctorB;
    const url = manifest.output[0]!.url;
    const missing = url.replace(/\/\d+$/, '/999999999');
    const theirs = await fetch(url, { headers: auth(other.token) });
    const none = await fetch(missing, { headers: auth(team.doctorA.token) });
    expect(theirs.status).toBe(404);
    expect(none.status).toBe(404);
    expect(await theirs.json()).toEqual(await none.json());
    for (const token of [other.token, team.admin.token]) {
      const res = await fetch(status, { headers: auth(token) });
      expect(res.status).toBe(404);
      expect((await res.json()).issue[0].diagnostics).toBe('Export not found');
    }
    const unlinked = await signedInUser(t, 'doctor');
    expect((await fetch(url, { headers: auth(unlinked.token) })).status).toBe(404);
  });

  it('DELETE on a finished export deletes its files: the status and files are 404 after', async () => {
    const { manifest, status } = await exportAs(team.doctorA.token, '?_type=Patient');
    const del = await fetch(status, { method: 'DELETE', headers: auth(team.doctorA.token) });
    expect(del.status).toBe(202);
    expect((await fetch(status, { headers: auth(team.doctorA.token) })).status).toBe(404);
    expect((await fetch(manifest.output[0]!.url, { headers: auth(team.doctorA.token) })).status).toBe(404);
    expect((await fetch(status, { method: 'DELETE', headers: auth(team.doctorA.token) })).status).toBe(404);
  });
});

describe('cancel', () => {
  let idle: TestServer;
  let doctor: Account;

  beforeAll(async () => {
    // No job dispatcher: an export stays queued until it is cancelled.
    idle = await startTestServer({}, { jobs: false });
    const cast = await careTeam(idle);
    doctor = cast.doctorA;
  });
  afterAll(async () => {
    await idle?.close();
  });

  it('a run that yields its thread records its files and position; the next run resumes there into new files: every patient once', async () => {
    const owner = await linkedDoctor(idle);
    const rows = await idle.db.models.Patient.bulkCreate(
      Array.from({ length: PATIENT_PAGE * 2 + 50 }, (_, i) => ({
        name: `Resume ${i}`,
        age: 30,
        gender: 'female',
        doctorId: owner.doctorId,
      })),
    );
    const res = await fetch(`${idle.url}/fhir/R4/Patient/$export?_type=Patient`, {
      headers: auth(owner.token, { prefer: 'respond-async' }),
    });
    expect(res.status).toBe(202);
    const status = res.headers.get('content-location')!;
    const jobId = Number(status.split('/').pop());
    const job = (await idle.db.models.Job.findByPk(jobId))!;
    const payload = job.payload as FhirExportPayload;

    // Runs the job by hand (no dispatcher here), as the worker would: the first run is asked to
    // yield its thread at its first chance, the second runs to the end.
    const contextFor = (yieldNow: boolean): JobContext<FhirExportPayload> => ({
      db: idle.db,
      job: {
        id: jobId,
        type: 'fhir.export',
        payload,
        attempt: 1,
        owner: { type: 'user', id: owner.id, name: owner.username },
        requestId: job.requestId,
        ip: null,
      },
      config: idle.server.services.config,
      signal: new AbortController().signal,
      progress: async () => undefined,
      complete: <R>(work: (tx: Transaction) => Promise<R>) => idle.db.transaction(work),
      checkpoint: <R>(work: (tx: Transaction) => Promise<R>) => idle.db.transaction(work),
      yieldIfAsked: () => {
        if (yieldNow) throw new Error('interactive jobs are waiting');
      },
    });
    await expect(fhirExportJob.run(contextFor(true))).rejects.toThrow('interactive jobs are waiting');
    const state = (await idle.db.models.JobFile.findByPk(payload.stateFileId))!.state as {
      cursor: number;
      segments: { type: string; count: number }[];
    };
    expect(state.cursor).toBe(rows[PATIENT_PAGE - 1]!.id);
    expect(state.segments).toEqual([expect.objectContaining({ type: 'Patient', count: PATIENT_PAGE })]);

    const result = await fhirExportJob.run(contextFor(false));
    expect(result.output.map((o) => [o.type, o.count])).toEqual([
      ['Patient', PATIENT_PAGE],
      ['Patient', PATIENT_PAGE + 50],
    ]);
    await idle.db.models.Job.update(
      { status: 'succeeded', result: JSON.parse(JSON.stringify(result)), payload: null },
      { where: { id: jobId } },
    );
    const done = await fetch(status, { headers: auth(owner.token) });
    expect(done.status).toBe(200);
    const manifest = (await done.json()) as Manifest;
    expect(manifest.output).toHaveLength(2);
    const seen: string[] = [];
    for (const file of manifest.output) {
      const res = await fetch(file.url, { headers: auth(owner.token) });
      seen.push(
        ...(await res.text())
          .split('\n')
          .filter(Boolean)
          .map((l) => String(JSON.parse(l).id)),
      );
    }
    expect(seen.sort()).toEqual(rows.map((r) => String(r.id)).sort());
  });

  it('DELETE on the status URL cancels a queued export (as jobs.cancel) and frees its files', async () => {
    const res = await fetch(`${idle.url}/fhir/R4/Patient/$export`, {
      headers: auth(doctor.token, { prefer: 'respond-async' }),
    });
    expect(res.status).toBe(202);
    const status = res.headers.get('content-location')!;
    const progress = await fetch(status, { headers: auth(doctor.token) });
    expect(progress.status).toBe(202);
    expect(progress.headers.get('x-progress')).toBe('queued');
    const jobId = Number(status.split('/').pop());
    expect(await idle.db.models.JobFile.count({ where: { jobId } })).toBe(1);

    const other = await signedInUser(idle, 'doctor');
    expect((await fetch(status, { method: 'DELETE', headers: auth(other.token) })).status).toBe(404);

    const del = await fetch(status, { method: 'DELETE', headers: auth(doctor.token) });
    expect(del.status).toBe(202);
    expect((await idle.db.models.Job.findByPk(jobId))?.status).toBe('cancelled');
    expect(await idle.db.models.JobFile.count({ where: { jobId } })).toBe(0);
    expect((await fetch(status, { headers: auth(doctor.token) })).status).toBe(404);
  });
});
