import { databaseFailureOf } from '@hdms/db';
import { ZodError, type ZodIssue } from 'zod';

/**
 * The one error vocabulary of HDMS (after Medplum's `outcomes.ts`): domain code, jobs and the
 * auth module throw these typed errors and nothing else; `server/src/errors.ts` maps them to
 * tRPC, REST (and later FHIR OperationOutcome), so the same failure looks the same on every
 * surface. Nothing here knows a transport: worker threads load it without tRPC.
 */

/** The failures a client can be told about, named as tRPC names them. */
export type ErrorCode =
  | 'BAD_REQUEST'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'PRECONDITION_FAILED'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'TOO_MANY_REQUESTS'
  | 'SERVICE_UNAVAILABLE'
  | 'INTERNAL_SERVER_ERROR';

/** One validation problem, as clients see it: where (field path, batch items by index) and why. */
export interface Issue {
  path: (string | number)[];
  message: string;
}

/** A failure of the vocabulary: a code, a message a client may read, and for bad input its issues. */
export class DomainError extends Error {
  override name = 'DomainError';
  readonly code: ErrorCode;
  /** For BAD_REQUEST: each problem, by field path. */
  readonly issues?: Issue[];
  /** For TOO_MANY_REQUESTS (and a 503 worth retrying): how long to wait, sent as `Retry-After`. */
  readonly retryAfterSeconds?: number;
  /**
   * The field names (camelCase) the message names, so that each surface can write them as its
   * wire does: REST says `room_number` where tRPC says `roomNumber`.
   */
  readonly fields?: readonly string[];

  constructor(
    code: ErrorCode,
    message: string,
    options: {
      issues?: Issue[];
      retryAfterSeconds?: number;
      cause?: unknown;
      fields?: readonly string[];
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options.issues) this.issues = options.issues;
    if (options.fields) this.fields = options.fields;
    if (options.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/**
 * Bad input at `path` (a field, or `[index, field]` in a batch): BAD_REQUEST carrying one issue,
 * reported exactly like a validation failure, so the message and `issues` name the item.
 */
export function badInput(path: (string | number)[], message: string): DomainError {
  return new DomainError('BAD_REQUEST', message, { issues: [{ path, message }] });
}

/** BAD_REQUEST about the request as a whole (no one field to blame). */
export function badRequest(message: string): DomainError {
  return new DomainError('BAD_REQUEST', message);
}

/** Not signed in, or the credentials are no longer valid. */
export function unauthorized(message = 'Sign in first'): DomainError {
  return new DomainError('UNAUTHORIZED', message);
}

/** Signed in, but this actor may not do this; `fields`: the field names the message names (see `DomainError.fields`). */
export function forbidden(message: string, fields?: readonly string[]): DomainError {
  return new DomainError('FORBIDDEN', message, fields ? { fields } : {});
}

/** The answer for anything absent or outside the caller's scope: the two are indistinguishable. */
export function notFound(what = 'Record'): DomainError {
  return new DomainError('NOT_FOUND', `${what} not found`);
}

/** True for a NOT_FOUND of the vocabulary (to answer it as another record's absence). */
export function isNotFound(error: unknown): boolean {
  return error instanceof DomainError && error.code === 'NOT_FOUND';
}

/** A duplicate: the record (or a unique value of it) exists already. */
export function conflict(message: string): DomainError {
  return new DomainError('CONFLICT', message);
}

/** A body or file over its limit. */
export function tooLarge(message: string): DomainError {
  return new DomainError('PAYLOAD_TOO_LARGE', message);
}

/** A body of a kind this endpoint does not take. */
export function unsupportedMediaType(message: string): DomainError {
  return new DomainError('UNSUPPORTED_MEDIA_TYPE', message);
}

/** Too many attempts: try again in `retryAfterSeconds` (at least 1, whole seconds). */
export function tooManyRequests(message: string, retryAfterSeconds: number): DomainError {
  return new DomainError('TOO_MANY_REQUESTS', message, {
    retryAfterSeconds: Math.max(1, Math.ceil(retryAfterSeconds)),
  });
}

/** The database cannot be reached or did not answer in time; or a resource is briefly unavailable. */
export function unavailable(message = 'Database unavailable', cause?: unknown): DomainError {
  return new DomainError('SERVICE_UNAVAILABLE', message, { cause });
}

/** An unexpected failure: its details stay on the server (`cause`), the client reads only this. */
export function internal(cause: unknown): DomainError {
  return new DomainError('INTERNAL_SERVER_ERROR', 'Internal server error', { cause });
}

/**
 * Anything thrown, as the vocabulary: ours pass through, a zod failure is BAD_REQUEST with its
 * issues, an unreachable, stalled or busy database SERVICE_UNAVAILABLE (`Retry-After: 1`), a duplicate CONFLICT, a
 * dangling reference or a model validation BAD_REQUEST; anything else an internal error.
 */
export function toDomainError(error: unknown): DomainError {
  if (error instanceof DomainError) return error;
  if (error instanceof ZodError) {
    const issues = flattenIssues(error.issues);
    return new DomainError('BAD_REQUEST', describeIssues(issues), { issues, cause: error });
  }
  switch (databaseFailureOf(error)) {
    case 'unavailable':
      // Unreachable, stalled, or busy past the transaction's retries (a deadlock or Galera
      // certification conflict, a cluster node not ready): worth retrying in a second.
      return new DomainError('SERVICE_UNAVAILABLE', 'Database unavailable', {
        cause: error,
        retryAfterSeconds: 1,
      });
    case 'duplicate':
      return new DomainError('CONFLICT', 'A record with these values already exists', { cause: error });
    case 'reference':
      return new DomainError('BAD_REQUEST', 'A referenced record does not exist', { cause: error });
    case 'invalid':
      return new DomainError('BAD_REQUEST', (error as Error).message, { cause: error });
    default:
      return internal(error);
  }
}

/**
 * Zod's issues, with unions opened up: for "one object or an array of them", the branch that
 * matches the input's shape is the one whose issues are worth showing (e.g. `[3].name`); unknown
 * keys (zod names them all at the object's path) become one issue per key, at the key's path.
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
    if (issue.code === 'unrecognized_keys') {
      // zod reports them together at the object's path; each is named where it was sent.
      return issue.keys.map((key) => ({
        path: [...issue.path, key],
        message: 'is not a field of this input (check its spelling; unknown fields are refused)',
      }));
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

/** What a client is told of an error: the message, and for bad input the issues; never internals. */
export function publicError(error: DomainError): { message: string; issues?: Issue[] } {
  if (error.code === 'INTERNAL_SERVER_ERROR') return { message: 'Internal server error' };
  return error.issues
    ? { message: describeIssues(error.issues), issues: error.issues }
    : { message: error.message };
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
