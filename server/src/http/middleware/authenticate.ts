import type { MiddlewareHandler } from 'hono';
import { resolveCaller } from '../../auth/index';
import type { AppEnv, AppServices } from '../../context';
import { errorResponse } from '../../rest/util';

/** Options of `authenticate`. */
export interface AuthenticateOptions {
  /** The database and the session manager the credentials are checked against. */
  services: Pick<AppServices, 'db' | 'sessions'>;
}

/**
 * Sets `actor` and `refusal` from the request's credentials (`resolveCaller`: a bearer service or
 * session token, else the session cookie). Refuses no one: an unknown, expired or revoked
 * credential is `actor` null with the `refusal` the procedures answer UNAUTHORIZED with. A failure
 * to check (the database down) is answered as the REST endpoints answer errors (`errorResponse`).
 */
export function authenticate({ services }: AuthenticateOptions): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    try {
      const caller = await resolveCaller(services, {
        authorization: c.req.header('authorization'),
        cookie: c.req.header('cookie'),
      });
      c.set('actor', caller.actor);
      c.set('refusal', caller.refusal);
    } catch (error) {
      return errorResponse(c, error);
    }
    await next();
  };
}
