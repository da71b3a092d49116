import type { Hono } from 'hono';
import type { AppEnv } from '../context';
import { loginInput, registerInput } from '../routers/auth';
import { callerFor, parseBody, readJson, rest, restView } from './util';

const ACCOUNT_FIELDS = ['id', 'username', 'email', 'role'] as const;

/** `POST /register`, `POST /login`, `POST /logout`. */
export function authRoutes(app: Hono<AppEnv>): void {
  app.post(
    '/register',
    rest(async (c) => {
      const user = await callerFor(c).auth.register(parseBody(registerInput, await readJson(c)));
      return c.json(restView(user, ACCOUNT_FIELDS), 201);
    }),
  );

  app.post(
    '/login',
    rest(async (c) => {
      const result = await callerFor(c).auth.login(parseBody(loginInput, await readJson(c)));
      return c.json(
        {
          token: result.token,
          expires_at: result.expiresAt.toISOString(),
          user: restView(result.user, [...ACCOUNT_FIELDS, 'doctorId', 'patientId']),
        },
        200,
      );
    }),
  );

  app.post(
    '/logout',
    rest(async (c) => {
      await callerFor(c).auth.logout();
      return c.body(null, 204);
    }),
  );
}
