import { randomUUID } from 'node:crypto';
import { TRPCClientError } from '@trpc/client';
import { TRPCError } from '@trpc/server';
import type { Scope } from '../../server/src/domain/access/policy';
import { resolveCaller } from '../../server/src/auth/actor';
import { type Actor, createContextInner } from '../../server/src/context';
import { DomainError, type Issue } from '../../server/src/domain/errors';
import { publicError, toTRPCError } from '../../server/src/errors';
import { createCaller } from '../../server/src/trpc/appRouter';
import type { TestServer } from './server';

/*
 * In-process access to the API: procedures called through `createCaller`, over the test server's
 * real services and database, with no HTTP in between. Suites whose subject is not the wire use
 * these; REST, sign-in and the access matrix go through real ports (`./server`).
 */

/** A server-side tRPC caller: `caller.patients.get({ id })`. */
export type Caller = ReturnType<typeof createCaller>;

/** A caller whose every call runs as `actor`, with a request id of its own. */
export function callerAs(t: TestServer, actor: Actor | null, refusal: string | null = null): Caller {
  return createCaller(() =>
    createContextInner({ ...t.server.services, actor, refusal, requestId: `test-${randomUUID()}` }),
  );
}

/**
 * A caller presenting `token` (a session or service token; none for the anonymous) the way a
 * request's `Authorization: Bearer` header does: every call resolves the token again, as every
 * request would, so an ended session, a revoked token or a new link shows on the next call.
 */
export function callerFor(t: TestServer, token?: string): Caller {
  return createCaller(async () => {
    const { actor, refusal } = await resolveCaller(t.server.services, {
      authorization: token ? `Bearer ${token}` : undefined,
    });
    return createContextInner({ ...t.server.services, actor, refusal, requestId: `test-${randomUUID()}` });
  });
}

/**
 * A caller acting as a service token with `scopes` (no token row needed: the actor is what a
 * valid token resolves to). For scope checks; `serviceToken` in `./clinical` issues a real token.
 */
export function serviceCaller(t: TestServer, scopes: Scope[], name = 'test-service'): Caller {
  return callerAs(t, { type: 'service', id: 1, name, scopes });
}

/**
 * A sign-in answer that must be a session (the account has no MFA), typed as one; a challenge
 * fails the test.
 */
export function sessionOf<A extends { mfaRequired: boolean }>(answer: A): Extract<A, { mfaRequired: false }> {
  if (answer.mfaRequired) throw new Error('expected a session, but the account signs in with MFA');
  return answer as Extract<A, { mfaRequired: false }>;
}

/** Signs in through the `auth.login` procedure (no HTTP); returns the session token. */
export async function signIn(t: TestServer, username: string, password: string): Promise<string> {
  return sessionOf(await callerAs(t, null).auth.login({ username, password })).token;
}

/**
 * How a call ended, as a client sees it: `code` 'OK', or the tRPC error code with the public
 * message and the validation issues (empty when there are none). Works alike for calls over HTTP
 * (`trpcClient`) and in process (`Caller`): an in-process error is shown through the server's own
 * error formatting (`publicError`), so both read the same.
 */
export interface Outcome {
  code: string;
  message: string;
  issues: Issue[];
}

/** Awaits `call` and reports its `Outcome`; anything but a tRPC error is rethrown. */
export async function outcome(call: Promise<unknown>): Promise<Outcome> {
  try {
    await call;
    return { code: 'OK', message: '', issues: [] };
  } catch (error) {
    if (error instanceof TRPCClientError) {
      return { code: String(error.data?.code), message: error.message, issues: error.data?.issues ?? [] };
    }
    if (error instanceof TRPCError || error instanceof DomainError) {
      // A domain function called directly throws the DomainError its procedure would send.
      const trpc = toTRPCError(error);
      const { message, issues } = publicError(trpc);
      return { code: trpc.code, message, issues: issues ?? [] };
    }
    throw error;
  }
}
