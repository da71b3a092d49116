import { TRPCError } from '@trpc/server';
import type { Context as HonoContext, Handler } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ZodError } from 'zod';
import { type AppEnv, createContextInner } from '../context';
import { HTTP_STATUS, safeError, toTRPCError } from '../errors';
import { createCaller } from '../routers/_app';
import { describeIssues, flattenIssues } from '../trpc';

/** The tRPC caller for this request: REST endpoints reuse every procedure's rules through it. */
export function callerFor(c: HonoContext<AppEnv>) {
  return createCaller(
    createContextInner({
      ...c.get('services'),
      actor: c.get('actor'),
      requestId: c.get('requestId'),
      ip: c.get('ip'),
      setCookie: (cookie) => c.header('Set-Cookie', cookie, { append: true }),
    }),
  );
}

/** A REST failure with its status, raised before a procedure is reached. */
export class HttpError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    message: string,
  ) {
    super(message);
  }
}

const camel = (key: string) => key.replace(/_([a-z0-9])/g, (_, ch: string) => ch.toUpperCase());
const snake = (key: string) => key.replace(/[A-Z]/g, (ch) => `_${ch.toLowerCase()}`);

function mapKeys(value: unknown, rename: (key: string) => string): unknown {
  if (Array.isArray(value)) return value.map((v) => mapKeys(v, rename));
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [rename(k), mapKeys(v, rename)]));
  }
  return value;
}

/** snake_case JSON body keys to the procedures' camelCase, deeply. */
export const toCamel = (value: unknown) => mapKeys(value, camel);
/** camelCase result keys to REST's snake_case, deeply. */
export const toSnake = (value: unknown) => mapKeys(value, snake);

/** Reads a JSON request body: 415 if it is not JSON, 400 if it does not parse. */
export async function readJson(c: HonoContext<AppEnv>): Promise<unknown> {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/([\w.+-]+\+)?json\b/i.test(type)) {
    throw new HttpError(415, 'Content-Type must be application/json');
  }
  const text = await c.req.text();
  if (text.trim() === '') throw new HttpError(400, 'Request body is empty; send a JSON document');
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'Request body is not valid JSON');
  }
}

/** The contract's REST error body for anything a handler throws. */
export function errorResponse(c: HonoContext<AppEnv>, error: unknown): Response {
  if (error instanceof HttpError) return c.json({ error: error.message }, error.status);
  const trpcError = toTRPCError(error);
  const status = HTTP_STATUS[trpcError.code] as ContentfulStatusCode;
  if (trpcError.cause instanceof ZodError) {
    const issues = flattenIssues(trpcError.cause.issues);
    return c.json(
      {
        error: describeIssues(
          issues.map((i) => ({ ...i, path: i.path.map((p) => (typeof p === 'string' ? snake(p) : p)) })),
        ),
        issues: issues.map((i) => ({
          path: i.path.map((p) => (typeof p === 'string' ? snake(p) : p)).join('.'),
          message: i.message,
        })),
      },
      status,
    );
  }
  if (trpcError.code === 'INTERNAL_SERVER_ERROR') {
    c.get('services').logger.error(
      { err: safeError(trpcError.cause), reqId: c.get('requestId') },
      'REST handler failed',
    );
    return c.json({ error: 'Internal server error' }, 500);
  }
  return c.json({ error: trpcError.message }, status);
}

/** Wraps a REST handler so every failure becomes the contract's `{ error }` body. */
export function rest(handler: Handler<AppEnv>): Handler<AppEnv> {
  return async (c, next) => {
    try {
      return await handler(c, next);
    } catch (error) {
      return errorResponse(c, error);
    }
  };
}

export { TRPCError };
