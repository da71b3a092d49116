import { TRPCError } from '@trpc/server';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import { ZodError } from 'zod';
import {
  DomainError,
  describeIssues,
  flattenIssues,
  type Issue,
  publicError as publicDomainError,
  toDomainError,
} from './domain/errors';
import { snake } from './lib/keys';

/**
 * The transports' side of the error vocabulary (`domain/errors.ts`): the one module that creates
 * `TRPCError`s. tRPC and REST answers take the same code, message and issues from the same
 * `DomainError`; REST takes the HTTP status from tRPC's own mapping and renames field paths to
 * snake_case.
 */

/**
 * Anything thrown, as a TRPCError whose `cause` is the `DomainError` it stands for (tRPC's own
 * input validation failures keep their ZodError cause).
 */
export function toTRPCError(error: unknown): TRPCError {
  if (error instanceof TRPCError) {
    if (error.code !== 'INTERNAL_SERVER_ERROR' || error.cause instanceof DomainError) return error;
    if (error.cause === undefined) return error;
    return toTRPCError(error.cause);
  }
  const domain = toDomainError(error);
  return new TRPCError({ code: domain.code, message: domain.message, cause: domain });
}

/** The issues an error carries (a validation failure or `badInput`), if any. */
function issuesOf(error: TRPCError): Issue[] | undefined {
  if (error.cause instanceof ZodError) return flattenIssues(error.cause.issues);
  if (error.cause instanceof DomainError) return error.cause.issues;
  return undefined;
}

/** What a client is told: the message, and for bad input the issues; never internal details. */
export function publicError(error: TRPCError): { message: string; issues?: Issue[] } {
  if (error.cause instanceof DomainError) return publicDomainError(error.cause);
  if (error.code === 'INTERNAL_SERVER_ERROR') return { message: 'Internal server error' };
  const issues = issuesOf(error);
  return issues ? { message: describeIssues(issues), issues } : { message: error.message };
}

/** Seconds a client should wait before trying again (`Retry-After`), if the error says. */
export function retryAfterOf(error: unknown): number | undefined {
  const cause = error instanceof TRPCError ? error.cause : error;
  return cause instanceof DomainError ? cause.retryAfterSeconds : undefined;
}

/** `message` with each of `fields` (camelCase names) written as REST's wire does (`roomNumber` → `room_number`). */
function snakeFields(message: string, fields: readonly string[]): string {
  let text = message;
  for (const field of new Set(fields)) {
    if (/^\w+$/.test(field)) text = text.replace(new RegExp(`\\b${field}\\b`, 'g'), snake(field));
  }
  return text;
}

/**
 * The REST answer of an error: tRPC's HTTP status for its code, and the contract's body
 * `{ error, issues? }` with field paths, and the fields a message names, in snake_case
 * (`1.patient_id`, `You may not change room_number: ...`).
 */
export function restError(error: TRPCError): {
  status: number;
  body: { error: string; issues?: { path: string; message: string }[] };
} {
  const status = getHTTPStatusCodeFromError(error);
  const { message, issues } = publicError(error);
  if (!issues) {
    const fields = error.cause instanceof DomainError ? error.cause.fields : undefined;
    return { status, body: { error: fields ? snakeFields(message, fields) : message } };
  }
  const restIssues = issues.map((i) => ({
    ...i,
    path: i.path.map((p) => (typeof p === 'string' ? snake(p) : p)),
  }));
  return {
    status,
    body: {
      error: describeIssues(restIssues),
      issues: restIssues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    },
  };
}
