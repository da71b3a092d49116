import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hono } from 'hono';
import { createApp } from '../server/src/http/app';
import type { AppEnv } from '../server/src/context';
import { appRouter } from '../server/src/trpc/appRouter';
import { adminToken, http, signedInUser, startTestServer, type TestServer } from './helpers/server';
import { quietPeriod } from './helpers/wait';

/** Inputs no procedure accepts, or accepts only partly: each must get a 4xx, never a 500. */
const GARBAGE: unknown[] = [
  null,
  'text',
  -1,
  1e308,
  true,
  [],
  [null],
  {},
  { id: 'one' },
  { id: -5, patientId: 0, limit: 0 },
  { id: 2 ** 53, cursor: 1.5, limit: 10_000 },
  { patientId: 1, body: '', search: 'x'.repeat(5000) },
  { userId: 1, doctorId: 'x', patientId: null },
  { name: {}, age: [], gender: 1, doctorId: {} },
  { __proto__: { admin: true }, constructor: 'x' },
  Array.from({ length: 1001 }, () => ({ name: 'n', specialization: 's' })),
  { a: { b: { c: { d: { e: { f: { g: 'deep' } } } } } } },
  // Well-formed, but past a 32-bit column's range.
  { id: 2 ** 31 },
  { patientId: 2 ** 31, limit: 1000, cursor: 2 ** 31 },
  { userId: 2 ** 31, doctorId: 2 ** 31 },
  [{ patientId: 2 ** 31 }],
  { name: 'Big', age: 40, gender: 'x', doctorId: 2 ** 31 },
  { id: 2 ** 31, diagnosis: 'd', name: 'n' },
];

/**
 * The start of a subscription's answer (server-sent events): its status, and its text until an
 * error or the first event (at most 1 s), then the subscription is dropped.
 */
async function firstEvents(
  app: Hono<AppEnv>,
  path: string,
  json: string,
  token: string,
): Promise<{ status: number; text: string }> {
  const abort = new AbortController();
  const res = await app.request(`/trpc/${path}?input=${encodeURIComponent(json)}`, {
    headers: { authorization: `Bearer ${token}` },
    signal: abort.signal,
  });
  const reader = res.body?.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const deadline = Date.now() + 1000;
  try {
    while (reader && Date.now() < deadline) {
      const chunk = await Promise.race([
        reader.read(),
        // An accepted subscription may send nothing: what it does within the second is the answer.
        quietPeriod(deadline - Date.now(), 'no internal error from the subscription').then(() => null),
      ]);
      if (!chunk || chunk.done) break;
      text += decoder.decode(chunk.value);
      if (/event: (serialized-error|return)/.test(text)) break;
    }
  } finally {
    abort.abort();
    await reader?.cancel().catch(() => undefined);
  }
  return { status: res.status, text };
}

const procedures = Object.entries(
  appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>,
);

/**
 * Every procedure and REST endpoint fed malformed input. The subject is the application's answers,
 * not the transport, so requests go to the app in process (`app.request`); other suites cover the wire.
 */
describe('bad input never breaks the server', () => {
  let t: TestServer;
  let app: Hono<AppEnv>;
  let tokens: Record<string, string>;
  beforeAll(async () => {
    t = await startTestServer();
    app = createApp(t.server.services);
    const doctor = await t.db.models.Doctor.create({ name: 'Dr. Robust', specialization: 'Fuzz' });
    const patient = await t.db.models.Patient.create({
      name: 'Pat',
      age: 30,
      gender: 'x',
      doctorId: doctor.id,
    });
    tokens = {
      admin: await adminToken(t),
      doctor: (await signedInUser(t, 'doctor', { doctorId: doctor.id })).token,
      patient: (await signedInUser(t, 'patient', { patientId: patient.id })).token,
    };
  });
  afterAll(async () => {
    await t?.close();
  });

  it.each(procedures.filter(([path]) => path !== 'auth.changePassword' && path !== 'auth.logout'))(
    'tRPC %s answers every malformed input with a 4xx and no stack trace',
    async (path, procedure) => {
      for (const [who, token] of Object.entries(tokens)) {
        // Wrapped garbage, and inputs without superjson's wrapper (issue 22: a 400 saying so).
        const bodies = [
          ...GARBAGE.map((input) => JSON.stringify({ json: input })),
          '{"id":1}',
          '[1]',
          '"x"',
          'null',
        ];
        for (const json of bodies) {
          if (procedure._def.type === 'subscription') {
            const { status, text } = await firstEvents(app, path, json, token);
            expect(status, `${who} ${path} ${json.slice(0, 80)}: ${text.slice(0, 200)}`).toBeLessThan(500);
            expect(text).not.toMatch(/\bat .+\.(ts|js):\d+|stack|Sequelize|SQLITE|ER_/);
            // An error event carries a client error's code, never an internal error.
            expect(text).not.toMatch(/-32603|INTERNAL_SERVER_ERROR/);
            continue;
          }
          const res =
            procedure._def.type === 'query'
              ? await http(app, 'GET', `/trpc/${path}?input=${encodeURIComponent(json)}`, { token })
              : await http(app, 'POST', `/trpc/${path}`, {
                  token,
                  raw: json,
                  headers: { 'content-type': 'application/json' },
                });
          const text = JSON.stringify(res.body);
          expect(res.status, `${who} ${path} ${json.slice(0, 80)}: ${text.slice(0, 200)}`).toBeLessThan(500);
          expect(text).not.toMatch(/\bat .+\.(ts|js):\d+|stack|Sequelize|SQLITE|ER_/);
        }
      }
    },
  );

  it.each([
    ['POST', '/register'],
    ['POST', '/login'],
    ['POST', '/doctors'],
    ['GET', '/doctors'],
    ['POST', '/patients'],
    ['GET', '/patients'],
    ['POST', '/check_history'],
    ['POST', '/check-history'],
    ['POST', '/users/1/link'],
    ['POST', '/users/abc/link'],
    ['POST', '/service-tokens'],
    ['GET', '/service-tokens'],
    ['POST', '/service-tokens/1/revoke'],
    ['DELETE', '/service-tokens/zzz'],
  ])(
    'REST %s %s answers malformed bodies and queries with a 4xx and the contract error shape',
    async (method, path) => {
      for (const token of Object.values(tokens)) {
        for (const input of GARBAGE) {
          // A query string past Node's header limit is refused by Node itself (431), before the app.
          if (method === 'GET' && JSON.stringify(input).length > 4000) continue;
          const res =
            method === 'GET'
              ? await http(
                  app,
                  'GET',
                  `${path}?limit=${encodeURIComponent(JSON.stringify(input))}&after=-1`,
                  { token },
                )
              : await http(app, method, path, { token, body: input });
          if (res.status < 300) continue;
          expect(res.status, `${method} ${path} ${JSON.stringify(input).slice(0, 80)}`).toBeLessThan(500);
          expect(res.body).toEqual(expect.objectContaining({ error: expect.any(String) }));
          expect(JSON.stringify(res.body)).not.toMatch(/\bat .+\.(ts|js):\d+|stack|Sequelize|SQLITE|ER_/);
        }
      }
    },
  );
});
