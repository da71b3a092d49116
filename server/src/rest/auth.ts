import type { Hono } from 'hono';
import type { AppEnv } from '../context';
import type { UserView } from '../views';
import { callerFor, readJson, rest, toSnake } from './util';

const publicUser = (user: UserView) => ({
  id: user.id,
  username: user.username,
  email: user.email,
  role: user.role,
});

/** `POST /register`, `POST /login`, `POST /logout`. */
export function authRoutes(app: Hono<AppEnv>): void {
  app.post(
    '/register',
    rest(async (c) => {
      const user = await callerFor(c).auth.register((await readJson(c)) as never);
      return c.json(publicUser(user), 201);
    }),
  );

  app.post(
    '/login',
    rest(async (c) => {
      const result = await callerFor(c).auth.login((await readJson(c)) as never);
      return c.json(
        toSnake({
          token: result.token,
          expiresAt: result.expiresAt.toISOString(),
          user: {
            ...publicUser(result.user),
            doctorId: result.user.doctorId,
            patientId: result.user.patientId,
          },
        }),
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
