import { getErrorShape, getTRPCErrorFromUnknown } from '@trpc/server/unstable-core-do-not-import';
import type { MiddlewareHandler } from 'hono';
import { type AppEnv, contextFromHono } from '../context';
import { safeError } from '../domain/errors';
import type { Logger } from '../logger';
import { toTRPCError } from '../errors';
import { transformer } from '../lib/transformer';
import { appRouter, createCaller } from '../trpc/appRouter';
import { errorStream, openEventStream, openNodeEventStream, SSE_HEADERS } from './stream';
import { EventSubscriptionRequest } from './subscription';

/** Where `httpSubscriptionLink` opens `events.onChange`. */
export const EVENTS_STREAM_PATH = '/trpc/events.onChange';

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

// An open stream keeps the closures below for as long as it runs. Each is made in a function of
// its own, so that it holds only what it uses: a closure made in the handler would share its
// scope, and keep the whole request (context, logger, headers) alive with the stream.

/** An abort that fires when the connection closes. */
function abortOnClose(outgoing: { once(event: 'close', listener: () => void): unknown } | undefined) {
  const abort = new AbortController();
  outgoing?.once('close', () => abort.abort());
  return abort;
}

/** tRPC's error shape of a subscription error (our error formatter reads no context). */
function errorFormatter(config: typeof appRouter._def._config, logger: Logger, input: unknown) {
  return (cause: unknown) => {
    const error = getTRPCErrorFromUnknown(cause);
    if (error.code === 'INTERNAL_SERVER_ERROR') {
      logger.error({ err: safeError(error.cause ?? error), path: 'events.onChange' }, 'tRPC error');
    }
    return getErrorShape({
      config,
      error,
      type: 'subscription',
      path: 'events.onChange',
      input,
      ctx: undefined,
    });
  };
}

/**
 * `GET /trpc/events.onChange`, served by our own writer (`./stream.ts`) rather than tRPC's: the
 * request is read as tRPC reads it (`input` as superjson JSON, `lastEventId` from the
 * `Last-Event-Id` header or the query), the procedure runs through a caller (its tier, input
 * schema and error mapping, unchanged), and the answer has tRPC's headers and frames; a refusal
 * is tRPC's `connected` + `serialized-error`. A request it does not recognise as such (a batch,
 * input that is not JSON) goes on to tRPC, which answers it as before.
 */
export function eventStreams(): MiddlewareHandler<AppEnv> {
  const config = appRouter._def._config;
  const client = config.sse?.client ?? {};
  const ping = config.sse?.ping;
  const pingMs = ping?.enabled ? (ping.intervalMs ?? 1000) : Number.POSITIVE_INFINITY;
  return async (c, next) => {
    const url = new URL(c.req.url);
    if (url.searchParams.has('batch')) return next();
    let input: unknown;
    try {
      const raw = url.searchParams.get('input');
      input = raw === null ? undefined : transformer.deserialize(JSON.parse(raw));
    } catch {
      return next();
    }
    const lastEventId =
      c.req.header('last-event-id') ??
      url.searchParams.get('lastEventId') ??
      url.searchParams.get('Last-Event-Id');
    if (lastEventId) input = isObject(input) ? { ...input, lastEventId } : (input ?? { lastEventId });

    const cookies: string[] = [];
    const ctx = contextFromHono(c, (cookie) => cookies.push(cookie));
    const outgoing = c.env?.outgoing;
    const abort = abortOnClose(outgoing);
    const formatError = errorFormatter(config, ctx.logger, input);

    let body: ReadableStream<Uint8Array>;
    try {
      const request = await createCaller(ctx, { signal: abort.signal }).events.onChange(input as never);
      if (!(request instanceof EventSubscriptionRequest))
        throw new Error('events.onChange answered no subscription');
      const options = { client, pingMs, formatError, outgoing };
      // On the Node server the stream is written straight to the connection (`adoptEventStream`).
      if (outgoing) {
        const response = await openNodeEventStream(request, options);
        for (const cookie of cookies) response.headers.append('Set-Cookie', cookie);
        return response;
      }
      body = await openEventStream(request, options);
    } catch (error) {
      body = errorStream(client, formatError(toTRPCError(error)));
    }
    const headers = new Headers(SSE_HEADERS);
    for (const cookie of cookies) headers.append('Set-Cookie', cookie);
    return new Response(body, { status: 200, headers });
  };
}
