import type { NotFoundHandler } from 'hono';
import type { AppEnv } from '../../context';
import { REST_ROUTES } from '../../rest/index';

/** Options of `notFound`: which references this server serves, to point to them. */
export interface NotFoundOptions {
  /** `GET /docs` and `GET /openapi.json` are on (API_DOCS). */
  apiDocs: boolean;
  /** The tRPC panel at `/panel` is on (PANEL). */
  panel: boolean;
}

/** A REST path (`/users/:id/link`) as a pattern matching its concrete paths. */
const pattern = (path: string) =>
  new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:\w+/g, '[^/]+')}/?$`);

const ROUTES = REST_ROUTES.flatMap((route) =>
  [route.path, ...(route.aliases ?? [])].map((path) => ({
    method: route.method.toUpperCase(),
    regex: pattern(path),
  })),
);

/**
 * The answer for a path no route serves: 404 `{ error, docs?, openapi?, panel? }` saying what was
 * asked, which method the path takes if it is an endpoint asked with another one, and where the
 * endpoints are listed (when those pages are on). Paths under `/fhir/` are the FHIR surface's,
 * which answers its own errors (`OperationOutcome`): they get the plain `{ error }`.
 */
export function notFound({ apiDocs, panel }: NotFoundOptions): NotFoundHandler<AppEnv> {
  return (c) => {
    const path = c.req.path.length > 200 ? `${c.req.path.slice(0, 200)}…` : c.req.path;
    if (c.req.path.startsWith('/fhir/')) return c.json({ error: 'Not found' }, 404);
    const method = c.req.method;
    const methods = [...new Set(ROUTES.filter((r) => r.regex.test(c.req.path)).map((r) => r.method))];
    const where = [
      apiDocs ? 'the REST endpoints are listed at /docs (OpenAPI document: /openapi.json)' : null,
      panel ? 'the tRPC procedures at /panel' : null,
    ].filter((part) => part !== null);
    const error =
      methods.length > 0 && !methods.includes(method)
        ? `${method} ${path} is not an endpoint: this path takes ${methods.join(', ')}`
        : `${method} ${path} is not an endpoint of this server`;
    return c.json(
      {
        error: `${error}. ${where.length > 0 ? `${capitalize(where.join('; '))}.` : 'The README lists the endpoints (API overview).'} tRPC procedures are called at /trpc/<procedure>, e.g. /trpc/patients.list`,
        ...(apiDocs ? { docs: '/docs', openapi: '/openapi.json' } : {}),
        ...(panel ? { panel: '/panel' } : {}),
      },
      404,
    );
  };
}

const capitalize = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);
