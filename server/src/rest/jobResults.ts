import type { Hono } from 'hono';
import { type AppEnv, contextFromHono } from '../context';
import { unauthorized } from '../errors';
import { openPatientExport } from '../jobs/exportPatient';
import { pathId, rest } from './util';

/**
 * `GET /jobs/:id/result`: the document a finished `patient.export` job wrote, as a JSON
 * attachment, for the patient and their doctor only (checked at every download, audited as a read
 * of the patient); 404 for anyone else and once it has expired.
 */
export function jobResultsRoutes(app: Hono<AppEnv>): void {
  app.get(
    '/jobs/:id/result',
    rest(async (c) => {
      const actor = c.get('actor');
      if (!actor) throw unauthorized(c.get('refusal') ?? undefined);
      const ctx = contextFromHono(c, () => undefined);
      const download = await openPatientExport({ ...ctx, actor }, pathId(c));
      const chunks = download.chunks[Symbol.asyncIterator]();
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const next = await chunks.next();
          if (next.done) controller.close();
          else controller.enqueue(next.value);
        },
        async cancel() {
          await chunks.return?.(undefined);
        },
      });
      return c.body(body, 200, {
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Disposition': `attachment; filename="${download.filename}"`,
        'Content-Length': String(download.bytes),
      });
    }),
  );
}
