import type { Database, ReadReplicas } from '@hdms/db';
import type { HttpBindings } from '@hono/node-server';
import type { FetchCreateContextFnOptions } from '@trpc/server/adapters/fetch';
import type { Context as HonoContext } from 'hono';
import type { SessionManager } from './auth/sessions';
import type { AccessScope } from './domain/access/scope';
import type { Actor } from './domain/actor';
import type { Config } from './env';
import type { EventFeed } from './events/feed';
import type { Logger } from './logger';
import { toTRPCError } from './errors';
import { recordingPositions, readSourceOf } from './replicas';

export { type Actor, actorName, type ServiceActor, type UserActor } from './domain/actor';

/** What the server holds for its whole life and hands to every request. */
export interface AppServices {
  db: Database;
  config: Config;
  logger: Logger;
  sessions: SessionManager;
  /** This process's change-event feed (`events.onChange`). */
  events: EventFeed;
  /**
   * The time (epoch ms) MFA codes and sign-in challenges are checked against: `Date.now`, or a
   * clock a test sets (`startServer`'s `clock` option).
   */
  clock: () => number;
  /** The read replicas (`DATABASE_READ_URLS`); null or absent: every read goes to `db`. */
  replicas?: ReadReplicas | null;
}

/** Inputs of `createContextInner`: what a test needs to call procedures directly. */
export interface InnerContextOptions extends AppServices {
  actor: Actor | null;
  /** Why the credentials sent were refused, if they were (the UNAUTHORIZED message). */
  refusal?: string | null;
  requestId: string;
  ip?: string | null;
  /** Adds a `Set-Cookie` header to the response, where there is one. */
  setCookie?: (cookie: string) => void;
  /**
   * Positions this request's replica reads must include: the account's (read with the session)
   * and the event position the client sent (`READ_AFTER_HEADER`).
   */
  readAfter?: readonly (string | null | undefined)[];
}

/** The context every procedure receives. */
export function createContextInner(options: InnerContextOptions) {
  const replicas = options.actor?.type === 'user' ? options.replicas : null;
  return {
    db: replicas ? recordingPositions(options.db, options.actor, options.logger) : options.db,
    /** Where this request's list and get reads go (`readDatabase`): chosen on the first one. */
    reads: readSourceOf(options.db, replicas, options.readAfter ?? []),
    config: options.config,
    sessions: options.sessions,
    events: options.events,
    clock: options.clock,
    actor: options.actor,
    refusal: options.refusal ?? null,
    requestId: options.requestId,
    ip: options.ip ?? null,
    logger: options.logger.child({
      reqId: options.requestId,
      ...(options.actor ? { actor: `${options.actor.type}:${options.actor.id}` } : {}),
    }),
    setCookie: options.setCookie ?? (() => {}),
  };
}

/** The procedures' context type. */
export type Context = ReturnType<typeof createContextInner>;

/**
 * The context inside a procedure of a tier: its own path (for audit rows), the actor the tier
 * admitted and that actor's scope (`scopeOf`). It is a `DomainContext`: resolvers hand it to the
 * domain as it is.
 */
export type ProcedureContext<A extends Actor = Actor> = Omit<Context, 'actor'> & {
  actor: A;
  procedure: string;
  scope: AccessScope;
};

/** The Hono app's environment: the Node request and response, and what it keeps per request. */
export interface AppEnv {
  Bindings: HttpBindings;
  Variables: {
    requestId: string;
    actor: Actor | null;
    refusal: string | null;
    /** Why the credentials could not be checked (the database down), on `/trpc` requests. */
    authFailure?: unknown;
    ip: string | null;
    services: AppServices;
    /** Positions this request's replica reads must include (see `InnerContextOptions.readAfter`). */
    readAfter?: (string | null)[];
  };
}

/**
 * The context of one HTTP request, from what the Hono middleware resolved: the one function both
 * tRPC (`createContext`) and the REST endpoints build their context with.
 */
export function contextFromHono(c: HonoContext<AppEnv>, setCookie: (cookie: string) => void): Context {
  return createContextInner({
    ...c.get('services'),
    actor: c.get('actor'),
    refusal: c.get('refusal'),
    requestId: c.get('requestId'),
    ip: c.get('ip'),
    setCookie,
    readAfter: c.get('readAfter') ?? [],
  });
}

/** The tRPC adapter's context function: cookies go to tRPC's response headers. */
export function createContext(opts: FetchCreateContextFnOptions, c: HonoContext<AppEnv>): Context {
  const failure = c.get('authFailure');
  if (failure !== undefined) throw toTRPCError(failure);
  return contextFromHono(c, (cookie) => opts.resHeaders.append('Set-Cookie', cookie));
}
