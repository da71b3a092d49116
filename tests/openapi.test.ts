import { Validator } from '@seriousme/openapi-schema-validator';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { totpCode } from '../server/src/auth/index';
import { createApp } from '../server/src/http/app';
import { careTeam, type CareTeam } from './helpers/clinical';
import { isFinished } from './helpers/jobs';
import {
  DB_KINDS,
  http,
  type JsonResponse,
  startTestServer,
  type TestServer,
  trpcClient,
} from './helpers/server';
import { waitFor } from './helpers/wait';

/** Every REST endpoint of the contract (CONTRACT.md, "REST"), as OpenAPI writes its path. */
const CONTRACT_ENDPOINTS = [
  'post /register',
  'post /login',
  'post /login/mfa',
  'post /logout',
  'post /doctors',
  'get /doctors',
  'post /patients',
  'get /patients',
  'post /check_history',
  'post /check-history',
  'post /update_patient/{id}',
  'post /patients/{id}/export',
  'get /jobs/{id}',
  'post /users/{id}/link',
  'get /healthz',
  'get /openapi.json',
  'get /docs',
  'get /metrics',
];

type Doc = { openapi: string; paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };

/** A JSON pointer segment inside a URI fragment. */
const segment = (s: string) => encodeURIComponent(s.replace(/~/g, '~0').replace(/\//g, '~1'));

describe.each(DB_KINDS)('OpenAPI document and REST answers, on %s', (kind) => {
  let t: TestServer;
  let team: CareTeam;
  let doc: Doc;
  let ajv: Ajv2020;
  /** Every documented answer (`get /jobs/{id} 200`) a real response was checked against. */
  const checked = new Set<string>();

  beforeAll(async () => {
    t = await startTestServer({}, { kind });
    team = await careTeam(t);
    const res = await http(t.url, 'GET', '/openapi.json');
    expect(res.status).toBe(200);
    doc = res.body;
    ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    ajv.addSchema(doc, 'hdms');
  });
  afterAll(() => t?.close());

  /**
   * Checks a real answer against what the document says `method path` answers with its status:
   * the status must be documented, and the body must match its schema.
   */
  function conforms(method: string, path: string, res: JsonResponse): void {
    const operation = doc.paths[path]?.[method];
    expect(operation, `${method} ${path} is documented`).toBeDefined();
    const answer = operation!.responses[String(res.status)] as
      | { content?: Record<string, { schema: unknown }> }
      | undefined;
    expect(
      answer,
      `${method} ${path} documents status ${res.status} (body: ${JSON.stringify(res.body)})`,
    ).toBeDefined();
    checked.add(`${method} ${path} ${res.status}`);
    if (!answer!.content) {
      expect(res.body).toBeNull();
      return;
    }
    const type = Object.keys(answer!.content)[0]!;
    const pointer = ['paths', path, method, 'responses', String(res.status), 'content', type, 'schema']
      .map(segment)
      .join('/');
    const validate = ajv.compile({ $ref: `hdms#/${pointer}` });
    const ok = validate(res.body);
    expect(
      ok,
      `${method} ${path} ${res.status}: ${ajv.errorsText(validate.errors)} in ${JSON.stringify(res.body)}`,
    ).toBe(true);
  }

  it('is a valid OpenAPI 3.1 document (checked by @seriousme/openapi-schema-validator)', async () => {
    const result = await new Validator().validate(doc as unknown as Record<string, unknown>);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(doc.openapi).toMatch(/^3\.1\./);
  });

  it('names every REST endpoint of the contract, and every route the server mounts', () => {
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m} ${path}`),
    );
    for (const endpoint of CONTRACT_ENDPOINTS) expect(documented).toContain(endpoint);

    const app = createApp(t.server.services);
    const mounted = app.routes
      .filter((r) => r.method !== 'ALL' && !r.path.startsWith('/trpc') && !r.path.startsWith('/panel'))
      .filter((r) => !r.path.startsWith('/docs/assets'))
      .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)/g, '{$1}')}`);
    expect(mounted.length).toBeGreaterThan(15);
    for (const route of mounted) expect(documented).toContain(route);
  });

  it('documents REST bodies in snake_case, as the wire carries them', () => {
    const text = JSON.stringify(doc.paths);
    expect(text).toContain('"doctor_id"');
    expect(text).toContain('"room_number"');
    expect(text).toContain('"expires_at"');
    expect(text).not.toMatch(/"(doctorId|roomNumber|expiresAt|jobId|maxAttempts)"/);
    // JSON Schema's own keywords are left alone.
    expect(text).toContain('"maxLength"');
    expect(text).not.toContain('max_length');
  });

  it('every answer the endpoints give matches its documented schema', async () => {
    const { admin, doctorA, patientA } = team;
    const u = `oa_${kind}_${Date.now()}`;

    conforms('get', '/healthz', await http(t.url, 'GET', '/healthz'));
    const registered = await http(t.url, 'POST', '/register', {
      body: { username: u, email: `${u}@example.org`, password: 'openapi-password', role: 'doctor' },
    });
    conforms('post', '/register', registered);
    conforms('post', '/register', await http(t.url, 'POST', '/register', { body: { username: 'x' } }));
    const login = await http(t.url, 'POST', '/login', {
      body: { username: u, password: 'openapi-password' },
    });
    conforms('post', '/login', login);
    conforms(
      'post',
      '/login',
      await http(t.url, 'POST', '/login', { body: { username: u, password: 'wrong-password' } }),
    );
    // An account with MFA: /login answers a challenge, /login/mfa the session.
    const mfaUser = trpcClient(t.url, login.body.token);
    const { secret } = await mfaUser.auth.mfa.enroll.mutate({ password: 'openapi-password' });
    const { recoveryCodes } = await mfaUser.auth.mfa.confirm.mutate({ code: totpCode(secret, Date.now()) });
    const challenged = await http(t.url, 'POST', '/login', {
      body: { username: u, password: 'openapi-password' },
    });
    expect(challenged.body).toMatchObject({ mfa_required: true, challenge: expect.any(String) });
    conforms('post', '/login', challenged);
    const { challenge } = challenged.body;
    conforms(
      'post',
      '/login/mfa',
      await http(t.url, 'POST', '/login/mfa', { body: { challenge, code: '000000' } }),
    );
    conforms('post', '/login/mfa', await http(t.url, 'POST', '/login/mfa', { body: { challenge } }));
    const second = await http(t.url, 'POST', '/login/mfa', { body: { challenge, code: recoveryCodes[0] } });
    expect(second.status).toBe(200);
    conforms('post', '/login/mfa', second);

    const one = await http(t.url, 'POST', '/doctors', {
      token: admin.token,
      body: { name: 'Dr. Schema', specialization: 'Documentation' },
    });
    conforms('post', '/doctors', one);
    const many = await http(t.url, 'POST', '/doctors', {
      token: admin.token,
      body: [
        { name: 'Dr. One', specialization: 'X' },
        { name: 'Dr. Two', specialization: 'Y' },
      ],
    });
    conforms('post', '/doctors', many);
    conforms(
      'post',
      '/doctors',
      await http(t.url, 'POST', '/doctors', {
        token: doctorA.token,
        body: { name: 'a', specialization: 'b' },
      }),
    );
    conforms('get', '/doctors', await http(t.url, 'GET', '/doctors?limit=5', { token: admin.token }));
    conforms('get', '/doctors', await http(t.url, 'GET', '/doctors'));

    const patient = await http(t.url, 'POST', '/patients', {
      token: admin.token,
      body: {
        name: 'Pat Schema',
        age: 50,
        gender: 'male',
        doctor_id: doctorA.doctorId,
        room_number: '3',
        bed_number: 'A',
      },
    });
    conforms('post', '/patients', patient);
    conforms(
      'post',
      '/patients',
      await http(t.url, 'POST', '/patients', {
        token: admin.token,
        body: [
          { name: 'P1', age: 1, gender: 'f' },
          { name: 'P2', age: 2, gender: 'm', doctor_id: doctorA.doctorId },
        ],
      }),
    );
    conforms('get', '/patients', await http(t.url, 'GET', '/patients', { token: doctorA.token }));
    conforms('get', '/patients', await http(t.url, 'GET', '/patients?limit=0', { token: doctorA.token }));

    conforms(
      'post',
      '/check_history',
      await http(t.url, 'POST', '/check_history', {
        token: doctorA.token,
        body: { patient_id: patientA.patientId },
      }),
    );
    conforms(
      'post',
      '/check-history',
      await http(t.url, 'POST', '/check-history', {
        token: doctorA.token,
        body: [{ patient_id: patientA.patientId, check_time: '2026-01-02T03:04:05Z' }],
      }),
    );
    conforms(
      'post',
      '/check_history',
      await http(t.url, 'POST', '/check_history', { token: doctorA.token, body: { patient_id: 999_999 } }),
    );

    const update = await http(t.url, 'POST', `/update_patient/${patientA.patientId}`, {
      token: doctorA.token,
      body: { diagnosis: 'documented' },
    });
    conforms('post', '/update_patient/{id}', update);
    const jobId = update.body.job_id as number;
    const job = await waitFor(
      async () => {
        const res = await http(t.url, 'GET', `/jobs/${jobId}`, { token: doctorA.token });
        return isFinished(res.body.status) ? res : null;
      },
      { what: `GET /jobs/${jobId} to show the update finished`, timeoutMs: 20_000 },
    );
    expect(job.body.status).toBe('succeeded');
    conforms('get', '/jobs/{id}', job);
    conforms('get', '/jobs/{id}', await http(t.url, 'GET', '/jobs/abc', { token: doctorA.token }));
    // Retry and cancel (issue 19): a finished job can be neither cancelled (409) nor, having
    // succeeded, retried (409); a failed one is retried (200), a queued one cancelled (200).
    conforms(
      'post',
      '/jobs/{id}/cancel',
      await http(t.url, 'POST', `/jobs/${jobId}/cancel`, { token: doctorA.token }),
    );
    conforms(
      'post',
      '/jobs/{id}/retry',
      await http(t.url, 'POST', `/jobs/${jobId}/retry`, { token: doctorA.token }),
    );
    conforms(
      'post',
      '/jobs/{id}/retry',
      await http(t.url, 'POST', '/jobs/999999/retry', { token: doctorA.token }),
    );
    const ownJob = (status: 'failed' | 'queued') =>
      t.db.models.Job.create({
        type: 'sessions.purge',
        payload: {},
        status,
        attempts: 0,
        maxAttempts: 3,
        runAfter: new Date(Date.now() + 86_400_000),
        createdByType: 'user',
        createdById: job.body.created_by.id,
        createdByName: 'doctor A',
        requestId: 'openapi',
        finishedAt: status === 'failed' ? new Date() : null,
      });
    const failedJob = await ownJob('failed');
    conforms(
      'post',
      '/jobs/{id}/retry',
      await http(t.url, 'POST', `/jobs/${failedJob.id}/retry`, { token: doctorA.token }),
    );
    const queuedJob = await ownJob('queued');
    conforms(
      'post',
      '/jobs/{id}/cancel',
      await http(t.url, 'POST', `/jobs/${queuedJob.id}/cancel`, { token: doctorA.token }),
    );

    // Issue 19: through the contract's REST route, which calls patients.export.
    const exported = await http(t.url, 'POST', `/patients/${patientA.patientId}/export`, {
      token: doctorA.token,
    });
    conforms('post', '/patients/{id}/export', exported);
    const exportJob = exported.body.job_id as number;
    const exportStatus = await waitFor(
      async () => {
        const status = (await http(t.url, 'GET', `/jobs/${exportJob}`, { token: doctorA.token })).body.status;
        return isFinished(status) ? status : null;
      },
      { what: `GET /jobs/${exportJob} to show the export finished`, timeoutMs: 20_000 },
    );
    expect(exportStatus).not.toBe('failed');
    conforms(
      'get',
      '/jobs/{id}/result',
      await http(t.url, 'GET', `/jobs/${exportJob}/result`, { token: doctorA.token }),
    );
    conforms(
      'get',
      '/jobs/{id}/result',
      await http(t.url, 'GET', `/jobs/${exportJob}/result`, { token: admin.token }),
    );

    // The FHIR R4 API: read, search, $everything, metadata, and the Bulk Data sequence.
    const fhir = '/fhir/R4';
    const asDoctor = { token: doctorA.token };
    conforms('get', `${fhir}/metadata`, await http(t.url, 'GET', `${fhir}/metadata`));
    conforms('get', `${fhir}/{type}`, await http(t.url, 'GET', `${fhir}/Patient?_count=1`, asDoctor));
    conforms('get', `${fhir}/{type}`, await http(t.url, 'GET', `${fhir}/Patient?bad=1`, asDoctor));
    conforms(
      'get',
      `${fhir}/{type}/{id}`,
      await http(t.url, 'GET', `${fhir}/Patient/${patientA.patientId}`, asDoctor),
    );
    conforms('get', `${fhir}/{type}/{id}`, await http(t.url, 'GET', `${fhir}/Patient/${patientA.patientId}`));
    conforms(
      'get',
      `${fhir}/{type}/{id}`,
      await http(t.url, 'GET', `${fhir}/Condition/diagnosis-1`, { token: admin.token }),
    );
    conforms('get', `${fhir}/{type}/{id}`, await http(t.url, 'GET', `${fhir}/Patient/424242`, asDoctor));
    conforms(
      'get',
      `${fhir}/{type}/{id}`,
      await http(t.url, 'GET', `${fhir}/Patient/1?_format=xml`, asDoctor),
    );
    conforms(
      'get',
      `${fhir}/Patient/{id}/$everything`,
      await http(t.url, 'GET', `${fhir}/Patient/${patientA.patientId}/$everything`, asDoctor),
    );
    const kickoff = await http(t.url, 'GET', `${fhir}/Patient/$export`, {
      ...asDoctor,
      headers: { prefer: 'respond-async', accept: 'application/fhir+json' },
    });
    conforms('get', `${fhir}/Patient/$export`, kickoff);
    const statusPath = new URL(kickoff.headers.get('content-location')!).pathname;
    const manifest = await waitFor(
      async () => {
        const res = await http(t.url, 'GET', statusPath, asDoctor);
        return res.status === 200 ? res : null;
      },
      { what: `GET ${statusPath} to answer the manifest`, timeoutMs: 20_000 },
    );
    conforms('get', `${fhir}/$export-status/{job}`, manifest);
    const file = new URL(manifest.body.output[0].url).pathname;
    conforms('get', `${fhir}/$export-file/{job}/{file}`, await http(t.url, 'GET', file, asDoctor));
    conforms('delete', `${fhir}/$export-status/{job}`, await http(t.url, 'DELETE', statusPath, asDoctor));

    conforms(
      'post',
      '/users/{id}/link',
      await http(t.url, 'POST', `/users/${registered.body.id}/link`, {
        token: admin.token,
        body: { doctor_id: one.body.id },
      }),
    );
    conforms(
      'post',
      '/users/{id}/link',
      await http(t.url, 'POST', `/users/${registered.body.id}/link`, {
        token: admin.token,
        body: { doctor_id: 1, patient_id: 1 },
      }),
    );

    const csv = await fetch(`${t.url}/patients/import`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin.token}`, 'content-type': 'text/csv' },
      body: 'name,age,gender\nImported,30,female\n',
    });
    conforms('post', '/patients/import', {
      status: csv.status,
      headers: csv.headers,
      body: await csv.json(),
    });
    conforms(
      'post',
      '/patients/import',
      await http(t.url, 'POST', '/patients/import', { token: admin.token, body: {} }),
    );

    const token = await http(t.url, 'POST', '/service-tokens', {
      token: admin.token,
      body: { name: `svc-${u}`, scopes: ['patients:read'], expires_in_days: 30 },
    });
    conforms('post', '/service-tokens', token);
    conforms(
      'get',
      '/service-tokens',
      await http(t.url, 'GET', '/service-tokens?status=active', { token: admin.token }),
    );
    conforms(
      'post',
      '/service-tokens/{id}/revoke',
      await http(t.url, 'POST', `/service-tokens/${token.body.id}/revoke`, { token: admin.token }),
    );
    conforms(
      'delete',
      '/service-tokens/{id}',
      await http(t.url, 'DELETE', `/service-tokens/${token.body.id}`, { token: admin.token }),
    );
    conforms(
      'delete',
      '/service-tokens/{id}',
      await http(t.url, 'DELETE', '/service-tokens/424242', { token: admin.token }),
    );

    conforms('post', '/logout', await http(t.url, 'POST', '/logout', { token: login.body.token }));
    conforms('post', '/logout', await http(t.url, 'POST', '/logout', { token: login.body.token }));

    // Every success answer of every JSON endpoint was met by a real one.
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (['/openapi.json', '/docs', '/metrics'].includes(path)) continue;
        for (const status of Object.keys(op.responses).filter((s) => s.startsWith('2'))) {
          expect(checked, `a real ${method} ${path} ${status} was checked`).toContain(
            `${method} ${path} ${status}`,
          );
        }
      }
    }
  });
});

describe('OpenAPI and the docs page in production', () => {
  it('are off unless API_DOCS=on, and on with it', async () => {
    const off = await startTestServer({ NODE_ENV: 'production' });
    try {
      expect((await http(off.url, 'GET', '/openapi.json')).status).toBe(404);
      expect((await http(off.url, 'GET', '/docs')).status).toBe(404);
      expect((await http(off.url, 'GET', '/docs/assets/swagger-ui-bundle.js')).status).toBe(404);
    } finally {
      await off.close();
    }
    const on = await startTestServer({ NODE_ENV: 'production', API_DOCS: 'on' });
    try {
      expect((await http(on.url, 'GET', '/openapi.json')).body.openapi).toMatch(/^3\.1\./);
      const page = await http(on.url, 'GET', '/docs');
      expect(page.status).toBe(200);
      expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect((await http(on.url, 'GET', '/docs/assets/..%2Fpackage.json')).status).toBe(404);
    } finally {
      await on.close();
    }
  });
});
