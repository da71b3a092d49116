import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRawStream, parseFrames, type RawStream, streamPath, subscribe } from './helpers/events';
import { adminToken, signedInUser, startTestServer, type TestServer, trpcClient } from './helpers/server';
import { waitFor } from './helpers/wait';

/*
 * events.onChange under load, over real connections with plain HTTP clients (no EventSource):
 * the wire frames tRPC's httpSubscriptionLink reads, fan-out to many subscribers, the caps
 * (EVENTS_MAX_PER_ACCOUNT, EVENTS_MAX_SUBSCRIPTIONS) loaded 10x past, and a reader that stops
 * reading: disconnected past its unsent-data bound, resuming with its last id losing nothing,
 * while /healthz keeps answering. Timings are the benchmark's (`npm run bench -- events`).
 */

type Client = ReturnType<typeof trpcClient>;

/** The body of a chunked HTTP/1.1 response. */
function dechunk(raw: Buffer): string {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = raw.indexOf('\r\n', at);
    const size = Number.parseInt(raw.subarray(at, eol).toString(), 16);
    if (!size) break;
    parts.push(raw.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(parts).toString();
}

async function healthy(t: TestServer): Promise<void> {
  const response = await fetch(`${t.url}/healthz`);
  expect(response.status).toBe(200);
}

async function doctorsWithPatients(admin: Client, n: number) {
  const doctors = await admin.doctors.createMany.mutate(
    Array.from({ length: n }, (_, i) => ({ name: `Dr. Load ${i}`, specialization: 'Load' })),
  );
  const patients = await admin.patients.createMany.mutate(
    doctors.map((d, i) => ({ name: `Load Patient ${i}`, age: 40, gender: 'F' as const, doctorId: d.id })),
  );
  return doctors.map((d, i) => ({ doctorId: d.id, patientId: patients[i]!.id }));
}

describe('events.onChange on the wire', () => {
  let t: TestServer;
  let admin: Client;
  let adminBearer: string;
  const open: RawStream[] = [];

  beforeAll(async () => {
    t = await startTestServer();
    adminBearer = await adminToken(t);
    admin = trpcClient(t.url, adminBearer);
  });
  afterAll(async () => {
    for (const s of open) s.close();
    await t?.close();
  });

  it("writes tRPC v11's frames: connected, tracked events (data, id), a refusal as serialized-error", async () => {
    const [team] = await doctorsWithPatients(admin, 1);
    const stream = await openRawStream(t.url, adminBearer, { patientId: team!.patientId });
    open.push(stream);
    expect(stream.frames[0]).toEqual({
      event: 'connected',
      data: JSON.stringify({ reconnectAfterInactivityMs: 25_000 }),
    });
    const check = await admin.checkHistory.create.mutate({ patientId: team!.patientId });
    await stream.waitFor((s) => s.events.some((e) => e.entityId === check.id));
    const event = stream.events.find((e) => e.entityId === check.id)!;
    const frame = stream.frames.find((f) => f.id === String(event.id))!;
    // superjson: the Date is noted in meta.
    expect(JSON.parse(frame.data)).toMatchObject({
      json: { id: event.id, type: 'checkHistory.created' },
      meta: { values: { at: ['Date'] } },
    });
    expect(event.at).toBeInstanceOf(Date);
    stream.close();

    const refused = await openRawStream(t.url, undefined);
    await refused.waitFor((s) => s.ended);
    expect(refused.frames.map((f) => f.event)).toEqual(['connected', 'serialized-error']);
    expect(refused.errors[0]).toMatchObject({ code: 'UNAUTHORIZED', httpStatus: 401 });
  });

  it('delivers every event to 200 subscribers of 10 accounts and 10 scopes, in order, each only its own', async () => {
    const teams = await doctorsWithPatients(admin, 10);
    const accounts = await Promise.all(
      teams.map((team) => signedInUser(t, 'doctor', { doctorId: team.doctorId })),
    );
    const streams = await Promise.all(
      accounts.flatMap((account, a) =>
        Array.from({ length: 20 }, () =>
          openRawStream(t.url, account.token, { types: ['checkHistory.created'] }).then((s) => ({ s, a })),
        ),
      ),
    );
    for (const { s } of streams) open.push(s);
    const made = await admin.checkHistory.createMany.mutate(
      Array.from({ length: 100 }, (_, i) => ({ patientId: teams[i % teams.length]!.patientId })),
    );
    await healthy(t);
    for (const { s, a } of streams) {
      const mine = made.filter((c) => c.patientId === teams[a]!.patientId).map((c) => c.id);
      await s.waitFor((x) => x.events.length >= mine.length);
      expect(s.events.map((e) => e.entityId)).toEqual(mine);
      expect(s.errors).toEqual([]);
    }
    for (const { s } of streams) s.close();
    await waitFor(() => t.server.services.events.subscribers === 0, { what: 'every slot freed' });
  });
});

describe('events.onChange caps', () => {
  let t: TestServer;
  let admin: Client;
  const open: RawStream[] = [];

  beforeAll(async () => {
    t = await startTestServer({ EVENTS_MAX_SUBSCRIPTIONS: '30' });
    admin = trpcClient(t.url, await adminToken(t));
  });
  afterAll(async () => {
    for (const s of open) s.close();
    await t?.close();
  });

  it('refuses one over EVENTS_MAX_PER_ACCOUNT (20) with TOO_MANY_REQUESTS, 10x past it, and frees a slot at once', async () => {
    const [team] = await doctorsWithPatients(admin, 1);
    const patient = await signedInUser(t, 'patient', { patientId: team!.patientId });
    const held = await Promise.all(Array.from({ length: 20 }, () => openRawStream(t.url, patient.token)));
    open.push(...held);
    expect(held.every((s) => s.errors.length === 0 && !s.ended)).toBe(true);
    const over = await Promise.all(Array.from({ length: 200 }, () => openRawStream(t.url, patient.token)));
    await healthy(t);
    for (const s of over) {
      await s.waitFor((x) => x.ended);
      expect(s.errors).toEqual([
        {
          code: 'TOO_MANY_REQUESTS',
          httpStatus: 429,
          message: expect.stringContaining('EVENTS_MAX_PER_ACCOUNT'),
        },
      ]);
    }
    // Through the SDK too: the error it reports, not a reconnect loop.
    const sdk = await subscribe(t.url, patient.token);
    expect(await sdk.waitForError()).toMatchObject({ code: 'TOO_MANY_REQUESTS' });
    sdk.close();
    // A closed connection frees its slot at once; the others keep receiving.
    held.pop()!.close();
    await waitFor(() => t.server.services.events.subscriptionsOf(`user:${patient.id}`) === 19, {
      what: 'the slot freed',
    });
    const again = await openRawStream(t.url, patient.token);
    open.push(again);
    expect(again.errors).toEqual([]);
    const check = await admin.checkHistory.create.mutate({ patientId: team!.patientId });
    for (const s of [...held, again]) await s.waitFor((x) => x.events.some((e) => e.entityId === check.id));
    for (const s of [...held, again]) s.close();
  });

  it('refuses one over EVENTS_MAX_SUBSCRIPTIONS on the server, whatever the account, 10x past it', async () => {
    await waitFor(() => t.server.services.events.subscribers === 0, { what: 'no subscription left' });
    const teams = await doctorsWithPatients(admin, 2);
    const a = await signedInUser(t, 'doctor', { doctorId: teams[0]!.doctorId });
    const b = await signedInUser(t, 'doctor', { doctorId: teams[1]!.doctorId });
    const held = await Promise.all(
      Array.from({ length: 30 }, (_, i) => openRawStream(t.url, (i % 2 ? a : b).token)),
    );
    open.push(...held);
    expect(held.every((s) => s.errors.length === 0)).toBe(true);
    const over = await Promise.all(
      Array.from({ length: 300 }, (_, i) => openRawStream(t.url, (i % 2 ? a : b).token)),
    );
    await healthy(t);
    for (const s of over) {
      await s.waitFor((x) => x.ended);
      expect(s.errors[0]).toMatchObject({
        code: 'TOO_MANY_REQUESTS',
        httpStatus: 429,
        message: expect.stringContaining('EVENTS_MAX_SUBSCRIPTIONS'),
      });
    }
    for (const s of held) s.close();
  });
});

describe('events.onChange: a reader that stops reading', () => {
  let t: TestServer;
  let admin: Client;

  beforeAll(async () => {
    t = await startTestServer({ EVENTS_MAX_UNSENT_KB: '64', EVENTS_MAX_UNSENT_SECONDS: '2' });
    admin = trpcClient(t.url, await adminToken(t));
  });
  afterAll(async () => {
    await t?.close();
  });

  it('is disconnected past its bound with a reason it can read, and resumes losing nothing', async () => {
    const [team] = await doctorsWithPatients(admin, 1);
    const doctor = await signedInUser(t, 'doctor', { doctorId: team!.doctorId });
    const account = `user:${doctor.id}`;
    // A raw socket that sends the request and then reads nothing.
    const { port } = new URL(t.url);
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(
      `GET ${streamPath({ types: ['checkHistory.created'] })} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${doctor.token}\r\nAccept: text/event-stream\r\n\r\n`,
    );
    await waitFor(() => t.server.services.events.subscriptionsOf(account) === 1, {
      what: 'the subscription',
    });
    socket.pause();

    const made: number[] = [];
    const healthChecks: number[] = [];
    // Check-ups in batches until the server gives up on the reader; /healthz answers throughout.
    await waitFor(
      async () => {
        if (t.server.services.events.subscriptionsOf(account) === 0) return true;
        const batch = await admin.checkHistory.createMany.mutate(
          Array.from({ length: 500 }, () => ({ patientId: team!.patientId })),
        );
        made.push(...batch.map((c) => c.id));
        const started = Date.now();
        await healthy(t);
        healthChecks.push(Date.now() - started);
        return false;
      },
      { what: 'the slow reader to be disconnected', timeoutMs: 60_000 },
    );
    expect(healthChecks.length).toBeGreaterThan(0);
    // Check-ups made after the cut: the resume below must bring them too (the reader may have been
    // sent everything before it, into its socket's buffers, when the age bound cut it).
    const after = await admin.checkHistory.createMany.mutate(
      Array.from({ length: 50 }, () => ({ patientId: team!.patientId })),
    );
    made.push(...after.map((c) => c.id));

    // The reader reads again: what it had been sent, then the reason, then the end.
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    socket.resume();
    await waitFor(() => text.endsWith('\r\n0\r\n\r\n'), {
      what: () => `the reason (${text.length} chars read, ending ${JSON.stringify(text.slice(-300))})`,
    });
    const { frames } = parseFrames(dechunk(Buffer.from(text.slice(text.indexOf('\r\n\r\n') + 4), 'latin1')));
    const error = frames.find((f) => f.event === 'serialized-error')!;
    expect(JSON.parse(error.data).json).toMatchObject({
      message: expect.stringMatching(/EVENTS_MAX_UNSENT_(KB|SECONDS)/),
      data: { code: 'SERVICE_UNAVAILABLE' },
    });
    const received = frames.filter((f) => f.id !== undefined);
    const lastId = received[received.length - 1]?.id ?? '0';
    expect(received.length).toBeLessThan(made.length);
    socket.destroy();

    // Resuming from the last id it read: every check-up it missed, none twice, in order.
    const resumed = await subscribe(t.url, doctor.token, {
      types: ['checkHistory.created'],
      lastEventId: lastId,
    });
    const seen = received.map((f) => JSON.parse(f.data).json.entityId as number);
    await resumed.waitFor((events) => seen.length + events.length >= made.length, 30_000);
    expect([...seen, ...resumed.events.map((e) => e.entityId)]).toEqual(made);
    resumed.close();
  }, 90_000);
});
