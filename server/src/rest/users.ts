import type { Hono } from 'hono';
import type { AppEnv } from '../context';
import { callerFor, HttpError, readJson, rest, toCamel, toSnake } from './util';

/** `POST /users/:id/link` with `{ doctor_id }` or `{ patient_id }`. */
export function usersRoutes(app: Hono<AppEnv>): void {
  app.post(
    '/users/:id/link',
    rest(async (c) => {
      const raw = c.req.param('id') ?? '';
      const userId = Number(raw);
      if (!/^\d+$/.test(raw) || !Number.isSafeInteger(userId) || userId < 1) {
        throw new HttpError(400, 'The user id in the path must be a positive whole number');
      }
      const body = toCamel(await readJson(c));
      if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        throw new HttpError(400, 'Request body must be a JSON object: { "doctor_id" } or { "patient_id" }');
      }
      const user = await callerFor(c).users.link({ ...body, userId } as never);
      return c.json(toSnake(user), 200);
    }),
  );
}
