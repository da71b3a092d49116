import { TRPCClientError } from '@trpc/client';
import { createContextInner } from '../../server/src/context';
import { createCaller } from '../../server/src/routers/_app';
import type { Scope } from '../../server/src/access/index';
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

/** The tRPC error code, message and zod issues of a call that must fail (throws if it succeeds). */
export async function failure(
  call: Promise<unknown>,
): Promise<{ code: string; message: string; issues: { path: (string | number)[]; message: string }[] }> {
  try {
    await call;
  } catch (error) {
    if (error instanceof TRPCClientError) {
      return { code: String(error.data?.code), message: error.message, issues: error.data?.issues ?? [] };
    }
    throw error;
  }
  throw new Error('expected the call to fail');
}
