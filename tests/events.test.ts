import { Op } from '@hdms/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventsPruneJob } from '../server/src/jobs/types/eventsPrune';
import { serviceToken } from './helpers/clinical';
import { type ReceivedEvent, settle, subscribe, type Subscription } from './helpers/events';
import { enqueue, waitForJob } from './helpers/jobs';
import { adminToken, signedInUser, startTestServer, type TestServer, trpcClient } from './helpers/server';
import { startTcpProxy } from './helpers/tcpProxy';
import { quietPeriod, waitFor } from './helpers/wait';

/*
 * events.onChange over real server-sent events, through the SDK: scope per event, resume without
 * gaps or duplicates, account changes, retention. Two instances on one database:
 * events-instances.test.ts.
 */

type Client = ReturnType<typeof trpcClient>;

let t: TestServer;
let admin: Client;
let adminBearer: string;
/** Doctor A with patient A; doctor B with patient B. */
const w = {} as {
  drA: number;
  drB: number;
  pA: number;
  pB: number;
  doctorA: { id: number; token: string; client: Client };
  doctorB: { id: number; token: string; client: Client };
  patientA: { id: number; token: string };
  patientB: { id: number; token: string };
};

const subscriptions: Subscription[] = [];
async function follow(token: string | undefined, input: Parameters<typeof subscribe>[2] = {}) {
  const sub = await subscribe(t.url, token, input);
  subscriptions.push(sub);
  return sub;
}

/** Writes a new doctor record: a marker for `settle` that every signed-in user receives. */
async function doctorMarker() {
  const [doctor] = await admin.doctors.createMany.mutate([{ name: 'Dr. Marker', specialization: 'Marker' }]);
  return (e: ReceivedEvent) => e.type === 'doctor.created' && e.entityId === doctor!.id;
}

/** Writes a check-up of `patientId` as `client`: a marker for `settle`. */
function checkUpMarker(client: Client, patientId: number) {
  return async () => {
    const check = await client.checkHistory.create.mutate({ patientId });
    return (e: ReceivedEvent) => e.type === 'checkHistory.created' && e.entityId === check.id;
  };
}

/** The check-up and note events of `patientId` among `events`. */
const about = (events: ReceivedEvent[], patientId: number) => events.filter((e) => e.patientId === patientId);

beforeAll(async () => {
  t = await startTestServer();
  adminBearer = await adminToken(t);
  admin = trpcClient(t.url, adminBearer);
  const [a, b] = await admin.doctors.createMany.mutate([
    { name: 'Dr. Events A', specialization: 'Cardiology' },
    { name: 'Dr. Events B', specialization: 'Neurology' },
  ]);
  const [pa, pb] = await admin.patients.createMany.mutate([
    { name: 'Events Patient A', age: 40, gender: 'F', doctorId: a!.id },
    { name: 'Events Patient B', age: 50, gender: 'M', doctorId: b!.id },
  ]);
  w.drA = a!.id;
  w.drB = b!.id;
  w.pA = pa!.id;
  w.pB = pb!.id;
  const doctorA = await signedInUser(t, 'doctor', { doctorId: w.drA });
  const doctorB = await signedInUser(t, 'doctor', { doctorId: w.drB });
  w.doctorA = { ...doctorA, client: trpcClient(t.url, doctorA.token) };
  w.doctorB = { ...doctorB, client: trpcClient(t.url, doctorB.token) };
  w.patientA = await signedInUser(t, 'patient', { patientId: w.pA });
  w.patientB = await signedInUser(t, 'patient', { patientId: w.pB });
});

afterAll(async () => {
  for (const sub of subscriptions) sub.close();
  await t?.close();
});

describe('events.onChange: who receives what', () => {
  it("a doctor sees their patient's check-up and not another doctor's patient's; a patient only their own", async () => {
    const [doctorA, patientA, patientB, adminSub] = await Promise.all([
      follow(w.doctorA.token),
      follow(w.patientA.token),
      follow(w.patientB.token),
      follow(adminBearer),
    ]);
    const checkB = await w.doctorB.client.checkHistory.create.mutate({ patientId: w.pB });
    const checkA = await w.doctorA.client.checkHistory.create.mutate({ patientId: w.pA });
    const noteA = await w.doctorA.client.notes.create.mutate({ patientId: w.pA, body: 'CLINICAL note body' });

    const expectedA = [
      { type: 'checkHistory.created', entity: 'checkHistory', entityId: checkA.id, patientId: w.pA },
      { type: 'note.created', entity: 'note', entityId: noteA.id, patientId: w.pA },
    ];
    await doctorA.waitFor((e) => about(e, w.pA).length >= 2);
    await patientA.waitFor((e) => about(e, w.pA).length >= 2);
    await adminSub.waitFor((e) =>
      e.some((x) => x.entityId === checkA.id && x.type === 'checkHistory.created'),
    );
    await patientB.waitFor((e) => e.some((x) => x.entityId === checkB.id));
    // Anything that should not arrive would have come before a marker written last.
    await settle([doctorA, patientA, patientB, adminSub], doctorMarker);
    expect(about(doctorA.events, w.pA)).toMatchObject(expectedA);
    expect(about(patientA.events, w.pA)).toMatchObject(expectedA);
    expect(about(doctorA.events, w.pB)).toEqual([]);
    expect(about(patientA.events, w.pB)).toEqual([]);
    expect(about(patientB.events, w.pA)).toEqual([]);
    expect(about(patientB.events, w.pB).map((e) => e.type)).toEqual(['checkHistory.created']);
    // Admins see both check-ups, never the note (notes are the care team's).
    expect(about(adminSub.events, w.pA).map((e) => e.type)).toEqual(['checkHistory.created']);
    expect(about(adminSub.events, w.pB).map((e) => e.type)).toEqual(['checkHistory.created']);
    // Events carry ids in order, and nothing of the content.
    const ids = doctorA.events.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((x, y) => x - y));
    expect(doctorA.ids).toEqual(ids.map(String));
    expect(JSON.stringify(doctorA.events)).not.toContain('CLINICAL');
    for (const sub of [doctorA, patientA, patientB, adminSub]) sub.close();
  });

  it('names the fields a change set, never their values, and filters by type and patient', async () => {
    const all = await follow(w.doctorA.token);
    const onlyUpdates = await follow(w.doctorA.token, { types: ['patient.updated'], patientId: w.pA });
    await w.doctorA.client.checkHistory.create.mutate({ patientId: w.pA });
    await w.doctorA.client.patients.update.mutate({
      id: w.pA,
      diagnosis: 'CLINICAL secret diagnosis',
      prescribedMedicine: 'CLINICAL secret medicine',
    });
    const [update] = await onlyUpdates.waitFor((e) => e.length >= 1);
    expect(update).toMatchObject({
      type: 'patient.updated',
      entity: 'patient',
      entityId: w.pA,
      patientId: w.pA,
      fields: ['diagnosis', 'prescribedMedicine'],
    });
    expect(update!.at).toBeInstanceOf(Date);
    await all.waitFor((e) => e.some((x) => x.type === 'patient.updated'));
    // A second update of the patient (its age): both subscriptions receive it.
    await settle([all, onlyUpdates], async () => {
      await w.doctorA.client.patients.update.mutate({ id: w.pA, age: 41 });
      return (e) => e.type === 'patient.updated' && e.fields.includes('age');
    });
    expect(onlyUpdates.events).toHaveLength(1);
    expect(all.events.map((e) => e.type)).toEqual(['checkHistory.created', 'patient.updated']);
    expect(JSON.stringify(all.events)).not.toContain('CLINICAL');
    all.close();
    onlyUpdates.close();
  });

  it('checks each event against the current assignments: a patient moved to another doctor', async () => {
    const [patient] = await admin.patients.createMany.mutate([
      { name: 'Moving Patient', age: 61, gender: 'F', doctorId: w.drA },
    ]);
    const doctorA = await follow(w.doctorA.token, { patientId: patient!.id });
    const doctorB = await follow(w.doctorB.token, { patientId: patient!.id });
    const first = await w.doctorA.client.checkHistory.create.mutate({ patientId: patient!.id });
    await doctorA.waitFor((e) => e.some((x) => x.entityId === first.id));
    await admin.patients.update.mutate({ id: patient!.id, doctorId: w.drB });
    const second = await w.doctorB.client.checkHistory.create.mutate({ patientId: patient!.id });
    await doctorB.waitFor((e) => e.some((x) => x.entityId === second.id));
    // Doctor A may no longer receive anything about this patient, so no marker can reach them.
    await quietPeriod(300, 'doctor A to receive no check-up of the patient moved to doctor B');
    expect(doctorA.events.map((e) => e.entityId)).not.toContain(second.id);
    expect(doctorB.events.map((e) => e.type)).toContain('patient.updated');
    doctorA.close();
    doctorB.close();
  });

  it('sends job status events to whoever started the job, and to admins', async () => {
    const mine = await follow(w.doctorA.token, { types: ['job.queued', 'job.running', 'job.succeeded'] });
    const other = await follow(w.doctorB.token, { types: ['job.queued', 'job.running', 'job.succeeded'] });
    const adminSub = await follow(adminBearer, { types: ['job.succeeded'] });
    const { jobId } = await w.doctorA.client.patients.updateAsync.mutate({ id: w.pA, age: 44 });
    const events = await mine.waitFor((e) =>
      e.some((x) => x.entityId === jobId && x.type === 'job.succeeded'),
    );
    expect(events.filter((e) => e.entityId === jobId).map((e) => e.type)).toEqual([
      'job.queued',
      'job.running',
      'job.succeeded',
    ]);
    await adminSub.waitFor((e) => e.some((x) => x.entityId === jobId));
    // Doctor B's own job, started last: once it has succeeded, doctor A's job events are behind it.
    await settle([other], async () => {
      const { jobId: marker } = await w.doctorB.client.patients.updateAsync.mutate({ id: w.pB, age: 51 });
      return (e) => e.entity === 'job' && e.entityId === marker && e.type === 'job.succeeded';
    });
    expect(other.events.filter((e) => e.entityId === jobId)).toEqual([]);
    mine.close();
    other.close();
    adminSub.close();
  });

  it('refuses anonymous callers, service tokens with no read scope, and bad input', async () => {
    expect((await (await follow(undefined)).waitForError()).code).toBe('UNAUTHORIZED');
    const writer = await serviceToken(t, adminBearer, ['patients:write']);
    expect((await (await follow(writer.token)).waitForError()).code).toBe('FORBIDDEN');
    const bad = await follow(w.doctorA.token, { types: ['patient.deleted' as 'patient.updated'] });
    expect(await bad.waitForError()).toMatchObject({ code: 'BAD_REQUEST' });
    const ahead = await follow(w.doctorA.token, { lastEventId: 2_000_000_000 });
    expect(await ahead.waitForError()).toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringMatching(/ahead of the newest event/),
    });
  });

  it('a service token receives what its scopes read', async () => {
    const reader = await serviceToken(t, adminBearer, ['doctors:read']);
    const sub = await follow(reader.token);
    const [doctor] = await admin.doctors.createMany.mutate([{ name: 'Dr. Scoped', specialization: 'X' }]);
    await admin.checkHistory.create.mutate({ patientId: w.pA });
    await sub.waitFor((e) => e.some((x) => x.entityId === doctor!.id));
    await settle([sub], doctorMarker);
    expect(sub.events.map((e) => e.type)).toEqual(['doctor.created']);
    sub.close();
  });
});

describe('events.onChange: concurrent writers', () => {
  it('delivers every event of writers committing at once, in id order, and a resume sees the same', async () => {
    const live = await follow(w.doctorA.token, { types: ['checkHistory.created', 'patient.updated'] });
    const startId = await t.db.models.ChangeEvent.max('id');
    const writes = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        i % 4 === 0
          ? w.doctorA.client.patients.update.mutate({ id: w.pA, age: 20 + i }).then(() => null)
          : w.doctorA.client.checkHistory.create.mutate({ patientId: w.pA }).then((c) => c.id),
      ),
    );
    const checks = writes.filter((id): id is number => id !== null);
    await live.waitFor((e) => e.filter((x) => x.type === 'checkHistory.created').length >= checks.length);
    const updates = await t.db.models.ChangeEvent.count({
      where: { type: 'patient.updated', id: { [Op.gt]: startId as number } },
    });
    await live.waitFor((e) => e.filter((x) => x.type === 'patient.updated').length >= updates);
    // A resume from before the writes, opened while the live subscription still runs.
    const replay = await follow(w.doctorA.token, {
      types: ['checkHistory.created', 'patient.updated'],
      lastEventId: String(startId),
    });
    await replay.waitFor((e) => e.length >= live.events.length);
    // One check-up written last reaches both: neither receives anything more of the above.
    await settle([live, replay], checkUpMarker(w.doctorA.client, w.pA));
    const ids = live.events.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((x, y) => x - y));
    expect(new Set(ids).size).toBe(ids.length);
    expect(
      live.events
        .filter((e) => e.type === 'checkHistory.created')
        .map((e) => e.entityId)
        .sort(),
    ).toEqual([...checks].sort());
    live.close();
    expect(replay.events.map((e) => e.id)).toEqual(ids);
    replay.close();
  });
});

describe('events.onChange: resuming', () => {
  it('reconnecting with lastEventId delivers every missed event, in order, none twice', async () => {
    const first = await follow(w.doctorA.token, { patientId: w.pA, types: ['checkHistory.created'] });
    const before = await w.doctorA.client.checkHistory.createMany.mutate([
      { patientId: w.pA },
      { patientId: w.pA },
    ]);
    await first.waitFor((e) => e.length >= 2);
    first.close();
    const lastSeen = first.events[first.events.length - 1]!.id;
    expect(first.events.map((e) => e.entityId)).toEqual(before.map((c) => c.id));

    const missed = await w.doctorA.client.checkHistory.createMany.mutate(
      Array.from({ length: 30 }, () => ({ patientId: w.pA })),
    );
    await w.doctorB.client.checkHistory.create.mutate({ patientId: w.pB });
    const resumed = await follow(w.doctorA.token, {
      patientId: w.pA,
      types: ['checkHistory.created'],
      lastEventId: String(lastSeen),
    });
    const after = await w.doctorA.client.checkHistory.create.mutate({ patientId: w.pA });
    await resumed.waitFor((e) => e.some((x) => x.entityId === after.id));
    await settle([resumed], checkUpMarker(w.doctorA.client, w.pA));
    expect(resumed.events.map((e) => e.entityId)).toEqual([...missed.map((c) => c.id), after.id]);
    resumed.close();
  });

  it('resumes by itself across a dropped connection, with no gap and no duplicate', async () => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(t.url).port) });
    try {
      const sub = await subscribe(`http://127.0.0.1:${proxy.port}`, w.doctorA.token, {
        patientId: w.pA,
        types: ['checkHistory.created'],
      });
      subscriptions.push(sub);
      const made: number[] = [];
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 5; i++) {
          made.push((await w.doctorA.client.checkHistory.create.mutate({ patientId: w.pA })).id);
        }
        await sub.waitFor((e) => e.length >= made.length - 2);
        // The connection drops mid-stream; more check-ups are recorded while it is down.
        proxy.cut();
        for (let i = 0; i < 3; i++) {
          made.push((await w.doctorA.client.checkHistory.create.mutate({ patientId: w.pA })).id);
        }
      }
      await sub.waitFor((e) => e.length >= made.length, 30_000);
      await settle([sub], checkUpMarker(w.doctorA.client, w.pA));
      expect(sub.events.map((e) => e.entityId)).toEqual(made);
      expect(sub.states).toContain('connecting');
      sub.close();
    } finally {
      await proxy.close();
    }
  });

  it('a resume from a pruned id is told to refetch (PRECONDITION_FAILED), never silently skipped', async () => {
    const sub = await follow(w.doctorA.token, { patientId: w.pA, types: ['checkHistory.created'] });
    await w.doctorA.client.checkHistory.create.mutate({ patientId: w.pA });
    const [seen] = await sub.waitFor((e) => e.length >= 1);
    sub.close();
    await w.doctorA.client.checkHistory.create.mutate({ patientId: w.pA });
    // Every event so far becomes older than the retention; the prune job deletes them.
    await t.db.models.ChangeEvent.update(
      { createdAt: new Date(Date.now() - 100 * 3_600_000) },
      { where: {} },
    );
    const prune = await enqueue(t.db, { type: eventsPruneJob, payload: {} });
    const job = await waitForJob(t.db, prune.id);
    expect(job.status).toBe('succeeded');
    expect((job.result as { deleted: number }).deleted).toBeGreaterThan(0);
    expect(await t.db.models.ChangeEvent.count({ where: { id: seen!.id } })).toBe(0);

    const resumed = await follow(w.doctorA.token, { lastEventId: String(seen!.id) });
    expect(await resumed.waitForError()).toMatchObject({
      code: 'PRECONDITION_FAILED',
      message: expect.stringMatching(/refetch/),
    });
    // A fresh subscription works, and receives what happens next.
    const fresh = await follow(w.doctorA.token, { patientId: w.pA });
    const check = await w.doctorA.client.checkHistory.create.mutate({ patientId: w.pA });
    await fresh.waitFor((e) => e.some((x) => x.entityId === check.id));
    fresh.close();
  });
});

describe('events.onChange: the subscriber’s own standing', () => {
  /** A doctor record with a patient, and a doctor account linked to it. */
  async function careTeam() {
    const [doctor] = await admin.doctors.createMany.mutate([{ name: 'Dr. Standing', specialization: 'Z' }]);
    const [patient] = await admin.patients.createMany.mutate([
      { name: 'Standing Patient', age: 30, gender: 'F', doctorId: doctor!.id },
    ]);
    const account = await signedInUser(t, 'doctor', { doctorId: doctor!.id });
    return { doctorId: doctor!.id, patientId: patient!.id, account };
  }

  it('ends with UNAUTHORIZED when the session signs out, or the account is disabled', async () => {
    const out = await careTeam();
    const sub = await follow(out.account.token);
    await trpcClient(t.url, out.account.token).auth.logout.mutate();
    // The next event is not delivered: the subscription ends first.
    await admin.checkHistory.create.mutate({ patientId: out.patientId });
    expect(await sub.waitForError()).toMatchObject({ code: 'UNAUTHORIZED' });
    expect(sub.events).toEqual([]);

    const off = await careTeam();
    const second = await follow(off.account.token);
    await admin.users.setDisabled.mutate({ userId: off.account.id, disabled: true });
    await admin.checkHistory.create.mutate({ patientId: off.patientId });
    expect(await second.waitForError()).toMatchObject({ code: 'UNAUTHORIZED' });
    expect(second.events).toEqual([]);
  });

  it('follows a link moved to another doctor record from the next event on', async () => {
    const from = await careTeam();
    const [target] = await admin.doctors.createMany.mutate([{ name: 'Dr. Target', specialization: 'Q' }]);
    const [targetPatient] = await admin.patients.createMany.mutate([
      { name: 'Target Patient', age: 31, gender: 'M', doctorId: target!.id },
    ]);
    const sub = await follow(from.account.token, { types: ['checkHistory.created'] });
    const before = await admin.checkHistory.create.mutate({ patientId: from.patientId });
    await sub.waitFor((e) => e.some((x) => x.entityId === before.id));
    await admin.users.link.mutate({ userId: from.account.id, doctorId: target!.id });
    const old = await admin.checkHistory.create.mutate({ patientId: from.patientId });
    const now = await admin.checkHistory.create.mutate({ patientId: targetPatient!.id });
    await sub.waitFor((e) => e.some((x) => x.entityId === now.id));
    await settle([sub], checkUpMarker(admin, targetPatient!.id));
    expect(sub.events.map((e) => e.entityId)).toEqual([before.id, now.id]);
    expect(sub.events.map((e) => e.entityId)).not.toContain(old.id);
  });

  it('frees its resources when the client goes away', async () => {
    for (const sub of subscriptions) sub.close();
    const subscribers = (n: number) =>
      waitFor(() => t.server.services.events.subscribers === n, {
        what: () => `${n} subscribers on the server (${t.server.services.events.subscribers} now)`,
      });
    await subscribers(0);
    const subs = await Promise.all(Array.from({ length: 5 }, () => follow(w.patientA.token)));
    await subscribers(5);
    for (const sub of subs) sub.close();
    await subscribers(0);
  });
});
