import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import type { Handler } from 'hono';
import { z } from 'zod';
import type { AppEnv } from '../context';

// `.openapi(…)` on zod schemas: the REST answers' schemas carry their documentation (a date's
// format, a description) to the OpenAPI document. It adds a method and changes no validation.
extendZodWithOpenApi(z);

/** One answer an endpoint gives: its meaning, and the JSON it sends (none for a 204). */
export interface RestAnswer {
  description: string;
  schema?: z.ZodTypeAny;
  /** A content type other than JSON (the document a download sends, say). */
  contentType?: string;
  headers?: Record<string, string>;
}

/**
 * One REST endpoint: where it is, what it takes, what it answers, and its handler. `rest/index.ts`
 * mounts every route from this one description, and `openapi.ts` documents it from the same one,
 * so the document cannot name an endpoint or a body the server does not have.
 */
export interface RestRoute {
  method: 'get' | 'post' | 'delete';
  /** Hono's path syntax (`/users/:id/link`). */
  path: string;
  /** Further paths answering the same way (`/check-history` for `/check_history`). */
  aliases?: readonly string[];
  summary: string;
  description?: string;
  /** Who may call it, in words (the document's `x-access`, and the start of its description). */
  access: string;
  /** The body it reads: JSON checked by a procedure's own schema (snake_case keys on the wire), or a CSV file. */
  body?: { json: z.ZodTypeAny; description?: string } | { csv: string };
  /** Query parameters, as the handler parses them. */
  query?: z.AnyZodObject;
  /** The success answers by status. */
  answers: Record<number, RestAnswer>;
  /** The error statuses it may answer besides the ones every endpoint may (see `openapi.ts`). */
  errors: readonly number[];
  handler: Handler<AppEnv>;
}

/** Declares a route (an identity function, for the type). */
export const restRoute = (route: RestRoute): RestRoute => route;

/** An instant in a REST answer: a `Date` in the view, an ISO 8601 string on the wire. */
export const instant = () => z.date().openapi({ format: 'date-time' });

/** `{ message, job_id }`: a background job accepted (202). */
export const acceptedSchema = z
  .object({ message: z.string(), jobId: z.number().int() })
  .openapi({ description: 'The job accepted; follow it with GET /jobs/{id}' });

/** The documented 202 of a route that queues a job: `{ message, job_id }` and `Location: /jobs/<id>`. */
export const acceptedAnswer = {
  description: 'Accepted',
  schema: acceptedSchema,
  headers: { Location: 'The job to follow: /jobs/{job_id}' },
};

/** Every REST error: `{ error }`, and for invalid input the `issues` with their paths. */
export const errorSchema = z
  .object({
    error: z.string().openapi({ description: 'What went wrong, in words' }),
    issues: z
      .array(
        z.object({
          path: z.string().openapi({ description: 'Where, e.g. `doctor_id` or `3.age` in a batch' }),
          message: z.string(),
        }),
      )
      .optional()
      .openapi({ description: 'Present for invalid input (400): one entry per problem' }),
  })
  .openapi('Error');
