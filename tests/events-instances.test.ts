import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, TEST_DB_KIND, type TestDatabase } from './helpers/db';
import { settle, subscribe, type Subscription } from './helpers/events';
import { doctorWithPatient } from './helpers/jobs';
import {
  adminToken as signInAdmin,
  signedInUser,
  startTestServer,
  type TestServer,
  trpcClient,
} from './helpers/server';

/*
 * Two server instances on one MySQL database: each follows the event table, so a change made
 * through one reaches the subscribers of the other, with no broker. (SQLite is one process's
 * database: MySQL only.)
 */
describe.skipIf(TEST_DB_KIND !== 'mysql')('change events across two instances on one database', () => {
  let target: TestDatabase;
  let one: TestServer;
  let two: TestServer;
  const subs: Subscription[] = [];

  beforeAll(async () => {
    target = await freshDatabase();
    one = await startTestServer({}, { target, testJobs: true });
    two = await startTestServer({}, { target, testJobs: true });
  });

  afterAll(async () => {
    for (const sub of subs) sub.close();
    await one?.close(0);
    await two?.close(0);
    await target?.drop();
  });

  it('delivers a change made through one instance to the subscribers of the other, in order', async () => {
    const { doctorId, patientId } = await doctorWithPatient(one.db);
    const doctor = await signedInUser(one, 'doctor', { doctorId });
    const other = await doctorWithPatient(one.db);
    const onTwo = await subscribe(two.url, doctor.token, { types: ['checkHistory.created'] });
    subs.push(onTwo);
    const throughOne = trpcClient(one.url, doctor.token);
    const adminToken = await signInAdmin(one);
    const made: number[] = [];
    for (let i = 0; i < 20; i++) {
      made.push((await throughOne.checkHistory.create.mutate({ patientId })).id);
      // Another doctor's patient, through the other instance: never delivered to this doctor.
      if (i % 5 === 0) {
        await trpcClient(two.url, adminToken).checkHistory.create.mutate({ patientId: other.patientId });
      }
    }
    await onTwo.waitFor((events) => events.length >= made.length);
    // A check-up written last: once it has arrived, nothing more of the above will.
    await settle([onTwo], async () => {
      const { id } = await throughOne.checkHistory.create.mutate({ patientId });
      return (e) => e.entityId === id;
    });
    expect(onTwo.events.map((e) => e.entityId)).toEqual(made);
    expect(onTwo.events.every((e) => e.patientId === patientId)).toBe(true);
  });

  it('resumes on one instance where a subscription to the other left off', async () => {
    const { doctorId, patientId } = await doctorWithPatient(one.db);
    const doctor = await signedInUser(two, 'doctor', { doctorId });
    const client = trpcClient(one.url, doctor.token);
    const first = await subscribe(one.url, doctor.token, { patientId, types: ['checkHistory.created'] });
    subs.push(first);
    const before = (await client.checkHistory.create.mutate({ patientId })).id;
    await first.waitFor((e) => e.length === 1);
    first.close();
    const missed = await client.checkHistory.createMany.mutate([{ patientId }, { patientId }, { patientId }]);
    const resumed = await subscribe(two.url, doctor.token, {
      patientId,
      types: ['checkHistory.created'],
      lastEventId: first.ids[0],
    });
    subs.push(resumed);
    await resumed.waitFor((e) => e.length >= 3);
    await settle([resumed], async () => {
      const { id } = await client.checkHistory.create.mutate({ patientId });
      return (e) => e.entityId === id;
    });
    expect(first.events.map((e) => e.entityId)).toEqual([before]);
    expect(resumed.events.map((e) => e.entityId)).toEqual(missed.map((c) => c.id));
  });
});
