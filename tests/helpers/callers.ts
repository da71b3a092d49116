import { createContextInner } from '../../server/src/context';
import { createCaller } from '../../server/src/routers/_app';
import type { Scope } from '../../server/src/scopes';
import type { TestServer } from './server';

/**
 * A server-side tRPC caller acting as a service token with `scopes`, over the test server's real
 * services and database (no token row needed: the actor is what a valid token resolves to).
 */
export function serviceCaller(t: TestServer, scopes: Scope[], name = 'test-service') {
  return createCaller(
    createContextInner({
      ...t.server.services,
      actor: { type: 'service', id: 1, name, scopes },
      requestId: `test-${Math.random().toString(36).slice(2)}`,
    }),
  );
}
