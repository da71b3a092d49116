import { createClient } from '../../client-sdk/src/index';
import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDatabase } from '../helpers/db';
import { type ReplicatedPair, startReplicatedPair } from '../helpers/mariadb';
import {
  adminToken,
  http,
  signedInUser,
  startTestServer,
  type TestServer,
  trpcClient,
} from '../helpers/server';
import { startTcpProxy, type TcpProxy } from '../helpers/tcpProxy';
import { waitFor } from '../helpers/wait';
import { skipWithout } from './requirements';

/**
 * `DATABASE_READ_URLS` on a primary and one GTID replica of our own (a SELECT-only user on the
 * replica, reached through a TCP proxy that counts its connections): reads move to the replica,
 * every caller still reads their own writes (the replica's SQL thread stopped: the wait times out
 * and the primary answers), a lagging replica is skipped, a revoked assignment holds at once, an
 * event's position sent back by the SDK makes the read see the change, a killed replica costs no
 * answer, and migrations never touch the read URL.
 */
const missing = skipWithout({});
const DATABASE = 'hdms_repl_test';

/** `hdms_db_reads_total` of a server, by target. */
async function readsByTarget(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const match of text.matchAll(/^hdms_db_reads_total\{target="([^"]+)"\} (\d+)/gm)) {
    counts[match[1]!] = Number(match[2]);
  }
  return counts;
}

/** `hdms_db_replica_lag_seconds` of a server's one replica (undefined when absent). */
async function replicaLag(url: string): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const match = /^hdms_db_replica_lag_seconds\{target="[^"]+"\} ([\d.e+-]+)/m.exec(text);
  return match ? Number(match[1]) : undefined;
}

/** `hdms_db_read_wait_seconds_sum` of a server for reads the primary served (0 when absent). */
async function primaryWaitSeconds(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const match = /^hdms_db_read_wait_seconds_sum\{target="primary"\} ([\d.e+-]+)/m.exec(text);
  return match ? Number(match[1]) : 0;
}

/** Runs `read` and says which target served it (the one whose counter moved). */
async function servedBy(url: string, read: () => Promise<unknown>): Promise<string> {
  const before = await readsByTarget(url);
  await read();
  const after = await readsByTarget(url);
  const moved = Object.keys(after).filter((target) => (after[target] ?? 0) > (before[target] ?? 0));
  if (moved.length !== 1)
    throw new Error(`expected one target to serve the read, got ${JSON.stringify(moved)}`);
  return moved[0]!;
}

// One primary/replica pair serves every case (starting one takes seconds), and the last cases stop
// the replica (stalled, then SIGKILLed): the cases run in the order written, even under
// `--sequence.shuffle`; each one leaves the pair as it found it until then.
describe.skipIf(missing)('read replicas (DATABASE_READ_URLS)', { timeout: 120_000, shuffle: false }, () => {
  let pair: ReplicatedPair;
  let proxy: TcpProxy;
  let target: TestDatabase;
  /** Skips a replica lagging past 1 s. */
  let a: TestServer;
  /** Never skips for lag (10 minutes): what it shows comes from the positions alone. */
  let b: TestServer;
  let admin: string;
  let replicaTarget: string;
  let connectionsAfterStart: number;

  beforeAll(async () => {
    pair = await startReplicatedPair(DATABASE);
    proxy = await startTcpProxy({ host: '127.0.0.1', port: pair.replica.port });
    target = { url: pair.primary.url(DATABASE), kind: 'mysql', drop: async () => undefined };
    const readUrl = pair.readerUrl(DATABASE, proxy.port);
    a = await startTestServer({ DATABASE_READ_URLS: readUrl, DATABASE_READ_MAX_LAG_MS: '1000' }, { target });
    connectionsAfterStart = proxy.connections;
    b = await startTestServer(
      { DATABASE_READ_URLS: readUrl, DATABASE_READ_MAX_LAG_MS: '600000' },
      { target },
    );
    replicaTarget = `127.0.0.1:${proxy.port}`;
    admin = await adminToken(a);
    await pair.caughtUp();
  }, 180_000);
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await proxy?.close();
    await pair?.remove();
  });

  it('migrations and CREATE DATABASE never connect to the read URL', async () => {
    expect(connectionsAfterStart).toBe(0);
    // The read URL's user may only SELECT: had the start migrated through it, it would have failed.
    const [grants] = await pair.replica.query<Record<string, string>>("SHOW GRANTS FOR 'reader'@'%'");
    expect(Object.values(grants!).join(' ')).not.toMatch(/ALL PRIVILEGES|CREATE/);
  });

  it('list and get reads go to the replica, with its lag on /metrics', async () => {
    const client = trpcClient(a.url, admin);
    const doctor = await client.doctors.create.mutate({ name: 'Dr. Replica', specialization: 'Cardiology' });
    await pair.caughtUp();
    expect(await servedBy(a.url, () => client.doctors.list.query({}))).toBe(replicaTarget);
    expect(await servedBy(a.url, () => client.doctors.get.query({ id: doctor.id }))).toBe(replicaTarget);
    const rest = await http(a.url, 'GET', '/doctors', { token: admin });
    expect(rest.status).toBe(200);
    expect(rest.body.map((d: { id: number }) => d.id)).toContain(doctor.id);
    let fhirStatus = 0;
    expect(
      await servedBy(a.url, async () => {
        fhirStatus = (await http(a.url, 'GET', `/fhir/R4/Practitioner/${doctor.id}`, { token: admin }))
          .status;
      }),
    ).toBe(replicaTarget);
    expect(fhirStatus).toBe(200);
    expect(await replicaLag(a.url)).toBeGreaterThanOrEqual(0);
  });

  it('the writer reads its own write at once, from the primary while the replica applies nothing', async () => {
    const client = trpcClient(a.url, admin);
    await pair.applying(false);
    try {
      const doctor = await client.doctors.create.mutate({ name: 'Dr. Own Write', specialization: 'Surgery' });
      let read: { name: string } | undefined;
      const started = performance.now();
      expect(
        await servedBy(a.url, async () => {
          read = await client.doctors.get.query({ id: doctor.id });
        }),
      ).toBe('primary');
      expect(read?.name).toBe('Dr. Own Write');
      // It waited (briefly) for the replica first.
      expect(performance.now() - started).toBeGreaterThanOrEqual(200);
      const metrics = await (await fetch(`${a.url}/metrics`)).text();
      const waited = /^hdms_db_read_wait_seconds_sum\{target="primary"\} ([\d.e+-]+)/m.exec(metrics);
      expect(Number(waited?.[1])).toBeGreaterThanOrEqual(0.2);
      // The same account on the other instance reads it too (the position is kept on the primary).
      expect((await trpcClient(b.url, admin).doctors.get.query({ id: doctor.id })).name).toBe(
        'Dr. Own Write',
      );
    } finally {
      await pair.applying(true);
    }
  });

  it('a replica lagging past DATABASE_READ_MAX_LAG_MS is skipped for another account', async () => {
    const other = await signedInUser(a, 'doctor');
    await pair.caughtUp();
    const client = trpcClient(a.url, other.token);
    expect(await servedBy(a.url, () => client.doctors.list.query({}))).toBe(replicaTarget);
    await pair.applying(false);
    try {
      await trpcClient(a.url, admin).doctors.create.mutate({ name: 'Dr. Lag', specialization: 'Oncology' });
      // Lag is measured against samples of the primary's position (one a second, on reads).
      await waitFor(async () => (await servedBy(a.url, () => client.doctors.list.query({}))) === 'primary', {
        what: 'the lagging replica to be skipped',
        timeoutMs: 10_000,
      });
      expect(await replicaLag(a.url)).toBeGreaterThan(1);
    } finally {
      await pair.applying(true);
    }
    await pair.caughtUp();
    await waitFor(
      async () => (await servedBy(a.url, () => client.doctors.list.query({}))) === replicaTarget,
      {
        what: 'the replica to serve again once caught up',
        timeoutMs: 10_000,
      },
    );
  });

  it('a revoked assignment takes effect at once even on a lagging replica', async () => {
    const adminClient = trpcClient(b.url, admin);
    const [d1, d2] = await adminClient.doctors.createMany.mutate([
      { name: 'Dr. Before', specialization: 'Neurology' },
      { name: 'Dr. After', specialization: 'Neurology' },
    ]);
    const patient = await adminClient.patients.create.mutate({
      name: 'Reassigned Patient',
      age: 50,
      gender: 'F',
      doctorId: d1!.id,
    });
    const before = await signedInUser(b, 'doctor', { doctorId: d1!.id });
    await pair.caughtUp();
    const doctor = trpcClient(b.url, before.token);
    expect(await servedBy(b.url, () => doctor.patients.get.query({ id: patient.id }))).toBe(replicaTarget);
    await pair.applying(false);
    try {
      await adminClient.patients.update.mutate({ id: patient.id, doctorId: d2!.id });
      // The replica still says d1: the read waits for the assignment's position, then the primary answers.
      const [stale] = await pair.replica.query<{ doctor_id: number }>(
        `SELECT doctor_id FROM ${DATABASE}.patients WHERE id = ?`,
        [patient.id],
      );
      expect(stale?.doctor_id).toBe(d1!.id);
      await expect(doctor.patients.get.query({ id: patient.id })).rejects.toMatchObject({
        data: { code: 'NOT_FOUND' },
      });
      const list = await doctor.patients.list.query({});
      expect(list.items.map((p) => p.id)).not.toContain(patient.id);
    } finally {
      await pair.applying(true);
    }
  });

  it("an event's position, sent back by the SDK, makes the read see the change", async () => {
    const adminClient = trpcClient(b.url, admin);
    const ward = await adminClient.doctors.create.mutate({ name: 'Dr. Ward', specialization: 'Geriatrics' });
    const patient = await adminClient.patients.create.mutate({
      name: 'Ward Patient',
      age: 80,
      gender: 'M',
      doctorId: ward.id,
      roomNumber: '101',
    });
    const doctor = await signedInUser(b, 'doctor', { doctorId: ward.id });
    await pair.caughtUp();
    const board = createClient({ url: b.url, token: doctor.token, EventSource });
    const plain = trpcClient(b.url, doctor.token);
    const seen: { position: string | null; patientId: number | null }[] = [];
    let started = false;
    const sub = board.events.onChange.subscribe(
      { types: ['patient.updated'] },
      {
        onStarted: () => {
          started = true;
        },
        onData: (envelope) => seen.push(envelope.data),
      },
    );
    try {
      await waitFor(() => started, { what: 'the board to subscribe' });
      await pair.applying(false);
      await adminClient.patients.update.mutate({ id: patient.id, roomNumber: '202' });
      const event = await waitFor(() => seen.find((e) => e.patientId === patient.id), {
        what: 'the board to receive the change',
      });
      expect(event.position).toMatch(/^\d+-\d+-\d+/);
      // Without the position the replica (10 minutes of lag allowed) answers its older state...
      expect((await plain.patients.get.query({ id: patient.id })).roomNumber).toBe('101');
      // ...with it, the board reads the change the event announced.
      expect((await board.patients.get.query({ id: patient.id })).roomNumber).toBe('202');
    } finally {
      sub.unsubscribe();
      await pair.applying(true);
    }
  });

  it('a made-up position in X-HDMS-Read-After sends the read to the primary at once, never a 500', async () => {
    await pair.caughtUp();
    const read = (position?: string) =>
      http(a.url, 'GET', '/doctors', {
        token: admin,
        headers: position ? { 'x-hdms-read-after': position } : {},
      });
    // A position the primary never reached (a client's invention): no wait held on the replica
    // (which would run to its 250 ms deadline and then count for the primary).
    const waitedBefore = await primaryWaitSeconds(a.url);
    let status = 0;
    expect(
      await servedBy(a.url, async () => {
        status = (await read('0-1-999999999')).status;
      }),
    ).toBe('primary');
    expect(status).toBe(200);
    expect((await primaryWaitSeconds(a.url)) - waitedBefore).toBeLessThan(0.2);
    // Not a position at all: ignored; the replica serves the read as usual.
    expect(
      await servedBy(a.url, async () => {
        status = (await read('drop table doctors')).status;
      }),
    ).toBe(replicaTarget);
    expect(status).toBe(200);
  });

  it('a stalled replica (no answer) is skipped: the primary answers within a second or so', async () => {
    const client = trpcClient(a.url, admin);
    await pair.caughtUp();
    expect(await servedBy(a.url, () => client.doctors.list.query({}))).toBe(replicaTarget);
    proxy.stall();
    try {
      const started = performance.now();
      expect(await servedBy(a.url, () => client.doctors.list.query({}))).toBe('primary');
      expect(performance.now() - started).toBeLessThan(3_000);
      // Skipped for a while: the next read does not wait for it again.
      const next = performance.now();
      expect(await servedBy(a.url, () => client.doctors.list.query({}))).toBe('primary');
      expect(performance.now() - next).toBeLessThan(500);
    } finally {
      proxy.resume();
    }
  });

  it('a replica killed with SIGKILL: reads are answered by the primary, never a 500', async () => {
    const client = trpcClient(a.url, admin);
    await pair.caughtUp();
    await pair.replica.kill('SIGKILL');
    for (let i = 0; i < 5; i++) {
      expect(await servedBy(a.url, () => client.doctors.list.query({}))).toBe('primary');
      const rest = await http(a.url, 'GET', '/doctors', { token: admin });
      expect(rest.status).toBe(200);
    }
  });
});
