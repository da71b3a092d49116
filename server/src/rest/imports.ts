import type { IncomingMessage } from 'node:http';
import type { Context as HonoContext } from 'hono';
import { mayImportPatients, tierRefusal } from '../domain/access/policy';
import { type AppEnv, contextFromHono } from '../context';
import { forbidden, unsupportedMediaType } from '../domain/errors';
import { IMPORT_COLUMNS } from '../jobs/importCsv';
import { acceptPatientsImport } from '../domain/jobs/imports';
import { acceptedAnswer, type RestRoute, restRoute } from './route';
import { accepted, signedInActor } from './util';

const CSV_TYPE = /^text\/csv\s*(;|$)/i;
const CHARSET = /;\s*charset\s*=\s*"?([\w.:-]+)"?/i;

/**
 * The request body as it arrives. On the Node server it is read from the socket's own stream, left
 * open when reading stops early, so that a 413 can still drain it and answer (see `app.ts`).
 */
function bodyOf(c: HonoContext<AppEnv>): AsyncIterable<Uint8Array> | Iterable<Uint8Array> {
  const incoming = c.env?.incoming as IncomingMessage | undefined;
  if (incoming) return incoming.iterator({ destroyOnReturn: false });
  return (c.req.raw.body as AsyncIterable<Uint8Array> | null) ?? [];
}

/**
 * `POST /patients/import` (admin): a CSV file as the body (`Content-Type: text/csv`, UTF-8, up to
 * IMPORT_MAX_BYTES), streamed into the database as it arrives. 202 `{ message, job_id }`; follow
 * the `patients.import` job with `GET /jobs/:id`. The same as `patients.import`, for files larger
 * than a tRPC request may be.
 */
export const importsRoutes: RestRoute[] = [
  restRoute({
    method: 'post',
    path: '/patients/import',
    summary: 'Import patients from a CSV file',
    description:
      "The file is the body, streamed into the database as it arrives (UTF-8, up to IMPORT_MAX_BYTES, 50 MiB by default). Rows commit in batches; rejected rows are listed with their line numbers in the job's result.",
    access: 'admin',
    body: {
      csv: `A header row naming the columns ${IMPORT_COLUMNS.join(',')} (any order; name, age and gender required), then one patient per row`,
    },
    answers: {
      202: acceptedAnswer,
    },
    errors: [400, 401, 403, 413, 415],
    handler: async (c) => {
      const actor = signedInActor(c);
      if (!mayImportPatients(actor)) {
        throw forbidden(
          tierRefusal(actor, { roles: ['admin'], services: false }, undefined) ?? 'Only for admins',
        );
      }
      const type = c.req.header('content-type') ?? '';
      if (!CSV_TYPE.test(type)) {
        throw unsupportedMediaType(
          'Content-Type must be text/csv (for CSV text in JSON, use patients.import)',
        );
      }
      const charset = CHARSET.exec(type)?.[1];
      if (charset && !/^utf-?8$/i.test(charset)) {
        throw unsupportedMediaType(
          `The CSV must be UTF-8 (got charset=${charset.slice(0, 40)}); save it as "CSV UTF-8"`,
        );
      }
      const ctx = contextFromHono(c, (cookie) => c.header('Set-Cookie', cookie, { append: true }));
      const { jobId } = await acceptPatientsImport({ ...ctx, actor }, bodyOf(c), ctx.config.importMaxBytes);
      return accepted(c, jobId, 'Import accepted; follow it with GET /jobs/:id');
    },
  }),
];
