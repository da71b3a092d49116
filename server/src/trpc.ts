import { initTRPC } from '@trpc/server';
import superjson from 'superjson';
import type { Scope } from './access/index';
import type { Context } from './context';
import { publicError } from './errors';

/** What a procedure says about itself: a description for the panel, the scope a service needs. */
export interface Meta {
  description?: string;
  scope?: Scope;
}

const t = initTRPC
  .context<Context>()
  .meta<Meta>()
  .create({
    transformer: superjson,
    isDev: false,
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
