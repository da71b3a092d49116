import { JOB_STATUSES } from '@hdms/db';
import { z } from 'zod';
import { contextFromHono } from '../context';
import { openPatientExport } from '../domain/jobs/exports';
import { instant, type RestRoute, restRoute } from './route';
import { callerFor, pathId, restView, signedInActor } from './util';
import { readableOf } from '../lib/streams';

const jobSchema = z.object({
  id: z.number().int(),
  type: z.string().openapi({ description: 'patient.update, patients.import, patient.export, …' }),
  status: z.enum(JOB_STATUSES),
  attempts: z.number().int().openapi({ description: 'Runs started so far' }),
  maxAttempts: z.number().int(),
  progress: z
    .object({ done: z.number().int(), total: z.number().int() })
    .nullable()
    .openapi({ description: 'Work done of the total, as the job last reported it' }),
  result: z
    .unknown()
    .optional()
    .openapi({ description: 'Once succeeded: what the job answers (its type decides)' }),
  error: z.string().optional().openapi({ description: "The last failure's message" }),
  patientId: z.number().int().nullable(),
  createdBy: z.object({ type: z.string(), id: z.number().int(), name: z.string() }),
  createdAt: instant(),
  updatedAt: instant(),
  runAfter: instant().openapi({
    description: 'When it is (or was) due: its retry time while it waits for one',
  }),
  startedAt: instant().nullable(),
  finishedAt: instant().nullable(),
});

/** `GET /jobs/:id`, `GET /jobs/:id/result` (an export's document), `POST /jobs/:id/retry` and `/cancel`. */
export const jobsRoutes: RestRoute[] = [
  restRoute({
    method: 'post',
    path: '/jobs/:id/retry',
    summary: 'Retry a failed background job',
    description:
      'Queues a failed job again (an import resumes after its last committed batch). 409 if it has not failed, what it needs is no longer kept, or a later update of the same patient was accepted. Another user’s job answers 404 (admins may retry any job; audited).',
    access: 'whoever started it, admin',
    answers: { 200: { description: 'The job, queued again', schema: jobSchema } },
    errors: [400, 401, 404, 409],
    handler: async (c) => {
      const job = await callerFor(c).jobs.retry({ id: pathId(c) });
      return c.json(restView(job, jobSchema), 200);
    },
  }),
  restRoute({
    method: 'post',
    path: '/jobs/:id/cancel',
    summary: 'Cancel a queued or running background job',
    description:
      'Status `cancelled` at once; a cancelled import keeps its committed batches and counts them in its result. 409 once the job has finished. Another user’s job answers 404 (admins may cancel any job; audited).',
    access: 'whoever started it, admin',
    answers: { 200: { description: 'The cancelled job', schema: jobSchema } },
    errors: [400, 401, 404, 409],
    handler: async (c) => {
      const job = await callerFor(c).jobs.cancel({ id: pathId(c) });
      return c.json(restView(job, jobSchema), 200);
    },
  }),
  restRoute({
    method: 'get',
    path: '/jobs/:id',
    summary: 'A background job',
    description:
      'Its status, attempts, progress, and its result or error. Another user’s job answers 404 (admins see every job).',
    access: 'whoever started it, admin',
    answers: { 200: { description: 'The job', schema: jobSchema } },
    errors: [400, 401, 404],
    handler: async (c) => {
      const job = await callerFor(c).jobs.get({ id: pathId(c) });
      return c.json(restView(job, jobSchema), 200);
    },
  }),
  restRoute({
    method: 'get',
    path: '/jobs/:id/result',
    summary: 'Download a finished patient export',
    description:
      'The document a succeeded `patient.export` job wrote, as a JSON attachment: for the patient and their doctors only (assigned, or given consent; checked at every download, audited as a read of the patient); 404 for anyone else (emergency access included) and once it has expired.',
    access: 'the patient, their doctors (assigned, or given consent)',
    answers: {
      200: {
        description: 'The export document',
        contentType: 'application/json',
        schema: z.record(z.unknown()),
        headers: { 'Content-Disposition': 'attachment; filename="…"' },
      },
    },
    errors: [400, 401, 404],
    handler: async (c) => {
      const actor = signedInActor(c);
      const ctx = contextFromHono(c, () => undefined);
      const download = await openPatientExport({ ...ctx, actor }, pathId(c));
      const body = readableOf(download.chunks);
      return c.body(body, 200, {
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Disposition': `attachment; filename="${download.filename}"`,
        'Content-Length': String(download.bytes),
      });
    },
  }),
];
