import type { Context as HonoContext, Handler } from 'hono';
import type { AppEnv } from '../context';
import { mfaEnrollmentRefusal, type Scope, type TierRule, tierRefusal } from '../domain/access/policy';
import { loadScope } from '../domain/access/scope';
import { recordRefusal } from '../domain/audit/record';
import type { DomainContext } from '../domain/context';
import { readSourceOf } from '../replicas';
import { forbidden, safeError, toDomainError, unauthorized } from '../domain/errors';
import type { FhirBase, ResourceType } from './mapping';
import { type Outcome, outcomeOf } from './outcome';

/**
 * The HTTP side of the FHIR API, shared by its read/search routes (`app.ts`) and Bulk Data
 * (`bulk/`): the base URL, answering `application/fhir+json`, errors as OperationOutcome, and
 * the caller admitted as the procedure tiers admit them.
 */

/** FHIR's JSON media type, as HDMS answers with it. */
export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

/** Where the FHIR API is mounted. */
export const FHIR_PATH = '/fhir/R4';

/**
 * The FHIR base of this request: `PUBLIC_URL` + `/fhir/R4`, or without PUBLIC_URL the address
 * the server listens on (`http://<HOST>:<port>`, the port this request arrived on).
 */
export function fhirBaseOf(c: HonoContext<AppEnv>): FhirBase {
  const { config } = c.get('services');
  let origin = config.publicUrl;
  if (!origin) {
    const port = c.env?.incoming?.socket?.localPort ?? config.port;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    origin = `http://${host}:${port}`;
  }
  return { url: `${origin}${FHIR_PATH}`, identifierSystem: config.fhirIdentifierSystem };
}

/** A FHIR JSON answer (`application/fhir+json`) with the given status and headers. */
export function sendFhir(
  c: HonoContext<AppEnv>,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  const response = new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': FHIR_JSON, ...headers },
  });
  c.res = response;
  return c.res;
}

/** An OperationOutcome answer (`Retry-After` when it has a wait). */
export function sendOutcome(c: HonoContext<AppEnv>, result: Outcome): Response {
  return sendFhir(
    c,
    result.status,
    result.body,
    result.retryAfter !== undefined ? { 'Retry-After': String(result.retryAfter) } : {},
  );
}

/** Anything a FHIR handler threw, as its OperationOutcome; an unexpected error is logged, never shown. */
export function sendError(c: HonoContext<AppEnv>, thrown: unknown): Response {
  const error = toDomainError(thrown);
  if (error.code === 'INTERNAL_SERVER_ERROR') {
    c.get('services').logger.error(
      { err: safeError(error.cause ?? error), reqId: c.get('requestId'), path: c.req.path },
      'FHIR handler failed',
    );
  }
  return sendOutcome(c, outcomeOf(error));
}

/** Wraps a FHIR handler so that every failure is an OperationOutcome with its status. */
export function fhirHandler(handler: Handler<AppEnv>): Handler<AppEnv> {
  return async (c, next) => {
    try {
      return await handler(c, next);
    } catch (error) {
      return sendError(c, error);
    }
  };
}

/**
 * Who may read each resource type, as the tRPC procedures behind it say: Patient as
 * `patients.get` (anyone signed in, services with patients:read), Practitioner as `doctors.get`
 * (doctors:read), Encounter as `checkHistory.list` (checkHistory:read); the clinical types as
 * `notes.list`: the patient's doctors and the patient, never admins or services (the domain
 * withholds clinical content from admins; FHIR answers them 403 for these types).
 */
export const TYPE_ACCESS: Record<ResourceType, TierRule & { scope?: Scope }> = {
  Patient: { roles: 'any', services: true, scope: 'patients:read' },
  Practitioner: { roles: 'any', services: true, scope: 'doctors:read' },
  Encounter: { roles: 'any', services: true, scope: 'checkHistory:read' },
  Condition: { roles: ['doctor', 'patient'], services: false },
  MedicationStatement: { roles: ['doctor', 'patient'], services: false },
  DocumentReference: { roles: ['doctor', 'patient'], services: false },
};

/** The domain context of a FHIR request: who reads, their scope, and the audit rows' procedure name. */
export type FhirReader = DomainContext;

/**
 * The caller of a FHIR interaction on `type`, admitted as the procedure tiers admit callers:
 * UNAUTHORIZED without valid credentials, FORBIDDEN for a role or service token the type is not
 * for (or an account that must enroll in MFA first); then its scope, loaded once for the request
 * (`loadScope`: consents and emergency accesses included). `procedure` names the interaction on
 * audit rows (`fhir.Patient.read`).
 */
export async function fhirReader(
  c: HonoContext<AppEnv>,
  type: ResourceType,
  procedure: string,
): Promise<FhirReader> {
  const services = c.get('services');
  const actor = c.get('actor');
  if (!actor) throw unauthorized(c.get('refusal') ?? undefined);
  const rule = TYPE_ACCESS[type];
  const refusal =
    tierRefusal(actor, rule, rule.scope) ??
    mfaEnrollmentRefusal(actor, services.config.mfaRequiredRoles, false);
  if (refusal) throw forbidden(refusal);
  return {
    db: services.db,
    config: services.config,
    logger: services.logger,
    actor,
    scope: await loadScope(services.db, actor),
    requestId: c.get('requestId'),
    ip: c.get('ip'),
    procedure,
    // Searches and reads go to a read replica as the procedures' do (README "Read replicas").
    reads: readSourceOf(
      services.db,
      actor.type === 'user' ? services.replicas : null,
      c.get('readAfter') ?? [],
    ),
  };
}

/**
 * Runs a read of one patient's data and, when it is refused (FORBIDDEN) or finds nothing
 * (NOT_FOUND), puts the attempt on the patient's audit trail as the procedures do.
 */
export async function auditedRefusal<T>(
  c: HonoContext<AppEnv>,
  procedure: string,
  patientId: number | null,
  read: () => Promise<T>,
): Promise<T> {
  try {
    return await read();
  } catch (error) {
    const code = toDomainError(error).code;
    if (patientId !== null && (code === 'FORBIDDEN' || code === 'NOT_FOUND')) {
      const services = c.get('services');
      await recordRefusal(
        {
          db: services.db,
          actor: c.get('actor'),
          requestId: c.get('requestId'),
          ip: c.get('ip'),
          procedure,
        },
        { patientId },
      ).catch((auditError: unknown) =>
        services.logger.error({ err: safeError(auditError), procedure }, 'could not audit a refused call'),
      );
    }
    throw error;
  }
}
