import type { Database, Role } from '@hdms/db';
import type { FetchCreateContextFnOptions } from '@trpc/server/adapters/fetch';
import type { Context as HonoContext } from 'hono';
import type { SessionManager } from './auth/sessions';
import type { Config } from './env';
import type { Logger } from './logger';
import type { Scope } from './scopes';

/** A signed-in person, through a session. */
export interface UserActor {
  type: 'user';
  id: number;
  role: Role;
  username: string;
  email: string;
  doctorId: number | null;
  patientId: number | null;
  /** The session token this request came with. */
  sessionToken: string;
}

/** An internal service, through a service token. */
export interface ServiceActor {
  type: 'service';
  id: number;
  name: string;
  scopes: Scope[];
}

/** Whoever makes a request. */
export type Actor = UserActor | ServiceActor;

/** What the server holds for its whole life and hands to every request. */
export interface AppServices {
  db: Database;
  config: Config;
  logger: Logger;
  sessions: SessionManager;
}

/** Inputs of `createContextInner`: what a test needs to call procedures directly. */
export interface InnerContextOptions extends AppServices {
  actor: Actor | null;
  requestId: string;
  ip?: string | null;
  /** Adds a `Set-Cookie` header to the response, where there is one. */
  setCookie?: (cookie: string) => void;
}

/** The context every procedure receives. */
export function createContextInner(options: InnerContextOptions) {
  return {
    db: options.db,
    config: options.config,
    sessions: options.sessions,
    actor: options.actor,
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

/** Variables the Hono app keeps per request. */
export interface AppEnv {
  Variables: {
    requestId: string;
    actor: Actor | null;
    ip: string | null;
    services: AppServices;
  };
}

/** The context of one tRPC request, from what the Hono middleware resolved. */
export function createContext(opts: FetchCreateContextFnOptions, c: HonoContext<AppEnv>): Context {
  return createContextInner({
    ...c.get('services'),
    actor: c.get('actor'),
    requestId: c.get('requestId'),
    ip: c.get('ip'),
    setCookie: (cookie) => opts.resHeaders.append('Set-Cookie', cookie),
  });
}
