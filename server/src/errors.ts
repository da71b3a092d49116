import { isDatabaseUnavailable, SequelizeValidationError, UniqueConstraintError } from '@hdms/db';
import { TRPCError } from '@trpc/server';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import { ForeignKeyConstraintError } from 'sequelize';
import { ZodError, ZodIssueCode, type ZodIssue } from 'zod';
import { snake } from './lib/keys';

/**
 * The one error vocabulary of HDMS: every failure a client can see is raised here, with the
 * contract's tRPC code, and looks the same on tRPC and on REST (REST takes the HTTP status from
 * tRPC's own mapping and renames field paths to snake_case).
 */

/** One validation problem, as clients see it: where (field path, batch items by index) and why. */
export interface Issue {
  path: (string | number)[];
  message: string;
}

/**
 * Bad input at `path` (a field, or `[index, field]` in a batch): BAD_REQUEST carrying one issue,
 * reported exactly like a validation failure, so the message and `issues` name the item.
 */
export function badInput(path: (string | number)[], message: string): TRPCError {
  return new TRPCError({
    code: 'BAD_REQUEST',
    message,
    cause: new ZodError([{ code: ZodIssueCode.custom, path, message }]),
  });
}

/** BAD_REQUEST about the request as a whole (no one field to blame). */
export function badRequest(message: string): TRPCError {
  return new TRPCError({ code: 'BAD_REQUEST', message });
}

/** Not signed in, or the credentials are no longer valid. */
export function unauthorized(message = 'Sign in first'): TRPCError {
  return new TRPCError({ code: 'UNAUTHORIZED', message });
}

/** Signed in, but this actor may not do this. */
export function forbidden(message: string): TRPCError {
  return new TRPCError({ code: 'FORBIDDEN', message });
}

/** The answer for anything absent or outside the caller's scope: the two are indistinguishable. */
export function notFound(what = 'Record'): TRPCError {
  return new TRPCError({ code: 'NOT_FOUND', message: `${what} not found` });
}

/** A duplicate: the record (or a unique value of it) exists already. */
export function conflict(message: string): TRPCError {
  return new TRPCError({ code: 'CONFLICT', message });
}

/** TOO_MANY_REQUESTS with how long to wait: REST and tRPC answers carry it as `Retry-After`. */
export class RetryLaterError extends TRPCError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super({ code: 'TOO_MANY_REQUESTS', message });
  }
}

/** Too many attempts: try again in `retryAfterSeconds`. */
export function tooManyRequests(message: string, retryAfterSeconds: number): RetryLaterError {
  return new RetryLaterError(message, Math.max(1, Math.ceil(retryAfterSeconds)));
}

/** The database cannot be reached or did not answer in time. */
export function unavailable(cause?: unknown): TRPCError {
  return new TRPCError({ code: 'SERVICE_UNAVAILABLE', message: 'Database unavailable', cause });
}

/**
 * Turns anything thrown into the contract's errors: ours pass through, an unreachable or stalled
 * database is SERVICE_UNAVAILABLE, a duplicate CONFLICT, a dangling reference BAD_REQUEST.
 * Anything else stays an internal error whose details never leave the server.
 */
export function toTRPCError(error: unknown): TRPCError {
  if (error instanceof TRPCError) return error;
  if (isDatabaseUnavailable(error)) return unavailable(error);
  if (error instanceof UniqueConstraintError) {
    return new TRPCError({
      code: 'CONFLICT',
      message: 'A record with these values already exists',
      cause: error,
    });
  }
  if (error instanceof ForeignKeyConstraintError) {
    return new TRPCError({
      code: 'BAD_REQUEST',
      message: 'A referenced record does not exist',
      cause: error,
    });
  }
  if (error instanceof SequelizeValidationError) {
    return new TRPCError({ code: 'BAD_REQUEST', message: error.message, cause: error });
  }
  return new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: 'Internal server error', cause: error });
}

/**
 * Zod's issues, with unions opened up: for "one object or an array of them", the branch that
 * matches the input's shape is the one whose issues are worth showing (e.g. `[3].name`).
 */
export function flattenIssues(issues: ZodIssue[]): Issue[] {
  return issues.flatMap((issue): Issue[] => {
    if (issue.code === 'invalid_union') {
      const samePath = (i: ZodIssue) => i.path.join('.') === issue.path.join('.');
      const relevant = issue.unionErrors.filter(
        (e) => !e.issues.every((i) => i.code === 'invalid_type' && samePath(i)),
      );
      if (relevant.length === 1) return flattenIssues(relevant[0]!.issues);
    }
    return [{ path: issue.path, message: issue.message }];
  });
}

/** The readable message of a failed validation; a batch item is named by its index. */
export function describeIssues(issues: Issue[]): string {
  const first = issues[0];
  if (!first) return 'Invalid input';
  const [head, ...rest] = first.path;
  const item = typeof head === 'number' ? `item ${head}: ` : '';
  const fieldPath = typeof head === 'number' ? rest : first.path;
  const where = fieldPath
    .map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`))
    .join('')
    .replace(/^\./, '');
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  return `Invalid input: ${item}${where ? `${where}: ` : ''}${first.message}${more}`;
}

/** The issues an error carries (a validation failure or `badInput`), if any. */
export function issuesOf(error: TRPCError): Issue[] | undefined {
  return error.cause instanceof ZodError ? flattenIssues(error.cause.issues) : undefined;
}

/** What a client is told: the message, and for bad input the issues; never internal details. */
export function publicError(error: TRPCError): { message: string; issues?: Issue[] } {
  if (error.code === 'INTERNAL_SERVER_ERROR') return { message: 'Internal server error' };
  const issues = issuesOf(error);
  return issues ? { message: describeIssues(issues), issues } : { message: error.message };
}

/**
 * The REST answer of an error: tRPC's HTTP status for its code, and the contract's body
 * `{ error, issues? }` with field paths in snake_case (`1.patient_id`).
 */
export function restError(error: TRPCError): {
  status: number;
  body: { error: string; issues?: { path: string; message: string }[] };
} {
  const status = getHTTPStatusCodeFromError(error);
  const { message, issues } = publicError(error);
  if (!issues) return { status, body: { error: message } };
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

/**
 * What of an unexpected error may be logged: its name, message and stack. Database errors carry
 * the SQL and its parameters (possibly clinical values), which stay out of the logs.
 */
export function safeError(error: unknown): { name: string; message: string; stack?: string } {
  if (error instanceof Error && 'sql' in error) {
    const code = (error as { parent?: { code?: string } }).parent?.code ?? 'database error';
    return { name: error.name, message: `${error.name} (${code}); statement withheld` };
  }
  if (error instanceof Error) return { name: error.name, message: error.message, stack: error.stack };
  return { name: 'NonError', message: String(error) };
}
