import type { Bundle, BundleEntry } from '@medplum/fhirtypes';
import { Client } from 'fhir-kit-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../server/src/http/app';
import { EVERYTHING_MAX_PER_TYPE } from '../server/src/fhir/resources';
import { type Caller, callerFor } from './helpers/callers';
import {
  auditSince,
  type CareTeam,
  careTeam,
  lastAuditId,
  linkedDoctor,
  linkedPatient,
  serviceToken,
  withAuditFailing,
} from './helpers/clinical';
import { fhirSchemaErrors, warmFhirSchema } from './helpers/fhirSchema';
import { http, signedInUser, startTestServer, type TestServer } from './helpers/server';

/*
 * The FHIR R4 API at /fhir/R4 (read, search, $everything, metadata), driven by an off-the-shelf
 * FHIR client (fhir-kit-client) and by fetch: what it serves validates against the FHIR R4
 * schema, pages to the end, and no one sees through it what they could not see through the API.
 */

type AnyResource = { resourceType: string; id?: string; [key: string]: unknown };

/** Every resource in a Bundle (the Bundle's own entries), each checked against the FHIR R4 schema. */
function resourcesOf(bundle: Bundle): AnyResource[] {
  expect(fhirSchemaErrors(bundle)).toEqual([]);
  return (bundle.entry ?? []).map((e: BundleEntry) => e.resource as AnyResource);
}

/** A fhir-kit-client signed in with `token`. */
const clientFor = (t: TestServer, token?: string) =>
  new Client({ baseUrl: `${t.url}/fhir/R4`, ...(token ? { bearerToken: token } : {}) });

/** What fhir-kit-client rejected with: the HTTP status and the OperationOutcome. */
async function refusal(call: Promise<unknown>): Promise<{ status: number; body: AnyResource }> {
  try {
    await call;
  } catch (error) {
    const response = (error as { response?: { status: number; data: AnyResource } }).response;
    if (response) return { status: response.status, body: response.data };
    throw error;
  }
  throw new Error('expected the FHIR call to fail');
}

describe('FHIR R4 API', () => {
  let t: TestServer;
  let team: CareTeam;
  let doctorA: Caller;
  let pA: number;

  beforeAll(async () => {
    // Compiling the schema blocks for seconds: done before the server starts, not between requests.
    warmFhirSchema();
    t = await startTestServer();
    team = await careTeam(t);
    doctorA = callerFor(t, team.doctorA.token);
    pA = team.patientA.patientId;
  });

  afterAll(async () => {
    await t?.close();
  });

  describe('with an off-the-shelf FHIR client', () => {
    it('reads the CapabilityStatement without signing in, listing exactly the types and parameters served', async () => {
      const statement = (await clientFor(t).capabilityStatement()) as AnyResource;
      expect(fhirSchemaErrors(statement)).toEqual([]);
      const rest = (
        statement.rest as { resource: { type: string; searchParam: { name: string }[] }[] }[]
      )[0]!;
      expect(rest.resource.map((r) => r.type)).toEqual([
        'Patient',
        'Practitioner',
        'Encounter',
        'Condition',
        'MedicationStatement',
        'DocumentReference',
      ]);
      const params = Object.fromEntries(rest.resource.map((r) => [r.type, r.searchParam.map((p) => p.name)]));
      expect(params.Patient).toEqual(['name', '_count']);
      expect(params.Encounter).toEqual(['patient', 'date', '_count']);
      expect((statement.implementation as { url: string }).url).toBe(`${t.url}/fhir/R4`);
    });

    it('reads a patient, their doctor, diagnosis and medicine as valid FHIR R4', async () => {
      const client = clientFor(t, team.doctorA.token);
      const patient = (await client.read({ resourceType: 'Patient', id: String(pA) })) as AnyResource;
      expect(fhirSchemaErrors(patient)).toEqual([]);
      expect(patient).toMatchObject({
        resourceType: 'Patient',
        id: String(pA),
        gender: 'female',
        identifier: [{ system: 'urn:hdms:patient-id', value: String(pA) }],
        meta: { versionId: '1' },
      });
      expect(patient.birthDate).toBeUndefined();
      const doctor = (await client.read({
        resourceType: 'Practitioner',
        id: String(team.doctorA.doctorId),
      })) as AnyResource;
      expect(fhirSchemaErrors(doctor)).toEqual([]);
      expect(doctor.qualification).toEqual([{ code: { text: 'General medicine' } }]);
      const condition = (await client.read({
        resourceType: 'Condition',
        id: `diagnosis-${pA}`,
      })) as AnyResource;
      expect(fhirSchemaErrors(condition)).toEqual([]);
      expect(condition.code).toEqual({ text: 'secret diagnosis' });
      const medicine = (await client.read({
        resourceType: 'MedicationStatement',
        id: `medicine-${pA}`,
      })) as AnyResource;
      expect(fhirSchemaErrors(medicine)).toEqual([]);
      expect(medicine.medicationCodeableConcept).toEqual({ text: 'secret medicine' });
      const refused = await refusal(
        client.read({ resourceType: 'Patient', id: String(team.patientB.patientId) }),
      );
      expect(refused.status).toBe(404);
      expect(fhirSchemaErrors(refused.body)).toEqual([]);
      expect(refused.body).toMatchObject({
        resourceType: 'OperationOutcome',
        issue: [{ code: 'not-found' }],
      });
    });

    it('searches patients by name and pages to the end with next links, total on the first page', async () => {
      const doctor = await linkedDoctor(t);
      const caller = callerFor(t, doctor.token);
      const names = ['Quill Alpha', 'quill beta', 'QUILL Gamma', 'Quill Delta', 'Quill Epsilon'];
      await caller.patients.createMany(names.map((name) => ({ name, age: 50, gender: 'M' })));
      await caller.patients.create({ name: 'Someone Else', age: 20, gender: 'F' });
      const client = clientFor(t, doctor.token);
      let bundle = (await client.search({
        resourceType: 'Patient',
        searchParams: { name: 'quill', _count: 2 },
      })) as unknown as Bundle;
      expect(bundle.total).toBe(5);
      const seen: string[] = [];
      let pages = 0;
      for (;;) {
        pages++;
        for (const resource of resourcesOf(bundle)) seen.push((resource.name as { text: string }[])[0]!.text);
        const next = bundle.link?.find((l) => l.relation === 'next');
        if (!next) break;
        expect(next.url.startsWith(`${t.url}/fhir/R4/Patient?`)).toBe(true);
        bundle = (await client.nextPage({ bundle: bundle as never })) as unknown as Bundle;
        if (pages > 1) expect(bundle.total).toBeUndefined();
      }
      expect(pages).toBe(3);
      expect(seen).toEqual(names);
      const everyone = (await client.search({
        resourceType: 'Patient',
        searchParams: { _count: 0 },
      })) as unknown as Bundle;
      expect(everyone.total).toBe(6);
      expect(everyone.entry ?? []).toEqual([]);
    });

    it('answers $everything: the patient, doctor, diagnosis, medicine, check-ups and notes', async () => {
      const patient = await linkedPatient(t, team.doctorA.doctorId);
      await doctorA.checkHistory.createMany([
        { patientId: patient.patientId, checkTime: new Date('2024-01-02T09:00:00Z') },
        { patientId: patient.patientId, checkTime: new Date('2024-03-04T09:00:00Z') },
      ]);
      const first = await doctorA.notes.create({ patientId: patient.patientId, body: 'first look' });
      const fix = await doctorA.notes.create({
        patientId: patient.patientId,
        body: 'first look, corrected',
        correctsNoteId: first.id,
      });
      const client = clientFor(t, team.doctorA.token);
      const bundle = (await client.operation({
        name: '$everything',
        resourceType: 'Patient',
        id: String(patient.patientId),
        method: 'GET',
      })) as unknown as Bundle;
      const resources = resourcesOf(bundle);
      const types = resources.map((r) => r.resourceType).sort();
      expect(types).toEqual([
        'Condition',
        'DocumentReference',
        'DocumentReference',
        'Encounter',
        'Encounter',
        'MedicationStatement',
        'Patient',
        'Practitioner',
      ]);
      expect(bundle.total).toBe(8);
      const docs = Object.fromEntries(
        resources.filter((r) => r.resourceType === 'DocumentReference').map((r) => [r.id, r]),
      );
      expect(docs[String(first.id)]).toMatchObject({ status: 'superseded', meta: { versionId: '2' } });
      expect(docs[String(fix.id)]).toMatchObject({
        status: 'current',
        relatesTo: [{ code: 'replaces', target: { reference: `DocumentReference/${first.id}` } }],
      });
      for (const entry of bundle.entry ?? []) {
        expect(entry.fullUrl).toBe(`${t.url}/fhir/R4/${entry.resource!.resourceType}/${entry.resource!.id}`);
      }
    });
  });

  describe('resources', () => {
    it('records the doctor and room with each check-up, never stamping later ones on earlier check-ups', async () => {
      const patient = await linkedPatient(t, team.doctorA.doctorId);
      const legacy = await t.db.models.CheckHistory.create({ patientId: patient.patientId });
      const before = await doctorA.checkHistory.create({ patientId: patient.patientId });
      const admin = callerFor(t, team.admin.token);
      await admin.patients.update({
        id: patient.patientId,
        roomNumber: '99',
        doctorId: team.doctorB.doctorId,
      });
      const after = await admin.checkHistory.create({ patientId: patient.patientId });
      const read = async (id: number) =>
        (await http(t.url, 'GET', `/fhir/R4/Encounter/${id}`, { token: team.admin.token })).body;
      const old = await read(legacy.id);
      expect(old.participant).toBeUndefined();
      expect(old.location).toBeUndefined();
      expect(old.class.code).toBe('AMB');
      expect(await read(before.id)).toMatchObject({
        status: 'finished',
        subject: { reference: `Patient/${patient.patientId}` },
        participant: [{ individual: { reference: `Practitioner/${team.doctorA.doctorId}` } }],
        location: [{ location: { display: 'Room 12' } }],
      });
      expect(await read(after.id)).toMatchObject({
        participant: [{ individual: { reference: `Practitioner/${team.doctorB.doctorId}` } }],
        location: [{ location: { display: 'Room 99' } }],
      });
      for (const id of [legacy.id, before.id, after.id]) expect(fhirSchemaErrors(await read(id))).toEqual([]);
    });

    it('searches Encounters by date with prefixes, newest first', async () => {
      const patient = await linkedPatient(t, team.doctorA.doctorId);
      const times = [
        '2023-12-31T23:59:59Z',
        '2024-01-01T00:00:00Z',
        '2024-01-15T12:00:00Z',
        '2024-02-01T00:00:00Z',
      ];
      await doctorA.checkHistory.createMany(
        times.map((time) => ({ patientId: patient.patientId, checkTime: new Date(time) })),
      );
      const starts = async (query: string) => {
        const res = await http(t.url, 'GET', `/fhir/R4/Encounter?patient=${patient.patientId}&${query}`, {
          token: team.doctorA.token,
        });
        expect(res.status).toBe(200);
        return {
          total: res.body.total,
          starts: resourcesOf(res.body).map((r) => (r.period as { start: string }).start.slice(0, 19)),
        };
      };
      expect(await starts('date=2024-01')).toEqual({
        total: 2,
        starts: ['2024-01-15T12:00:00', '2024-01-01T00:00:00'],
      });
      expect(await starts('date=ge2024-01-01&date=lt2024-02-01')).toEqual(await starts('date=2024-01'));
      expect((await starts('date=gt2024-01-01')).starts).toEqual([
        '2024-02-01T00:00:00',
        '2024-01-15T12:00:00',
      ]);
      expect((await starts('date=le2023-12-31')).starts).toEqual(['2023-12-31T23:59:59']);
      expect((await starts('date=lt2024-01-01T00:00:00Z')).starts).toEqual(['2023-12-31T23:59:59']);
      expect((await starts('date=eq2024-01-15T12:00:00%2B00:00')).total).toBe(1);
      const paged = await starts('_count=3');
      expect(paged).toMatchObject({ total: 4 });
      expect(paged.starts).toHaveLength(3);
    });

    it('has no Condition or MedicationStatement once cleared, and versions the Patient from its revisions', async () => {
      const patient = await linkedPatient(t, team.doctorA.doctorId);
      const get = (path: string) => http(t.url, 'GET', `/fhir/R4/${path}`, { token: team.doctorA.token });
      const first = await get(`Patient/${patient.patientId}`);
      expect(first.headers.get('etag')).toBe('W/"1"');
      await doctorA.patients.update({ id: patient.patientId, diagnosis: null, prescribedMedicine: '' });
      await doctorA.patients.update({ id: patient.patientId, age: 41 });
      const second = await get(`Patient/${patient.patientId}`);
      expect(second.headers.get('etag')).toBe('W/"3"');
      expect(second.body.meta.versionId).toBe('3');
      const recorded = second.body.extension[0].extension[1].valueDateTime;
      expect(recorded > first.body.extension[0].extension[1].valueDateTime).toBe(true);
      expect(second.body.extension[0].extension[0].valueAge.value).toBe(41);
      expect((await get(`Condition/diagnosis-${patient.patientId}`)).status).toBe(404);
      expect((await get(`MedicationStatement/medicine-${patient.patientId}`)).status).toBe(404);
      const search = await get(`Condition?patient=Patient/${patient.patientId}`);
      expect(search.status).toBe(200);
      expect(search.body.total).toBe(0);
    });

    it(`caps $everything at ${EVERYTHING_MAX_PER_TYPE} Encounters and says what it left out`, async () => {
      const patient = await linkedPatient(t, team.doctorA.doctorId);
      const base = Date.parse('2020-01-01T00:00:00Z');
      await doctorA.checkHistory.createMany(
        Array.from({ length: EVERYTHING_MAX_PER_TYPE + 1 }, (_, i) => ({
          patientId: patient.patientId,
          checkTime: new Date(base + i * 60_000),
        })),
      );
      const res = await http(t.url, 'GET', `/fhir/R4/Patient/${patient.patientId}/$everything`, {
        token: team.doctorA.token,
      });
      expect(res.status).toBe(200);
      const entries = res.body.entry as BundleEntry[];
      const encounters = entries.filter((e) => e.resource?.resourceType === 'Encounter');
      expect(encounters).toHaveLength(EVERYTHING_MAX_PER_TYPE);
      expect(encounters.map((e) => e.resource!.id)).not.toContain(undefined);
      const outcomeEntry = entries.find((e) => e.search?.mode === 'outcome');
      expect(JSON.stringify(outcomeEntry)).toContain(
        `Only the latest ${EVERYTHING_MAX_PER_TYPE} of ${EVERYTHING_MAX_PER_TYPE + 1} Encounters`,
      );
      expect(JSON.stringify(outcomeEntry)).toContain(`Encounter?patient=${patient.patientId}`);
      expect(res.body.total).toBe(1 + 1 + 1 + 1 + EVERYTHING_MAX_PER_TYPE + 1);
      expect(fhirSchemaErrors(res.body)).toEqual([]);
    });

    it('builds absolute links from PUBLIC_URL', async () => {
      const services = t.server.services;
      const app = createApp({
        ...services,
        config: { ...services.config, publicUrl: 'https://hdms.clinic.example.org/api' },
      });
      const res = await http(app, 'GET', '/fhir/R4/Patient?_count=1', { token: team.admin.token });
      expect(res.status).toBe(200);
      expect(res.body.entry[0].fullUrl).toMatch(
        /^https:\/\/hdms\.clinic\.example\.org\/api\/fhir\/R4\/Patient\/\d+$/,
      );
      const next = res.body.link.find((l: { relation: string }) => l.relation === 'next');
      expect(next.url).toMatch(
        /^https:\/\/hdms\.clinic\.example\.org\/api\/fhir\/R4\/Patient\?_count=1&_cursor=\d+$/,
      );
    });
  });

  describe('access', () => {
    const get = (path: string, token?: string, headers: Record<string, string> = {}) =>
      http(t.url, 'GET', `/fhir/R4/${path}`, { token, headers });

    it('answers 401 OperationOutcome without a sign-in, or with an unknown token', async () => {
      for (const token of [undefined, 'not-a-token']) {
        const res = await get(`Patient/${pA}`, token);
        expect(res.status).toBe(401);
        expect(res.headers.get('content-type')).toBe('application/fhir+json; charset=utf-8');
        expect(res.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'login' }] });
      }
    });

    it('answers a patient outside the scope exactly as a missing one (404), and audits the attempt', async () => {
      const since = await lastAuditId(t);
      const outOfScope = await get(`Patient/${team.patientB.patientId}`, team.doctorA.token);
      const missing = await get('Patient/999999', team.doctorA.token);
      expect(outOfScope.status).toBe(404);
      expect(outOfScope.body).toEqual(missing.body);
      expect(outOfScope.body.issue[0].code).toBe('not-found');
      for (const path of [
        `Condition/diagnosis-${team.patientB.patientId}`,
        `Encounter?patient=${team.patientB.patientId}`,
        `DocumentReference?patient=${team.patientB.patientId}`,
        `Patient/${team.patientB.patientId}/$everything`,
      ]) {
        expect((await get(path, team.doctorA.token)).status).toBe(404);
      }
      const rows = await auditSince(t, since);
      expect(rows.some((r) => r.action === 'denied' && r.patientId === team.patientB.patientId)).toBe(true);
      expect(rows.filter((r) => r.action === 'read')).toEqual([]);
    });

    it('lets the other doctor read once the patient consents, and under emergency access with the reason audited', async () => {
      const consented = await linkedPatient(t, team.doctorA.doctorId);
      const doctor = await linkedDoctor(t);
      expect((await get(`Patient/${consented.patientId}`, doctor.token)).status).toBe(404);
      await callerFor(t, consented.token).consent.grant({ doctorId: doctor.doctorId });
      expect((await get(`Patient/${consented.patientId}`, doctor.token)).status).toBe(200);
      expect((await get(`Condition/diagnosis-${consented.patientId}`, doctor.token)).status).toBe(200);

      const emergency = await linkedPatient(t, team.doctorB.doctorId);
      expect((await get(`Patient/${emergency.patientId}/$everything`, doctor.token)).status).toBe(404);
      const reason = 'Unconscious on arrival, record needed';
      await callerFor(t, doctor.token).access.emergency({ patientId: emergency.patientId, reason });
      const since = await lastAuditId(t);
      const res = await get(`Patient/${emergency.patientId}/$everything`, doctor.token);
      expect(res.status).toBe(200);
      expect(resourcesOf(res.body).map((r) => r.resourceType)).toContain('Condition');
      const rows = await auditSince(t, since);
      expect(rows.length).toBeGreaterThan(0);
      for (const row of rows) {
        expect(row).toMatchObject({ action: 'read', patientId: emergency.patientId, reason });
        expect(row.procedure).toBe('fhir.Patient.$everything');
      }
    });

    it('lets patients read their own record and nobody else’s', async () => {
      const token = team.patientA.token;
      expect((await get(`Patient/${pA}`, token)).status).toBe(200);
      expect((await get(`Condition/diagnosis-${pA}`, token)).status).toBe(200);
      expect((await get(`DocumentReference?patient=${pA}`, token)).status).toBe(200);
      expect((await get(`Patient/${team.patientB.patientId}`, token)).status).toBe(404);
      const all = await get('Patient', token);
      expect(resourcesOf(all.body).map((r) => r.id)).toEqual([String(pA)]);
      expect(all.body.total).toBe(1);
    });

    it('keeps clinical types from admins and service tokens (403), and holds tokens to their scopes', async () => {
      const adminToken = team.admin.token;
      const adminPatient = await get(`Patient/${pA}`, adminToken);
      expect(adminPatient.status).toBe(200);
      const everything = await get(`Patient/${pA}/$everything`, adminToken);
      expect(resourcesOf(everything.body).map((r) => r.resourceType)).not.toContain('Condition');
      for (const path of [
        `Condition/diagnosis-${pA}`,
        `MedicationStatement?patient=${pA}`,
        `DocumentReference?patient=${pA}`,
      ]) {
        const res = await get(path, adminToken);
        expect(res.status).toBe(403);
        expect(res.body.issue[0].code).toBe('forbidden');
      }
      const patientsOnly = await serviceToken(t, adminToken, ['patients:read']);
      expect((await get(`Patient/${pA}`, patientsOnly.token)).status).toBe(200);
      expect((await get(`Practitioner/${team.doctorA.doctorId}`, patientsOnly.token)).status).toBe(403);
      expect((await get(`Encounter?patient=${pA}`, patientsOnly.token)).status).toBe(403);
      expect((await get(`Condition/diagnosis-${pA}`, patientsOnly.token)).status).toBe(403);
      const scoped = await serviceToken(t, adminToken, ['doctors:read', 'checkHistory:read']);
      expect((await get(`Practitioner/${team.doctorA.doctorId}`, scoped.token)).status).toBe(200);
      expect((await get(`Encounter?patient=${pA}`, scoped.token)).status).toBe(200);
      expect((await get(`Patient/${pA}`, scoped.token)).status).toBe(403);
    });

    it('shows an unlinked doctor no patient at all', async () => {
      const unlinked = await signedInUser(t, 'doctor');
      const search = await get('Patient', unlinked.token);
      expect(search.status).toBe(200);
      expect(search.body.total).toBe(0);
      expect((await get(`Patient/${pA}`, unlinked.token)).status).toBe(404);
    });

    it('answers an OperationOutcome without internals when the read cannot be audited', async () => {
      const res = await withAuditFailing(t, () => get(`Patient/${pA}`, team.doctorA.token));
      expect(res.status).toBeGreaterThanOrEqual(500);
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect(JSON.stringify(res.body)).not.toMatch(/audit_events|SELECT|INSERT|\.ts:|at /);
    });

    it('audits every read with the FHIR interaction as its procedure', async () => {
      const since = await lastAuditId(t);
      await get(`Patient/${pA}`, team.doctorA.token);
      await get(`Patient?_count=5`, team.doctorA.token);
      await get(`Encounter?patient=${pA}`, team.doctorA.token);
      const rows = await auditSince(t, since);
      expect(rows.map((r) => [r.action, r.procedure, r.patientId])).toEqual(
        expect.arrayContaining([
          ['read', 'fhir.Patient.read', pA],
          ['read', 'fhir.Patient.search', pA],
          ['read', 'fhir.Encounter.search', pA],
        ]),
      );
    });
  });

  describe('HTTP', () => {
    const get = (path: string, headers: Record<string, string> = {}) =>
      http(t.url, 'GET', `/fhir/R4/${path}`, { token: team.doctorA.token, headers });

    it('answers application/fhir+json with the app’s security headers, request id and no-store', async () => {
      const res = await get(`Patient/${pA}?_format=json`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/fhir+json; charset=utf-8');
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('last-modified')).toBeTruthy();
      for (const format of ['application/fhir+json', 'application/json']) {
        expect((await get(`Patient/${pA}?_format=${encodeURIComponent(format)}`)).status).toBe(200);
      }
      expect((await get(`Patient/${pA}`, { accept: 'application/fhir+json' })).status).toBe(200);
    });

    it('refuses other formats, unknown paths and writes with an OperationOutcome', async () => {
      const cases: [string, number, Record<string, string>?][] = [
        [`Patient/${pA}?_format=xml`, 406],
        [`Patient/${pA}`, 406, { accept: 'application/fhir+xml' }],
        ['Observation/1', 404],
        ['Patient/1/_history/1', 404],
        ['Patient/abc', 404],
        ['Condition/not-a-patient', 404],
      ];
      for (const [path, status, headers] of cases) {
        const res = await get(path, headers);
        expect([path, res.status]).toEqual([path, status]);
        expect(res.body.resourceType).toBe('OperationOutcome');
        expect(JSON.stringify(res.body)).not.toMatch(/at .*\.ts|stack/i);
      }
      const write = await http(t.url, 'POST', '/fhir/R4/Patient', {
        token: team.doctorA.token,
        body: { resourceType: 'Patient' },
      });
      expect(write.status).toBe(405);
      expect(write.body.resourceType).toBe('OperationOutcome');
    });

    it('refuses unsupported and bad search parameters (400) unless the client asks for lenient handling', async () => {
      const bad: [string, RegExp][] = [
        ['Patient?birthdate=2000', /birthdate is not supported on Patient/],
        ['Patient?name:exact=x', /modifier :exact/],
        ['Patient?_count=abc', /_count must be a whole number/],
        ['Patient?_count=1001', /from 0 to 1000/],
        ['Patient?_cursor=-4', /_cursor must be a positive whole number/],
        ['Patient?name=a&name=b', /name may be given once/],
        ['Encounter', /needs patient=<id>/],
        [`Encounter?patient=${pA}&date=yesterday`, /date must be a FHIR date/],
        [`Encounter?patient=${pA}&date=2024-02-30`, /date must be a FHIR date/],
        [`Encounter?patient=${pA}&date=sa2024`, /prefix sa is not supported/],
        ['Condition?patient=abc', /patient must be a positive whole number/],
        [`Patient/${pA}/$everything?_count=5`, /takes no parameters/],
      ];
      for (const [path, message] of bad) {
        const res = await get(path);
        expect([path, res.status]).toEqual([path, 400]);
        expect(res.body.resourceType).toBe('OperationOutcome');
        expect(JSON.stringify(res.body.issue)).toMatch(message);
      }
      const lenient = await get('Patient?birthdate=2000&_count=1', { prefer: 'handling=lenient' });
      expect(lenient.status).toBe(200);
      expect(lenient.body.link[0]).toEqual({ relation: 'self', url: `${t.url}/fhir/R4/Patient?_count=1` });
      expect((await get(`Patient/${pA}/$everything?x=1`, { prefer: 'handling=lenient' })).status).toBe(200);
      expect((await get('Patient?_count=abc', { prefer: 'handling=lenient' })).status).toBe(400);
    });
  });

  describe('with MFA required for doctors', () => {
    it('holds a doctor who has not enrolled to enrolling first (403), as the API does', async () => {
      const mfa = await startTestServer({ MFA_REQUIRED_ROLES: 'doctor' });
      try {
        const doctor = await linkedDoctor(mfa);
        const res = await http(mfa.url, 'GET', '/fhir/R4/Patient', { token: doctor.token });
        expect(res.status).toBe(403);
        expect(res.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'forbidden' }] });
        expect(res.body.issue[0].diagnostics).toMatch(/MFA enrollment is required/);
        expect((await http(mfa.url, 'GET', '/fhir/R4/metadata')).status).toBe(200);
      } finally {
        await mfa.close();
      }
    });
  });
});
