/**
 * The server's router type as a client sees it. Types only: nothing here runs, and the SDK's
 * JavaScript never imports this module.
 *
 * The server's `AppRouter` carries its request context (database, logger, sessions) in its root
 * types. A client needs only the procedures, the error shape and the transformer, so the SDK
 * rebuilds the router type with an empty context. `appRouter` below has an inferred type on
 * purpose: the declaration emitter then writes that type out in full, and the rolled-up
 * `index.d.ts` holds the procedures without any of the server's internals.
 */
import type { AppRouter as ServerRouter } from '../../server/src/trpc/appRouter';
import type { AnyTRPCProcedure, AnyTRPCRouter, TRPCBuiltRouter } from '@trpc/server';

type RootTypes<TRouter extends AnyTRPCRouter> = TRouter['_def']['_config']['$types'];

declare function clientRouter<TRouter extends AnyTRPCRouter>(): TRPCBuiltRouter<
  {
    ctx: object;
    meta: object;
    errorShape: RootTypes<TRouter>['errorShape'];
    transformer: RootTypes<TRouter>['transformer'];
  },
  {
    [TKey in keyof TRouter['_def']['record']]: TRouter['_def']['record'][TKey] extends AnyTRPCProcedure
      ? TRouter['_def']['record'][TKey]
      : {
          [TName in keyof TRouter['_def']['record'][TKey]]: TRouter['_def']['record'][TKey][TName];
        };
  }
>;

/** A value of the client's router type; only its type is used. */
export const appRouter = clientRouter<ServerRouter>();

/** The HDMS API as clients see it: every procedure with its input and output types. */
export type AppRouter = typeof appRouter;
