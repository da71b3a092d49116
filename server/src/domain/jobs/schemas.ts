import { JOB_STATUSES } from '@hdms/db';
import { z } from 'zod';
import { pageInput } from '../../lib/pagination';
import { idSchema } from '../../lib/schemas';

/** A job type's name, e.g. `patient.update`. */
const jobTypeName = z
  .string()
  .trim()
  .regex(/^[a-z][A-Za-z0-9]*(\.[a-z][A-Za-z0-9]*)*$/, 'must be a job type name such as patient.update')
  .max(64, 'must be at most 64 characters');

/** `jobs.get` input. */
export const jobGetInput = z.object({ id: idSchema }).strict();

/** `jobs.retry` and `jobs.cancel` input: the job's id. */
export const jobCommandInput = z.object({ id: idSchema }).strict();

/** `jobs.list` input: a keyset page (newest first), optionally only one type and one status. */
export const jobListInput = pageInput
  .extend({
    type: jobTypeName.optional(),
    status: z.enum(JOB_STATUSES, { message: `must be one of ${JOB_STATUSES.join(', ')}` }).optional(),
  })
  .strict();
