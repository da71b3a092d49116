import type { MiddlewareHandler } from 'hono';
import { SESSION_COOKIE } from '../../auth/index';
import type { AppEnv } from '../../context';
import { type Ctx, isCsvImport } from '../request';

const JSON_TYPE = /^application\/([\w.+-]+\+)?json\s*(;|$)/i;
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Options of `unsafeRequests`. */
export interface UnsafeRequestsOptions {
  /** Origins besides this server's own whose pages may send the session cookie (ALLOWED_ORIGINS). */
  allowedOrigins: readonly string[];
}

/**
 * Unsafe requests (POST, PUT, PATCH, DELETE): a body must be JSON (a form cannot forge one; the
 * CSV import aside), else `415 {"error":"Content-Type must be application/json"}`; and a request
 * whose only credential is the session cookie must come from this server's pages or an allowed
 * origin, else 403 (CSRF). Safe methods and bearer-token requests pass untouched.
 */
export function unsafeRequests({ allowedOrigins }: UnsafeRequestsOptions): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!UNSAFE_METHODS.has(c.req.method)) return next();
    if (hasBody(c) && !JSON_TYPE.test(c.req.header('content-type') ?? '') && !isCsvImport(c)) {
      return c.json({ error: 'Content-Type must be application/json' }, 415);
    }
    if (cookieAuthenticated(c) && !fromAllowedOrigin(c, allowedOrigins)) {
      return c.json(
        {
          error: 'Cross-site request refused: sign-in cookies are accepted only from this server’s own pages',
        },
        403,
      );
    }
    return next();
  };
}

/** True when the request carries a body (a length above zero, or a chunked one). */
function hasBody(c: Ctx): boolean {
  const length = c.req.header('content-length');
  return (length !== undefined && length !== '0') || c.req.header('transfer-encoding') !== undefined;
}

/** The session cookie is this request's only credential (no `Authorization` header). */
function cookieAuthenticated(c: Ctx): boolean {
  if (c.req.header('authorization')) return false;
  const cookie = c.req.header('cookie') ?? '';
  return cookie.split(';').some((part) => part.trim().startsWith(`${SESSION_COOKIE}=`));
}

/**
 * A browser request from this server's own pages or a configured origin. `Origin` decides when
 * sent; else `Sec-Fetch-Site`; a request with neither comes from no browser page at all.
 */
function fromAllowedOrigin(c: Ctx, allowedOrigins: readonly string[]): boolean {
  const origin = c.req.header('origin');
  if (origin !== undefined) {
    if (allowedOrigins.includes(origin)) return true;
    try {
      return new URL(origin).host === c.req.header('host');
    } catch {
      return false;
    }
  }
  const site = c.req.header('sec-fetch-site');
  return site === undefined || site === 'same-origin' || site === 'none';
}
