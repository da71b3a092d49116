import type { CapabilityStatementRestResourceOperation } from '@medplum/fhirtypes';
import { type Context as HonoContext, Hono, type MiddlewareHandler } from 'hono';
import type { AppEnv } from '../context';
import { badRequest } from '../domain/errors';
import { registerBulkExport } from './bulk/routes';
import { capabilityStatement } from './capability';
import { fhirBaseOf, fhirHandler, sendFhir, sendOutcome } from './http';
import { etagOf, type HdmsResource, RESOURCE_TYPES, type ResourceType } from './mapping';
import { outcome } from './outcome';
import { parseSearch } from './params';
import { everything, readResource, searchResources } from './resources';

/**
 * The FHIR R4 API, mounted at `/fhir/R4` by `http/app.ts` after the app's own middleware (request
 * id, security headers, `Cache-Control: no-store`, body limits, credentials), so FHIR answers
 * carry them like every other answer. Read-only: `metadata`, read, search, `Patient/<id>/$everything`
 * and Bulk Data (`bulk/`); every answer `application/fhir+json`, every error an OperationOutcome.
 */

/** What the FHIR app hands the modules that mount routes on it (Bulk Data: `registerBulkExport`). */
export interface FhirDeps {
  /** Operations on Patient those modules add, for the CapabilityStatement (`$export`). */
  patientOperations: CapabilityStatementRestResourceOperation[];
}

/** The `_format` values HDMS answers (all of them JSON). */
const FORMATS = new Set(['json', 'application/json', 'application/fhir+json']);

/** True when an `Accept` header admits JSON (FHIR JSON, NDJSON, or anything). */
function acceptsJson(accept: string): boolean {
  return accept
    .split(',')
    .map((part) => part.split(';')[0]!.trim().toLowerCase())
    .some((type) => type === '' || type === '*/*' || type === 'application/*' || type.includes('json'));
}

/**
 * `_format` and `Accept`: JSON in any of its names is answered; XML or anything else is 406 with
 * an OperationOutcome saying what HDMS speaks.
 */
const negotiate: MiddlewareHandler<AppEnv> = async (c, next) => {
  const format = c.req.query('_format');
  if (format !== undefined && !FORMATS.has(format.split(';')[0]!.trim().toLowerCase())) {
    return sendOutcome(
      c,
      outcome(
        406,
        'not-supported',
        `_format=${format.slice(0, 60)} is not supported: HDMS answers FHIR JSON only (_format=json)`,
      ),
    );
  }
  const accept = c.req.header('accept');
  if (format === undefined && accept !== undefined && !acceptsJson(accept)) {
    return sendOutcome(
      c,
      outcome(
        406,
        'not-supported',
        'HDMS answers application/fhir+json only; send Accept: application/fhir+json',
      ),
    );
  }
  await next();
};

/** True when the client asked for lenient handling of unknown parameters (`Prefer: handling=lenient`). */
const lenient = (c: HonoContext<AppEnv>) => /\bhandling\s*=\s*lenient\b/i.test(c.req.header('prefer') ?? '');

/** A path parameter of the route. */
const param = (c: HonoContext<AppEnv>, name: string): string => c.req.param(name) ?? '';

/** The resource type named in the path, or null for a type HDMS does not serve. */
const typeOf = (name: string): ResourceType | null =>
  (RESOURCE_TYPES as readonly string[]).includes(name) ? (name as ResourceType) : null;

/** 404 for a type HDMS does not serve, naming the ones it does. */
const unknownType = (c: HonoContext<AppEnv>, name: string) =>
  sendOutcome(
    c,
    outcome(
      404,
      'not-supported',
      `Resource type ${name.slice(0, 60)} is not supported; HDMS serves ${RESOURCE_TYPES.join(', ')}`,
    ),
  );

/** A resource answer with its version headers. */
function sendResource(c: HonoContext<AppEnv>, resource: HdmsResource): Response {
  const headers: Record<string, string> = {};
  if (resource.meta?.versionId) headers.ETag = etagOf(resource.meta.versionId);
  if (resource.meta?.lastUpdated)
    headers['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
  return sendFhir(c, 200, resource, headers);
}

/** Builds the FHIR sub-application (`http/app.ts` mounts it at `/fhir/R4`). */
export function createFhirApp(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const deps: FhirDeps = { patientOperations: [] };
  const started = new Date();

  app.use('*', negotiate);

  app.get(
    '/metadata',
    fhirHandler((c) => sendFhir(c, 200, capabilityStatement(fhirBaseOf(c), started, deps.patientOperations))),
  );

  // Bulk Data first: `Patient/$export` is not a Patient id.
  registerBulkExport(app, deps);

  app.get(
    '/Patient/:id/$everything',
    fhirHandler(async (c) => {
      const unknown = [...new URL(c.req.url).searchParams.keys()].filter((k) => k !== '_format');
      if (unknown.length && !lenient(c)) {
        throw badRequest(
          `$everything takes no parameters here (got ${unknown.join(', ').slice(0, 100)}); send Prefer: handling=lenient to ignore them`,
        );
      }
      return sendFhir(c, 200, await everything(c, param(c, 'id')));
    }),
  );

  app.get(
    '/:type',
    fhirHandler(async (c) => {
      const type = typeOf(param(c, 'type'));
      if (!type) return unknownType(c, param(c, 'type'));
      const search = parseSearch(type, new URL(c.req.url).searchParams, lenient(c));
      return sendFhir(c, 200, await searchResources(c, type, search));
    }),
  );

  app.get(
    '/:type/:id',
    fhirHandler(async (c) => {
      const type = typeOf(param(c, 'type'));
      if (!type) return unknownType(c, param(c, 'type'));
      return sendResource(c, await readResource(c, type, param(c, 'id')));
    }),
  );

  app.all('*', (c) =>
    c.req.method === 'GET' || c.req.method === 'HEAD'
      ? sendOutcome(c, outcome(404, 'not-found', `No FHIR endpoint at ${c.req.path.slice(0, 200)}`))
      : sendOutcome(
          c,
          outcome(405, 'not-supported', `${c.req.method} is not supported: HDMS's FHIR API is read-only`),
        ),
  );
  return app;
}
