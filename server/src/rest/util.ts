import type { Context as HonoContext, Handler } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { z } from 'zod';
import { type Actor, type AppEnv, contextFromHono } from '../context';
import { mfaEnrollmentRefusal } from '../domain/access/policy';
import {
  badRequest,
  forbidden,
  safeError,
  toDomainError,
  unauthorized,
  unsupportedMediaType,
} from '../domain/errors';
import { restError, retryAfterOf, toTRPCError } from '../errors';
import { camel, snake } from '../lib/keys';
import { createCaller } from '../trpc/appRouter';
import { acceptedSchema } from './route';

/** The tRPC caller for this request: REST endpoints reuse every procedure's rules through it. */
export function callerFor(c: HonoContext<AppEnv>) {
  return createCaller(contextFromHono(c, (cookie) => c.header('Set-Cookie', cookie, { append: true })));
}

/**
 * The caller of a route that runs no procedure (a streamed upload or download), held to what the
 * procedure tiers hold every caller to: UNAUTHORIZED without credentials, FORBIDDEN while the
 * account must still enroll in MFA.
 */
export function signedInActor(c: HonoContext<AppEnv>): Actor {
  const actor = c.get('actor');
  if (!actor) throw unauthorized(c.get('refusal') ?? undefined);
  const refusal = mfaEnrollmentRefusal(actor, c.get('services').config.mfaRequiredRoles, false);
  if (refusal) throw forbidden(refusal);
  return actor;
}

/**
 * Checks a REST body against a procedure's own input schema and returns it typed for that
 * procedure, so the compiler checks every REST-to-procedure mapping. A bad body is the same
 * BAD_REQUEST, with the same issues, as the procedure would answer.
 */
export function parseBody<S extends z.ZodTypeAny>(schema: S, body: unknown): z.output<S> {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw toDomainError(parsed.error);
  return parsed.data;
}

/**
 * A REST body handed to a procedure as its input, as it is: the procedure validates it (once, not
 * twice: a batch of 1000 is no small parse) and refuses a bad body with the same BAD_REQUEST and
 * issues `parseBody` would. Typed by the procedure's own schema, so the compiler still checks the
 * REST-to-procedure mapping.
 */
export function procedureInput<S extends z.ZodTypeAny>(_schema: S, body: unknown): z.input<S> {
  return body as z.input<S>;
}

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

/** The keys of each answer schema (zod builds an extended schema's shape anew at every read). */
const schemaKeys = new WeakMap<z.AnyZodObject, string[]>();

function keysOf(schema: z.AnyZodObject): string[] {
  let keys = schemaKeys.get(schema);
  if (!keys) {
    keys = Object.keys(schema.shape);
    schemaKeys.set(schema, keys);
  }
  return keys;
}

/** The fields of `view` that `schema` names, and only those. */
export function pick<S extends z.ZodRawShape>(
  view: z.input<z.ZodObject<S>>,
  schema: z.ZodObject<S>,
): z.input<z.ZodObject<S>> {
  const picked: Record<string, unknown> = {};
  for (const key of keysOf(schema)) picked[key] = (view as Record<string, unknown>)[key];
  return picked as z.input<z.ZodObject<S>>;
}

/**
 * The REST answer for a view: the fields its schema names (the schema `openapi.ts` documents),
 * keys in snake_case. Views are the procedures' (one per entity); REST only picks and renames,
 * and the compiler checks that the view has every field of the schema, with its type.
 */
export function restView<S extends z.ZodRawShape>(
  view: z.input<z.ZodObject<S>>,
  schema: z.ZodObject<S>,
): unknown {
  const answer: Record<string, unknown> = {};
  for (const key of keysOf(schema)) {
    const value = (view as Record<string, unknown>)[key];
    answer[snake(key)] = value !== null && typeof value === 'object' ? toSnake(value) : value;
  }
  return answer;
}

/** How deeply a REST body may nest objects and arrays: far more than any endpoint needs. */
const MAX_JSON_DEPTH = 32;

/** The deepest nesting of objects and arrays in JSON text, counted without parsing it. */
function jsonDepth(text: string, limit: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 92 /* \ */) i++;
      else if (ch === 34 /* " */) inString = false;
    } else if (ch === 34) inString = true;
    else if (ch === 123 /* { */ || ch === 91 /* [ */) {
      if (++depth > deepest) deepest = depth;
      if (deepest > limit) return deepest;
    } else if (ch === 125 /* } */ || ch === 93 /* ] */) depth--;
  }
  return deepest;
}

/** Reads a JSON request body: 415 if it is not JSON, 400 if it is empty, too deep or does not parse. */
export async function readJson(c: HonoContext<AppEnv>): Promise<unknown> {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/([\w.+-]+\+)?json\b/i.test(type)) {
    throw unsupportedMediaType('Content-Type must be application/json');
  }
  const text = await c.req.text();
  if (text.trim() === '') throw badRequest('Request body is empty; send a JSON document');
  if (jsonDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    throw badRequest(`Request body nests deeper than ${MAX_JSON_DEPTH} levels`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest('Request body is not valid JSON');
  }
}

/** A positive whole-number id from the path (`/users/:id/...`); 400 naming the parameter otherwise. */
export function pathId(c: HonoContext<AppEnv>, name = 'id'): number {
  const raw = c.req.param(name) ?? '';
  const id = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(id) || id < 1 || id > 2_147_483_647) {
    throw badRequest(`The ${name} in the path must be a positive whole number`);
  }
  return id;
}

/** The contract's REST error answer for anything a handler throws (`Retry-After` on a 429). */
export function errorResponse(c: HonoContext<AppEnv>, thrown: unknown): Response {
  const error = toTRPCError(thrown);
  if (error.code === 'INTERNAL_SERVER_ERROR') {
    c.get('services').logger.error(
      { err: safeError(error.cause), reqId: c.get('requestId') },
      'REST handler failed',
    );
  }
  const retryAfter = retryAfterOf(error);
  if (retryAfter !== undefined) c.header('Retry-After', String(retryAfter));
  const { status, body } = restError(error);
  return c.json(body, status as ContentfulStatusCode);
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

/** The 202 answer of a route that queued job `jobId`: `{ message, job_id }` and `Location: /jobs/<id>`. */
export function accepted(c: HonoContext<AppEnv>, jobId: number, message: string): Response {
  c.header('Location', `/jobs/${jobId}`);
  return c.json(restView({ message, jobId }, acceptedSchema), 202);
}
