import type { Hono } from 'hono';
import type { AppEnv } from '../context';
import { linkInput } from '../routers/users';
import { callerFor, parseBody, pathId, readJson, rest, toCamel, toSnake } from './util';

/** `POST /users/:id/link` with `{ doctor_id }` or `{ patient_id }`. */
export function usersRoutes(app: Hono<AppEnv>): void {
  app.post(
    '/users/:id/link',
    rest(async (c) => {
      const userId = pathId(c);
      const body = toCamel(await readJson(c));
      const fields = body !== null && typeof body === 'object' && !Array.isArray(body) ? body : { body };
      const user = await callerFor(c).users.link(parseBody(linkInput, { ...fields, userId }));
      return c.json(toSnake(user), 200);
    }),
  );
}
