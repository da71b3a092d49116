import { ConnectionError, SequelizeValidationError, UniqueConstraintError } from '@hdms/db';
import { TRPCError } from '@trpc/server';
import { ForeignKeyConstraintError, TimeoutError } from 'sequelize';

/**
 * Turns what the database throws into the contract's errors: an unreachable database is
 * SERVICE_UNAVAILABLE, a duplicate CONFLICT, a dangling reference BAD_REQUEST. Anything else
 * stays an internal error whose details never leave the server.
 */
export function toTRPCError(error: unknown): TRPCError {
  if (error instanceof TRPCError) return error;
  if (error instanceof ConnectionError || error instanceof TimeoutError || isClosedPool(error)) {
    return new TRPCError({ code: 'SERVICE_UNAVAILABLE', message: 'Database unavailable', cause: error });
  }
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

/** Sequelize's error for a query after `close()`: the database is gone for this process. */
function isClosedPool(error: unknown): boolean {
  return error instanceof Error && /connection manager was closed/i.test(error.message);
}

/** The HTTP status of each tRPC error code, for the REST endpoints. */
export const HTTP_STATUS: Record<TRPCError['code'], number> = {
  PARSE_ERROR: 400,
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  PAYMENT_REQUIRED: 402,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_SUPPORTED: 405,
  TIMEOUT: 408,
  CONFLICT: 409,
  PRECONDITION_FAILED: 412,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNPROCESSABLE_CONTENT: 422,
  PRECONDITION_REQUIRED: 428,
  TOO_MANY_REQUESTS: 429,
  CLIENT_CLOSED_REQUEST: 499,
  INTERNAL_SERVER_ERROR: 500,
  NOT_IMPLEMENTED: 501,
  BAD_GATEWAY: 502,
  SERVICE_UNAVAILABLE: 503,
  GATEWAY_TIMEOUT: 504,
};

/** The answer for anything outside the caller's scope: indistinguishable from absence. */
export function notFound(what = 'Record'): TRPCError {
  return new TRPCError({ code: 'NOT_FOUND', message: `${what} not found` });
}

/**
 * What of an unexpected error may be logged: its name, message and stack. Database errors carry
 * the SQL and its parameters (possibly clinical values), which stay out of the logs.
 */
export function safeError(error: unknown): { name: string; message: string; stack?: string } {
  if (error instanceof Error) return { name: error.name, message: error.message, stack: error.stack };
  return { name: 'NonError', message: String(error) };
}
