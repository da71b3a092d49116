import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';
import { type ErrorCode, publicError, toDomainError } from '../domain/errors';

/**
 * FHIR's error answer: an `OperationOutcome` with the HTTP status, built from the same error
 * vocabulary as tRPC and REST (`domain/errors.ts`), so a failure means the same on every surface.
 * It never carries internals: an unexpected error is `exception` / "Internal server error".
 */

/** FHIR's issue type codes HDMS uses. */
export type IssueCode = OperationOutcomeIssue['code'];

/** An OperationOutcome and the HTTP status it is sent with. */
export interface Outcome {
  status: number;
  body: OperationOutcome;
  /** Seconds to wait (a 429 or a retryable 503): sent as `Retry-After`. */
  retryAfter?: number;
}

/** One error issue as an OperationOutcome with its status: `outcome(404, 'not-found', 'Patient/7 not found')`. */
export function outcome(
  status: number,
  code: IssueCode,
  diagnostics: string,
  severity: OperationOutcomeIssue['severity'] = 'error',
): Outcome {
  return {
    status,
    body: { resourceType: 'OperationOutcome', issue: [{ severity, code, diagnostics }] },
  };
}

/** The HTTP status and FHIR issue code of each error of the vocabulary. */
const STATUS: Record<ErrorCode, [number, IssueCode]> = {
  BAD_REQUEST: [400, 'invalid'],
  UNAUTHORIZED: [401, 'login'],
  FORBIDDEN: [403, 'forbidden'],
  NOT_FOUND: [404, 'not-found'],
  CONFLICT: [409, 'conflict'],
  PRECONDITION_FAILED: [412, 'conflict'],
  PAYLOAD_TOO_LARGE: [413, 'too-long'],
  UNSUPPORTED_MEDIA_TYPE: [415, 'not-supported'],
  TOO_MANY_REQUESTS: [429, 'throttled'],
  SERVICE_UNAVAILABLE: [503, 'transient'],
  INTERNAL_SERVER_ERROR: [500, 'exception'],
};

/**
 * Anything thrown, as an OperationOutcome: a `DomainError`'s code gives the status and issue
 * code, its public message the diagnostics, and each validation issue its own issue with the
 * parameter it is about in `expression`.
 */
export function outcomeOf(thrown: unknown): Outcome {
  const error = toDomainError(thrown);
  const [status, code] = STATUS[error.code];
  const { message, issues } = publicError(error);
  const result = outcome(status, code, message);
  if (issues?.length) {
    result.body.issue = issues.map((i) => ({
      severity: 'error',
      code,
      diagnostics: i.message,
      ...(i.path.length ? { expression: [i.path.join('.')] } : {}),
    }));
  }
  if (error.retryAfterSeconds !== undefined) result.retryAfter = error.retryAfterSeconds;
  return result;
}
