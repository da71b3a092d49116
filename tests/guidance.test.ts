import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MISSING_WRAPPER } from '../server/src/lib/transformer';
import { createLogger } from '../server/src/logger';
import { type CareTeam, careTeam } from './helpers/clinical';
import { http, type TestServer, startTestServer, trpcClient } from './helpers/server';
import { waitFor } from './helpers/wait';

/*
 * Issue 22, points 5 to 7: errors that say what to do (the missing superjson wrapper, an unknown
 * field named at its path, `Bearer` missing, an unknown path, REST field names in snake_case),
 * POST /patients/:id/export, and each finished job logged for people.
 */

let t: TestServer;
let team: CareTeam;
/** The server's log, one parsed JSON line each. */
const log: Record<string, unknown>[] = [];

beforeAll(async () => {
  const logger = createLogger('info', { write: (line: string) => log.push(JSON.parse(line)) });
  t = await startTestServer({}, { logger });
  team = await careTeam(t);
});

afterAll(async () => {
  await t?.close();
});

/** A raw tRPC call over HTTP: a POST with `body` as it is, or a GET with `?input=`. */
function rawTrpc(path: string, init: { post?: unknown; input?: unknown; token?: string }) {
  const query = init.input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(init.input))}`;
  return http(t.url, init.post === undefined ? 'GET' : 'POST', `/trpc/${path}${query}`, {
    token: init.token,
    ...(init.post === undefined ? {} : { body: init.post }),
  });
}

describe('a tRPC input without the superjson wrapper', () => {
  it('is a 400 saying to send {"json": ...}, as a POST body and as ?input=', async () => {
    const posted = await rawTrpc('auth.login', { post: { username: 'admin', password: 'whatever-1' } });
    expect(posted.status).toBe(400);
    expect(posted.body.error.json.message).toBe(MISSING_WRAPPER);
    expect(posted.body.error.json.data.code).toBe('BAD_REQUEST');

    const got = await rawTrpc('patients.get', {
      input: { id: team.patientA.patientId },
      token: team.doctorA.token,
    });
    expect(got.status).toBe(400);
    expect(got.body.error.json.message).toBe(MISSING_WRAPPER);
    const arrayInput = await rawTrpc('patients.get', { input: [1], token: team.doctorA.token });
    expect(arrayInput.body.error.json.message).toBe(MISSING_WRAPPER);
  });

  it('works once wrapped, and an empty object still means no input', async () => {
    const wrapped = await rawTrpc('patients.get', {
      input: { json: { id: team.patientA.patientId } },
      token: team.doctorA.token,
    });
    expect(wrapped.status).toBe(200);
    expect(wrapped.body.result.data.json.id).toBe(team.patientA.patientId);
    const empty = await rawTrpc('patients.list', { input: {}, token: team.doctorA.token });
    expect(empty.status).toBe(200);
  });

  it('refused by the role tier is still the 403, never a 500', async () => {
    const refused = await rawTrpc('doctors.create', {
      post: { name: 'Dr. X', specialization: 'Y' },
      token: team.patientA.token,
    });
    expect(refused.status).toBe(403);
  });
});

describe('an unknown field', () => {
  it('is named at its own path over tRPC, each one', async () => {
    const answer = await rawTrpc('auth.login', {
      post: { json: { username: 'admin', password: 'whatever-1', remember: true, usernmae: 'x' } },
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error.json.data.issues).toEqual([
      { path: ['remember'], message: expect.stringMatching(/is not a field of this input/) },
      { path: ['usernmae'], message: expect.stringMatching(/is not a field of this input/) },
    ]);
    expect(answer.body.error.json.message).toMatch(/^Invalid input: remember: is not a field of this input/);
  });

  it('is named in snake_case over REST, in a batch with its index', async () => {
    const single = await http(t.url, 'POST', '/patients', {
      token: team.admin.token,
      body: { name: 'Ann', age: 30, gender: 'female', doctor_id: team.doctorA.doctorId, room_numbr: '7' },
    });
    expect(single.status).toBe(400);
    expect(single.body.issues).toEqual([{ path: 'room_numbr', message: expect.any(String) }]);
    expect(single.body.error).toMatch(/^Invalid input: room_numbr: is not a field of this input/);

    const batch = await http(t.url, 'POST', '/patients', {
      token: team.admin.token,
      body: [
        { name: 'Ann', age: 30, gender: 'female' },
        { name: 'Bob', age: 31, gender: 'male', bed_numbr: '2' },
      ],
    });
    expect(batch.status).toBe(400);
    expect(batch.body.issues).toEqual([{ path: '1.bed_numbr', message: expect.any(String) }]);
  });
});

describe('an Authorization header without "Bearer "', () => {
  const hint =
    'The Authorization header must be "Bearer <token>" (the word Bearer, a space, then the token from sign-in)';

  it('is a 401 saying how to send the token, on REST and tRPC', async () => {
    const rest = await http(t.url, 'GET', '/patients', { headers: { authorization: team.doctorA.token } });
    expect(rest.status).toBe(401);
    expect(rest.body).toEqual({ error: hint });
    const trpc = await http(t.url, 'GET', '/trpc/auth.me', {
      headers: { authorization: `Token ${team.doctorA.token}` },
    });
    expect(trpc.status).toBe(401);
    expect(trpc.body.error.json.message).toBe(hint);
  });

  it('is not mentioned without a header, and the right header signs in', async () => {
    expect((await http(t.url, 'GET', '/patients')).body).toEqual({ error: 'Sign in first' });
    expect((await http(t.url, 'GET', '/patients', { token: team.doctorA.token })).status).toBe(200);
  });
});

describe('an unknown path', () => {
  it('is a JSON 404 naming it and pointing to /docs and /openapi.json', async () => {
    const res = await http(t.url, 'GET', '/patient');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({
      error: expect.stringMatching(
        /^GET \/patient is not an endpoint of this server\. The REST endpoints are listed at \/docs/,
      ),
      docs: '/docs',
      openapi: '/openapi.json',
      panel: '/panel',
    });
  });

  it('names the method the path takes when asked with another one', async () => {
    const res = await http(t.url, 'GET', '/login');
    expect(res.status).toBe(404);
    expect(res.body.error).toMatch(/^GET \/login is not an endpoint: this path takes POST\./);
    const param = await http(t.url, 'GET', '/users/3/link');
    expect(param.body.error).toMatch(/this path takes POST/);
  });

  it('points nowhere that is off (production), and leaves /fhir/ to the FHIR surface', async () => {
    const production = await startTestServer({ NODE_ENV: 'production' }, { target: t.target });
    try {
      const res = await http(production.url, 'GET', '/nowhere');
      expect(res.status).toBe(404);
      expect(Object.keys(res.body)).toEqual(['error']);
      expect(res.body.error).toMatch(/The README lists the endpoints/);
      expect(res.body.error).not.toMatch(/\/docs|\/panel/);
    } finally {
      await production.close();
    }
    // Under /fhir/ the FHIR surface answers, with an OperationOutcome.
    const fhir = await http(t.url, 'GET', '/fhir/R4/Nothing/1');
    expect(fhir.status).toBe(404);
    expect(fhir.body).toMatchObject({ resourceType: 'OperationOutcome' });
    expect(fhir.body.error).toBeUndefined();
  });
});

describe('REST messages name fields as the wire does', () => {
  it('a doctor changing the room is told room_number over REST, roomNumber over tRPC', async () => {
    const rest = await http(t.url, 'POST', `/update_patient/${team.patientA.patientId}`, {
      token: team.doctorA.token,
      body: { room_number: '9', bed_number: 'C' },
    });
    expect(rest.status).toBe(403);
    expect(rest.body.error).toBe(
      'You may not change room_number, bed_number: doctor, room and bed assignments are changed only by an admin',
    );
    const trpc = await trpcClient(t.url, team.doctorA.token)
      .patients.update.mutate({ id: team.patientA.patientId, roomNumber: '9' })
      .catch((error: Error) => error);
    expect((trpc as Error).message).toBe(
      'You may not change roomNumber: doctor, room and bed assignments are changed only by an admin',
    );
  });
});

describe('POST /patients/:id/export', () => {
  it('queues the export for the patient and their doctor (202 {message, job_id}); others find no patient, admins may not', async () => {
    const byPatient = await http(t.url, 'POST', `/patients/${team.patientA.patientId}/export`, {
      token: team.patientA.token,
    });
    expect(byPatient.status).toBe(202);
    expect(byPatient.body).toEqual({
      message: expect.stringContaining('Export accepted'),
      job_id: expect.any(Number),
    });
    expect(byPatient.headers.get('location')).toBe(`/jobs/${byPatient.body.job_id}`);

    const byDoctor = await http(t.url, 'POST', `/patients/${team.patientA.patientId}/export`, {
      token: team.doctorA.token,
    });
    expect(byDoctor.status).toBe(202);
    for (const token of [team.doctorB.token, team.patientB.token]) {
      const refused = await http(t.url, 'POST', `/patients/${team.patientA.patientId}/export`, { token });
      expect(refused.status).toBe(404);
      expect(refused.body).toEqual({ error: 'Patient not found' });
    }
    // An admin's role may not export at all (clinical content): 403, as patients.export answers.
    expect(
      (await http(t.url, 'POST', `/patients/${team.patientA.patientId}/export`, { token: team.admin.token }))
        .status,
    ).toBe(403);
    expect((await http(t.url, 'POST', `/patients/${team.patientA.patientId}/export`)).status).toBe(401);
    expect((await http(t.url, 'POST', '/patients/x/export', { token: team.patientA.token })).status).toBe(
      400,
    );
  });

  it('each finished job is logged at info with its type, id, outcome and duration, and nothing clinical', async () => {
    const { body } = await http(t.url, 'POST', `/patients/${team.patientB.patientId}/export`, {
      token: team.patientB.token,
    });
    const jobId = body.job_id as number;
    const line = await waitFor(() => log.find((l) => l.job === jobId && l.msg === 'job succeeded') ?? null, {
      what: `the log line of job ${jobId}`,
      timeoutMs: 30_000,
    });
    expect(line).toMatchObject({ level: 30, type: 'patient.export', outcome: 'succeeded', attempt: 1 });
    expect(line.durationMs).toEqual(expect.any(Number));
    const text = JSON.stringify(log);
    expect(text).not.toContain('secret diagnosis');
    expect(text).not.toContain('secret medicine');
    expect(text).not.toContain(team.patientB.token);
  });
});
