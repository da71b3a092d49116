import type { MiddlewareHandler } from 'hono';
import { resolveCaller } from '../../auth/index';
import type { AppEnv, AppServices } from '../../context';
import { READ_AFTER_HEADER, sentPosition } from '../../replicas';
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
 * to check (the database down) is answered as the REST endpoints answer errors (`errorResponse`),
 * except on `/trpc`, where it is kept as `authFailure` for tRPC's context to throw, so that tRPC
 * clients get it in tRPC's shape (a 503 with `Retry-After`).
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
      c.set('readAfter', [caller.readAfter ?? null, sentPosition(c.req.header(READ_AFTER_HEADER))]);
    } catch (error) {
      if (!c.req.path.startsWith('/trpc/')) return errorResponse(c, error);
      c.set('actor', null);
      c.set('refusal', null);
      c.set('authFailure', error);
    }
    await next();
  };
}
