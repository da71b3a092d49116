import type { CapabilityStatementRestResourceOperation } from '@medplum/fhirtypes';
import type { Context as HonoContext, Hono } from 'hono';
import type { AppEnv } from '../../context';
import { mfaEnrollmentRefusal } from '../../domain/access/policy';
import type { Actor } from '../../domain/actor';
import { badRequest, forbidden, notFound, unauthorized } from '../../domain/errors';
import { fhirBaseOf, fhirHandler, sendFhir, sendOutcome } from '../http';
import { outcome } from '../outcome';
import {
  type BulkContext,
  bulkExportStatus,
  deleteBulkExport,
  openBulkFile,
  parseKickoff,
  requestBulkExport,
} from './export';
import { readableOf } from '../../lib/streams';

/**
 * FHIR Bulk Data v2 over HTTP (https://hl7.org/fhir/uv/bulkdata/export.html):
 *
 * - `GET  /fhir/R4/Patient/$export` (`Prefer: respond-async`): kick-off → 202, `Content-Location`;
 * - `GET  /fhir/R4/$export-status/<job>`: 202 with `X-Progress` and `Retry-After` while it runs,
 *   then 200 and the manifest; a failed export: 500 and its OperationOutcome;
 * - `DELETE /fhir/R4/$export-status/<job>`: cancels it (or deletes a finished one's files) → 202;
 * - `GET  /fhir/R4/$export-file/<job>/<file>`: one NDJSON file of the manifest.
 *
 * Only the requester reaches the status and files of an export: to anyone else they are 404,
 * exactly as a missing one.
 */

/** Seconds a client is asked to wait between two polls of a running export. */
const POLL_SECONDS = 2;

/** The paths, under the FHIR base. */
const KICKOFF = '/Patient/$export';
const STATUS = '/$export-status';
const FILE = '/$export-file';

/** The signed-in caller (401 / 403 as every procedure tier answers), as the bulk functions take it. */
function bulkCaller(c: HonoContext<AppEnv>): BulkContext {
  const services = c.get('services');
  const actor: Actor | null = c.get('actor');
  if (!actor) throw unauthorized(c.get('refusal') ?? undefined);
  const refusal = mfaEnrollmentRefusal(actor, services.config.mfaRequiredRoles, false);
  if (refusal) throw forbidden(refusal);
  return { db: services.db, config: services.config, actor, requestId: c.get('requestId'), ip: c.get('ip') };
}

/** A positive id from the path, or NOT_FOUND (a malformed id names no export). */
function idParam(c: HonoContext<AppEnv>, name: string): number {
  const text = c.req.param(name) ?? '';
  if (!/^[1-9]\d{0,9}$/.test(text) || Number(text) > 2_147_483_647) throw notFound('Export');
  return Number(text);
}

/** The `Prefer` header's tokens, lower-cased (`respond-async`, `handling=lenient`). */
function preferences(c: HonoContext<AppEnv>): Set<string> {
  const header = c.req.header('Prefer') ?? '';
  return new Set(
    header
      .split(/[,;]/)
      .map((p) =>
        p
          .trim()
          .toLowerCase()
          .replace(/\s*=\s*/, '='),
      )
      .filter(Boolean),
  );
}

/** What the FHIR app hands over: the Patient operations its CapabilityStatement lists. */
export interface BulkDeps {
  patientOperations: CapabilityStatementRestResourceOperation[];
}

/**
 * Mounts Bulk Data on the FHIR app (mounted at `/fhir/R4`) and lists `$export` in its
 * CapabilityStatement. Called by `fhir/app.ts` before its `:type/:id` routes, so that
 * `Patient/$export` is not read as a Patient id.
 */
export function registerBulkExport(app: Hono<AppEnv>, deps: BulkDeps): void {
  deps.patientOperations.push({
    name: 'export',
    definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export',
  });
  app.get(
    KICKOFF,
    fhirHandler(async (c) => {
      const ctx = bulkCaller(c);
      const prefer = preferences(c);
      if (!prefer.has('respond-async')) {
        throw badRequest(
          '$export runs asynchronously: send the header Prefer: respond-async (FHIR Bulk Data), then poll the Content-Location it answers',
        );
      }
      const url = new URL(c.req.url);
      const query: Record<string, string[]> = {};
      for (const name of new Set(url.searchParams.keys())) query[name] = url.searchParams.getAll(name);
      const params = parseKickoff(query, prefer.has('handling=lenient'));
      const base = fhirBaseOf(c).url;
      const jobId = await requestBulkExport(ctx, params, `${base}${KICKOFF}${url.search}`);
      const status = `${base}${STATUS}/${jobId}`;
      return sendFhir(
        c,
        202,
        outcome(202, 'informational', `Export accepted; poll ${status} for its progress`, 'information').body,
        { 'Content-Location': status },
      );
    }),
  );

  app.get(
    `${STATUS}/:job`,
    fhirHandler(async (c) => {
      const ctx = bulkCaller(c);
      const jobId = idParam(c, 'job');
      const state = await bulkExportStatus(ctx, jobId);
      if (state.status === 'in-progress') {
        c.header('X-Progress', state.progress);
        c.header('Retry-After', String(POLL_SECONDS));
        return c.body(null, 202);
      }
      if (state.status === 'failed') {
        return sendOutcome(c, outcome(500, 'exception', `The export failed: ${state.message}`));
      }
      const { result } = state;
      const base = fhirBaseOf(c).url;
      const fileUrl = (fileId: number) => `${base}${FILE}/${jobId}/${fileId}`;
      const manifest = {
        transactionTime: result.transactionTime,
        request: result.request,
        requiresAccessToken: true,
        output: result.output.map((s) => ({ type: s.type, url: fileUrl(s.fileId), count: s.count })),
        error: result.errorFileId ? [{ type: 'OperationOutcome', url: fileUrl(result.errorFileId) }] : [],
      };
      c.header('Expires', new Date(result.expiresAt).toUTCString());
      return c.json(manifest, 200);
    }),
  );

  app.delete(
    `${STATUS}/:job`,
    fhirHandler(async (c) => {
      const ctx = bulkCaller(c);
      await deleteBulkExport(ctx, idParam(c, 'job'));
      return sendFhir(
        c,
        202,
        outcome(202, 'informational', 'Export cancelled and its files deleted', 'information').body,
      );
    }),
  );

  app.get(
    `${FILE}/:job/:file`,
    fhirHandler(async (c) => {
      const ctx = bulkCaller(c);
      const jobId = idParam(c, 'job');
      const fileText = c.req.param('file') ?? '';
      const fileId = /^[1-9]\d{0,9}$/.test(fileText) ? Number(fileText) : 0;
      const file = await openBulkFile(ctx, jobId, fileId);
      const body = readableOf(file.chunks);
      return c.body(body, 200, {
        'Content-Type': 'application/fhir+ndjson',
        'Content-Length': String(file.bytes),
      });
    }),
  );
}
