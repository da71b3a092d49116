import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { getConnInfo } from '@hono/node-server/conninfo';
import { trpcServer } from '@hono/trpc-server';
import { type Context as HonoContext, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { secureHeaders } from 'hono/secure-headers';
import { resolveCaller, SESSION_COOKIE } from '../auth/index';
import { type AppEnv, type AppServices, createContext } from '../context';
import { safeError } from '../domain/errors';
import { retryAfterOf } from '../errors';
import { mountApiDocs } from '../openapi';
import { healthRoute } from '../rest/health';
import { mountPanel } from '../panel';
import { errorResponse } from '../rest/util';
import { mountRest } from '../rest/index';
import { appRouter } from '../trpc/appRouter';
import { routePath } from 'hono/route';
import { Metrics, mountMetrics, routeLabel } from '../metrics';

/** The largest request body accepted, in bytes. */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * How much of an over-limit body is read and thrown away before the 413 is sent, so the client
 * (still sending) receives the answer instead of a broken pipe; past this the connection closes.
 */
const DISCARD_LIMIT_BYTES = 64 * 1024 * 1024;
const DISCARD_WAIT_MS = 10_000;

/** The Content-Security-Policy of every answer but the panel's: an API answer loads nothing. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'";

/** How much of a client's own `X-Request-Id` is kept for the log (never stored as ours). */
const CLIENT_REQUEST_ID_MAX = 64;

type Ctx = HonoContext<AppEnv>;

/**
 * The client's address: the TCP peer, or behind a proxy the operator named in
 * `TRUSTED_PROXIES`, the last address of `X-Forwarded-For` that is not itself such a proxy.
 * `X-Forwarded-For` from anyone else is ignored.
 */
function clientIp(c: Ctx, trustedProxies: readonly string[]): string | null {
  let peer: string | null;
  try {
    peer = getConnInfo(c).remote.address ?? null;
  } catch {
    peer = null;
  }
  if (!peer || !trustedProxies.includes(peer)) return peer;
  const hops = (c.req.header('x-forwarded-for') ?? '')
    .split(',')
    .map((hop) => hop.trim())
    .filter((hop) => hop !== '');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!;
    if (!trustedProxies.includes(hop)) return hop.slice(0, 64);
  }
  return peer;
}

/** Reads and drops up to `limit` bytes of a request body (or until it ends, or a deadline passes). */
function discardBody(incoming: IncomingMessage | undefined, limit: number): Promise<void> {
  if (!incoming || incoming.readableEnded || incoming.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let seen = 0;
    const done = () => {
      clearTimeout(timer);
      incoming.off('data', onData);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > limit) done();
    };
    const timer = setTimeout(done, DISCARD_WAIT_MS);
    incoming.on('data', onData);
    incoming.once('end', done);
    incoming.once('error', done);
    incoming.once('close', done);
    incoming.resume();
  });
}

const JSON_TYPE = /^application\/([\w.+-]+\+)?json\s*(;|$)/i;
const CSV_TYPE = /^text\/csv\s*(;|$)/i;
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** True when the request carries a body (a length above zero, or a chunked one). */
function hasBody(c: Ctx): boolean {
  const length = c.req.header('content-length');
  return (length !== undefined && length !== '0') || c.req.header('transfer-encoding') !== undefined;
}

/**
 * The one request that may exceed `MAX_BODY_BYTES` and need not be JSON: a CSV upload to
 * `POST /patients/import` (`text/csv`, up to IMPORT_MAX_BYTES), which its handler streams into the
 * database. A form cannot send `text/csv` either, so it is no easier to forge than JSON.
 */
function isCsvImport(c: Ctx): boolean {
  return (
    c.req.method === 'POST' &&
    c.req.path === '/patients/import' &&
    CSV_TYPE.test(c.req.header('content-type') ?? '')
  );
}

/** The session cookie is this request's only credential (no `Authorization` header). */
function cookieAuthenticated(c: Ctx): boolean {
  if (c.req.header('authorization')) return false;
  const cookie = c.req.header('cookie') ?? '';
  return cookie.split(';').some((part) => part.trim().startsWith(`${SESSION_COOKIE}=`));
}

/**
 * A browser request from this server's own pages or a configured origin. `Origin` decides when
 * sent; else `Sec-Fetch-Site`; a request with neither comes from no browser page at all.
 */
function fromAllowedOrigin(c: Ctx, allowedOrigins: readonly string[]): boolean {
  const origin = c.req.header('origin');
  if (origin !== undefined) {
    if (allowedOrigins.includes(origin)) return true;
    try {
      return new URL(origin).host === c.req.header('host');
    } catch {
      return false;
    }
  }
  const site = c.req.header('sec-fetch-site');
  return site === undefined || site === 'same-origin' || site === 'none';
}

/**
 * Builds the HTTP application: middleware, `/healthz`, tRPC at `/trpc`, the REST endpoints and
 * the panel. It never listens; `server.ts` does.
 */
export function createApp(services: AppServices): Hono<AppEnv> {
  const { config, logger } = services;
  const app = new Hono<AppEnv>();
  const metrics = new Metrics(services.db, services.events);
  services.events.onLag = (seconds) => metrics.eventLag.observe(seconds);

  app.use(secureHeaders());
  app.use(async (c, next) => {
    const started = performance.now();
    const requestId = randomUUID();
    const clientRequestId = c.req
      .header('x-request-id')
      ?.replace(/[^\w.:=/-]/g, '')
      .slice(0, CLIENT_REQUEST_ID_MAX);
    c.set('requestId', requestId);
    c.set('services', services);
    c.set('ip', clientIp(c, config.trustedProxies));
    c.set('actor', null);
    c.set('refusal', null);
    await next();
    c.header('X-Request-Id', requestId);
    c.header('Cache-Control', 'no-store');
    if (!c.res.headers.has('Content-Security-Policy')) c.header('Content-Security-Policy', API_CSP);
    const actor = c.get('actor');
    const seconds = (performance.now() - started) / 1000;
    if (config.metrics.enabled) {
      metrics.observe(routeLabel(c.req.path, routePath(c, -1)), c.req.method, c.res.status, seconds);
    }
    if (!logger.isLevelEnabled('info')) return;
    logger.info(
      {
        reqId: requestId,
        ...(clientRequestId ? { clientRequestId } : {}),
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Math.round(performance.now() - started),
        ...(actor ? { actor: `${actor.type}:${actor.id}` } : {}),
      },
      'request',
    );
  });

  const tooLarge = async (c: Ctx, limit = MAX_BODY_BYTES) => {
    await discardBody(c.env?.incoming, DISCARD_LIMIT_BYTES);
    c.header('Connection', 'close');
    return c.json({ error: `Request body too large (limit ${limit} bytes)` }, 413);
  };
  app.use(async (c, next) => {
    const limit = isCsvImport(c) ? config.importMaxBytes : MAX_BODY_BYTES;
    const length = Number(c.req.header('content-length'));
    if (length > limit) return tooLarge(c, limit);
    return next();
  });
  const jsonBodyLimit = bodyLimit({ maxSize: MAX_BODY_BYTES, onError: (c) => tooLarge(c) });
  app.use(async (c, next) => {
    if (!isCsvImport(c)) return jsonBodyLimit(c, next);
    // The import handler counts the bytes as it stores them and answers 413 past the limit; the
    // rest of the body is drained here, so that the client (still sending) reads the answer.
    await next();
    if (c.res.status === 413) {
      await discardBody(c.env?.incoming, DISCARD_LIMIT_BYTES);
      c.header('Connection', 'close');
    }
  });

  app.get(healthRoute.path, healthRoute.handler);

  // Unsafe requests: JSON bodies only (a form cannot forge one; the CSV import aside), and a
  // browser's cookie-only request must come from this server's pages or an allowed origin (CSRF).
  app.use(async (c, next) => {
    if (!UNSAFE_METHODS.has(c.req.method)) return next();
    if (hasBody(c) && !JSON_TYPE.test(c.req.header('content-type') ?? '') && !isCsvImport(c)) {
      return c.json({ error: 'Content-Type must be application/json' }, 415);
    }
    if (cookieAuthenticated(c) && !fromAllowedOrigin(c, config.allowedOrigins)) {
      return c.json(
        {
          error: 'Cross-site request refused: sign-in cookies are accepted only from this server’s own pages',
        },
        403,
      );
    }
    return next();
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

  app.use('/trpc/*', async (c, next) => {
    const calls = c.req.path.slice('/trpc/'.length).split(',').length;
    if (calls <= config.maxBatchCalls) return next();
    const message = `A batch may hold at most ${config.maxBatchCalls} calls (this one has ${calls}); split it`;
    return c.json(
      { error: { json: { message, code: -32600, data: { code: 'BAD_REQUEST', httpStatus: 400 } } } },
      400,
    );
  });
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
  mountPanel(app, config.panelEnabled);
  mountApiDocs(app, config.apiDocsEnabled);
  mountMetrics(app, metrics, config.metrics);

  app.notFound((c) => c.json({ error: 'Not found' }, 404));
  app.onError((error, c) => {
    logger.error({ err: safeError(error), reqId: c.get('requestId') }, 'unhandled error');
    return c.json({ error: 'Internal server error' }, 500);
  });
  return app;
}
