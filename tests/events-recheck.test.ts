import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../server/src/context';
import { recheckSubscriber } from '../server/src/events/subscription';
import { adminToken, startTestServer, type TestServer, trpcClient } from './helpers/server';

/*
 * The minute rechecks of open subscriptions, on a real database: the subscriptions of one
 * credential that fall due together share one check; a recheck an event about the subscriber's
 * standing asked for never shares one already running, so it sees that change.
 */
let t: TestServer;
let admin: ReturnType<typeof trpcClient>;
/** The statements that read service tokens, as the database was sent them. */
let tokenReads = 0;

beforeAll(async () => {
  t = await startTestServer();
  admin = trpcClient(t.url, await adminToken(t));
  // Counted as each statement comes back (Sequelize's query holds its SQL once it has run).
  t.db.sequelize.addHook('afterQuery', (_options, query) => {
    if (/FROM\s+`?service_tokens`?/i.test((query as unknown as { sql?: string }).sql ?? '')) tokenReads++;
  });
});

afterAll(async () => {
  await t?.close();
});

async function serviceActor(): Promise<Actor> {
  const { serviceToken } = await admin.serviceTokens.create.mutate({
    name: `recheck-${Date.now()}-${Math.random()}`,
    scopes: ['checkHistory:read'],
  });
  return { type: 'service', id: serviceToken.id, name: serviceToken.name, scopes: ['checkHistory:read'] };
}

const services = () => t.server.services;

describe('subscription rechecks', () => {
  it('share one check among the subscriptions of one credential that fall due together', async () => {
    const actor = await serviceActor();
    const other = await serviceActor();
    tokenReads = 0;
    const checks = [
      ...Array.from({ length: 20 }, () => recheckSubscriber(services(), actor)),
      recheckSubscriber(services(), other),
    ];
    expect(new Set(checks).size).toBe(2);
    const results = await Promise.all(checks);
    // One read for the twenty of one token, one for the other token: not twenty-one.
    expect(tokenReads).toBe(2);
    for (const result of results.slice(0, 20))
      expect(result.actor).toMatchObject({ type: 'service', id: actor.id });
    expect(results[20]!.actor).toMatchObject({ type: 'service', id: other.id });

    // Once settled, the next round checks again (nothing is kept beyond the checks in flight).
    tokenReads = 0;
    await recheckSubscriber(services(), actor);
    expect(tokenReads).toBe(1);
  });

  it('never lets an event-asked (fresh) recheck join one in flight, and lets later periodic ones join it', async () => {
    const actor = await serviceActor();
    const periodic = recheckSubscriber(services(), actor);
    // An event about the subscriber's standing (here: before the periodic check could have read
    // anything) asks for a check that must read after it.
    const fresh = recheckSubscriber(services(), actor, { fresh: true });
    expect(fresh).not.toBe(periodic);
    expect(recheckSubscriber(services(), actor)).toBe(fresh);
    await Promise.all([periodic, fresh]);

    await admin.serviceTokens.revoke.mutate({ id: actor.id });
    await expect(recheckSubscriber(services(), actor, { fresh: true })).rejects.toMatchObject({
      code: 'UNAUTHORIZED',
    });
    await expect(recheckSubscriber(services(), actor)).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  });

  it('shares a failure with those that joined, and the next round checks anew', async () => {
    const actor = await serviceActor();
    await admin.serviceTokens.revoke.mutate({ id: actor.id });
    tokenReads = 0;
    const outcomes = await Promise.allSettled(
      Array.from({ length: 5 }, () => recheckSubscriber(services(), actor)),
    );
    expect(outcomes.every((o) => o.status === 'rejected')).toBe(true);
    expect(tokenReads).toBe(1);
    tokenReads = 0;
    await expect(recheckSubscriber(services(), actor)).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    expect(tokenReads).toBe(1);
  });

  it("shares one check among subscriptions opened through different requests' views of the database", async () => {
    const actor = await serviceActor();
    // What a request's context holds with read replicas on: its own view of the same database.
    const viewOf = () => ({ ...services(), db: { ...services().db } });
    tokenReads = 0;
    const checks = [recheckSubscriber(viewOf(), actor), recheckSubscriber(viewOf(), actor)];
    expect(checks[1]).toBe(checks[0]);
    await Promise.all(checks);
    expect(tokenReads).toBe(1);
  });
});
