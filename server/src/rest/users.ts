import { ROLES } from '@hdms/db';
import { z } from 'zod';
import { linkInput } from '../domain/users/schemas';
import { instant, type RestRoute, restRoute } from './route';
import { callerFor, parseBody, pathId, readJson, restView, toCamel } from './util';

const userSchema = z.object({
  id: z.number().int(),
  username: z.string(),
  email: z.string(),
  role: z.enum(ROLES),
  doctorId: z.number().int().nullable(),
  patientId: z.number().int().nullable(),
  disabled: z.boolean(),
  createdAt: instant(),
});

/** The body: `linkInput` without the user, whom the path names. */
const linkBody = z.union([
  linkInput.options[0].omit({ userId: true }),
  linkInput.options[1].omit({ userId: true }),
]);

/** `POST /users/:id/link` with `{ doctor_id }` or `{ patient_id }`. */
export const usersRoutes: RestRoute[] = [
  restRoute({
    method: 'post',
    path: '/users/:id/link',
    summary: 'Link an account to its record',
    description:
      'A doctor account to a Doctor (`doctor_id`), a patient account to a Patient (`patient_id`); one record has at most one account.',
    access: 'admin',
    body: { json: linkBody },
    answers: { 200: { description: 'The account, linked', schema: userSchema } },
    errors: [400, 401, 403, 404, 409],
    handler: async (c) => {
      const userId = pathId(c);
      const body = toCamel(await readJson(c));
      const fields = body !== null && typeof body === 'object' && !Array.isArray(body) ? body : { body };
      const user = await callerFor(c).users.link(parseBody(linkInput, { ...fields, userId }));
      return c.json(restView(user, userSchema), 200);
    },
  }),
];
