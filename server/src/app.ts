import { getConnInfo } from '@hono/node-server/conninfo';
import { trpcServer } from '@hono/trpc-server';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import { resolveCaller } from './auth/index';
import { type AppEnv, type AppServices, createContext } from './context';
import { safeError, toTRPCError } from './errors';
import { errorResponse } from './rest/util';
import { mountPanel } from './panel';
import { mountRest } from './rest/index';
import { appRouter } from './routers/_app';

/** The largest request body accepted, in bytes. */
export const MAX_BODY_BYTES = 1024 * 1024;

function clientIp(c: Parameters<typeof getConnInfo>[0]): string | null {
  try {
    return getConnInfo(c).remote.address ?? null;
  } catch {
    return null;
  }
}

/**
 * Builds the HTTP application: middleware, `/healthz`, tRPC at `/trpc`, the REST endpoints. It
 * never listens; `index.ts` does.
 */
export function createApp(services: AppServices): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.use(requestId());
  app.use(secureHeaders());
  app.use(async (c, next) => {
    const started = performance.now();
    c.set('services', services);
    c.set('ip', clientIp(c));
    c.set('actor', null);
    c.set('refusal', null);
    await next();
    c.header('Cache-Control', 'no-store');
    const actor = c.get('actor');
    services.logger.info(
      {
        reqId: c.get('requestId'),
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Math.round(performance.now() - started),
        ...(actor ? { actor: `${actor.type}:${actor.id}` } : {}),
      },
      'request',
    );
  });
  app.use(
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) => {
        // The unread rest of the body would poison a kept-alive connection: close it.
        c.header('Connection', 'close');
        return c.json({ error: `Request body too large (limit ${MAX_BODY_BYTES} bytes)` }, 413);
      },
    }),
  );

  app.get('/healthz', async (c) => {
    try {
      await services.db.ping();
      return c.json({ status: 'ok' });
    } catch {
      return c.json({ status: 'unavailable', error: 'Database unavailable' }, 503);
    }
  });

  app.use(async (c, next) => {
    try {
      const caller = await resolveCaller(services, {
        authorization: c.req.header('authorization'),
        cookie: c.req.header('cookie'),
      });
      c.set('actor', caller.actor);
      c.set('refusal', caller.refusal);
    } catch (error) {
      return errorResponse(c, error);
    }
    await next();
  });

  app.use(
    '/trpc/*',
    trpcServer({
      router: appRouter,
      endpoint: '/trpc',
      createContext,
      onError: ({ error, path }) => {
        if (error.code === 'INTERNAL_SERVER_ERROR')
          services.logger.error({ err: safeError(error.cause ?? error), path }, 'tRPC error');
      },
    }),
  );

  mountRest(app);
  mountPanel(app, services.config.panelEnabled);

  app.notFound((c) => c.json({ error: 'Not found' }, 404));
  app.onError((error, c) => {
    services.logger.error({ err: safeError(error), reqId: c.get('requestId') }, 'unhandled error');
    return c.json({ error: 'Internal server error' }, 500);
  });
  return app;
}
