import { trpcServer } from '@hono/trpc-server';
import { Hono } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import { type AppEnv, type AppServices, createContext } from '../context';
import { safeError } from '../domain/errors';
import { retryAfterOf } from '../errors';
import { EVENTS_STREAM_PATH, eventStreams } from '../events/route';
import { createFhirApp } from '../fhir/app';
import { FHIR_PATH } from '../fhir/http';
import { Metrics, mountMetrics } from '../metrics';
import { mountApiDocs } from '../openapi';
import { mountPanel } from '../panel';
import { healthRoute } from '../rest/health';
import { mountRest } from '../rest/index';
import { appRouter } from '../trpc/appRouter';
import { authenticate } from './middleware/authenticate';
import { bodyLimit } from './middleware/bodyLimit';
import { notFound } from './middleware/notFound';
import { requestContext } from './middleware/requestContext';
import { trpcBatchLimit } from './middleware/trpcBatchLimit';
import { unsafeRequests } from './middleware/unsafeRequests';

export { MAX_BODY_BYTES } from './middleware/bodyLimit';
export { API_CSP } from './middleware/requestContext';

/**
 * Builds the HTTP application: middleware, `/healthz`, tRPC at `/trpc`, the REST endpoints, the
 * FHIR R4 API at `/fhir/R4` and the panel. It never listens; `server.ts` does. Each middleware says what it guarantees in its
 * own module (`./middleware`); their order is part of it: `/healthz` answers before the
 * unsafe-request check and the credentials are read, so a probe needs neither.
 */
export function createApp(services: AppServices): Hono<AppEnv> {
  const { config, logger } = services;
  const app = new Hono<AppEnv>();
  const metrics = new Metrics(services.db, services.events, services.replicas ?? null);
  services.events.onLag = (seconds) => metrics.eventLag.observe(seconds);
  if (services.replicas) {
    services.replicas.onChoice = (choice, needed) => {
      if (needed) metrics.readWait.observe({ target: choice.target }, choice.waitedMs / 1000);
    };
  }

  app.use(secureHeaders());
  app.use(requestContext({ services, metrics }));
  app.use(bodyLimit({ importMaxBytes: config.importMaxBytes }));

  app.get(healthRoute.path, healthRoute.handler);

  app.use(unsafeRequests({ allowedOrigins: config.allowedOrigins }));
  app.use(authenticate({ services }));
  app.use('/trpc/*', trpcBatchLimit({ maxCalls: config.maxBatchCalls }));
  // Change-event streams: our own writer of tRPC's frames (events/route.ts), before tRPC's.
  app.get(EVENTS_STREAM_PATH, eventStreams());
  app.use(
    '/trpc/*',
    trpcServer({
      router: appRouter,
      endpoint: '/trpc',
      createContext,
      responseMeta({ errors }) {
        const wait = Math.max(0, ...errors.map((e) => retryAfterOf(e) ?? 0));
        return wait > 0 ? { headers: { 'Retry-After': String(wait) } } : {};
      },
      onError: ({ error, path }) => {
        if (error.code === 'INTERNAL_SERVER_ERROR')
          logger.error({ err: safeError(error.cause ?? error), path }, 'tRPC error');
      },
    }),
  );

  mountRest(app);
  app.route(FHIR_PATH, createFhirApp());
  mountPanel(app, config.panelEnabled);
  mountApiDocs(app, config.apiDocsEnabled);
  mountMetrics(app, metrics, config.metrics);

  app.notFound(notFound({ apiDocs: config.apiDocsEnabled, panel: config.panelEnabled }));
  app.onError((error, c) => {
    logger.error({ err: safeError(error), reqId: c.get('requestId') }, 'unhandled error');
    return c.json({ error: 'Internal server error' }, 500);
  });
  return app;
}
