import type { Context as HonoContext } from 'hono';
import type { AppEnv } from '../context';

/** The Hono context of one request of this app. */
export type Ctx = HonoContext<AppEnv>;

const CSV_TYPE = /^text\/csv\s*(;|$)/i;

/**
 * The one request that may exceed `MAX_BODY_BYTES` and need not be JSON: a CSV upload to
 * `POST /patients/import` (`text/csv`, up to IMPORT_MAX_BYTES), which its handler streams into the
 * database. A form cannot send `text/csv` either, so it is no easier to forge than JSON.
 */
export function isCsvImport(c: Ctx): boolean {
  return (
    c.req.method === 'POST' &&
    c.req.path === '/patients/import' &&
    CSV_TYPE.test(c.req.header('content-type') ?? '')
  );
}
