import { initTRPC } from '@trpc/server';
import type { Scope } from '../domain/access/policy';
import type { Context } from '../context';
import { publicError } from '../errors';
import { transformer } from '../lib/transformer';

/** What a procedure says about itself: a description for the panel, the scope a service needs. */
export interface Meta {
  description?: string;
  scope?: Scope;
  /** Callable by an account that must still enroll in MFA (MFA_REQUIRED_ROLES): enrolling needs it. */
  mfaEnrollment?: boolean;
}

const t = initTRPC
  .context<Context>()
  .meta<Meta>()
  .create({
    // superjson on the wire, serialized faster (lib/transformer.ts)
    transformer,
    isDev: false,
    // Subscriptions (server-sent events): a ping every 10 s keeps proxies from closing a quiet
    // stream, and tells clients to reconnect (resuming) when none came for 25 s.
    sse: {
      ping: { enabled: true, intervalMs: 10_000 },
      client: { reconnectAfterInactivityMs: 25_000 },
    },
    errorFormatter({ shape, error }) {
      const { message, issues } = publicError(error);
      return { ...shape, message, data: { ...shape.data, issues } };
    },
  });

/** Builders for routers and middleware; procedures come from `procedures/`. */
export const router = t.router;
export const middleware = t.middleware;
export const createCallerFactory = t.createCallerFactory;
export const baseProcedure = t.procedure;
