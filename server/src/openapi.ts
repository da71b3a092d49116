import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  OpenAPIRegistry,
  OpenApiGeneratorV31,
  type ResponseConfig,
  type RouteConfig,
} from '@asteasolutions/zod-to-openapi';
import type { Hono } from 'hono';
import { z } from 'zod';
import { SESSION_COOKIE } from './auth/index';
import type { AppEnv } from './context';
import { FHIR_OPENAPI_PATHS } from './fhir/openapi';
import { REST_ROUTES } from './rest/index';
import { healthRoute } from './rest/health';
import { errorSchema, type RestRoute } from './rest/route';
import { snake } from './lib/keys';

/** The error statuses any endpoint may answer, besides its own. */
const COMMON_ERRORS: Record<number, string> = {
  400: 'Invalid input: `issues` lists each problem with its path',
  401: 'Not signed in, or the session or token has ended',
  403: 'Signed in, but not allowed',
  404: 'Not found, or outside your scope (answered the same way)',
  409: 'A duplicate (username, email, link)',
  413: 'The body is larger than allowed',
  415: 'The body is not of the content type this endpoint reads',
  429: 'Too many attempts: retry after `Retry-After` seconds',
  503: 'The database is unavailable: retry later',
};

/** The endpoints that are not JSON APIs, documented by their answer alone. */
const OTHER_PATHS: RouteConfig[] = [
  {
    method: 'get',
    path: '/openapi.json',
    summary: 'This document',
    tags: ['Documentation'],
    responses: { 200: { description: 'OpenAPI 3.1', content: { 'application/json': { schema: {} } } } },
  },
  {
    method: 'get',
    path: '/docs',
    summary: 'An HTML API reference of this document',
    tags: ['Documentation'],
    responses: { 200: { description: 'The page', content: { 'text/html': { schema: { type: 'string' } } } } },
  },
  {
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics',
    description:
      'With `Authorization: Bearer <METRICS_TOKEN>` when that is set; off in production unless METRICS=on.',
    tags: ['Operations'],
    responses: {
      200: {
        description: 'The Prometheus text format',
        content: { 'text/plain': { schema: { type: 'string' } } },
      },
      401: { description: 'The metrics token is missing or wrong' },
    },
  },
];

/** `/users/:id/link` as OpenAPI writes it: `/users/{id}/link`. */
const openApiPath = (path: string) => path.replace(/:(\w+)/g, '{$1}');

/** The tag an endpoint is listed under: its first path segment (`/jobs/{id}` under `jobs`). */
const tagOf = (path: string) => {
  const first = path.split('/')[1] ?? '';
  if (['register', 'login', 'logout'].includes(first)) return 'auth';
  if (first === 'update_patient') return 'patients';
  if (first === 'check-history') return 'check_history';
  return first === 'healthz' ? 'Operations' : first;
};

const errorAnswer = (status: number): ResponseConfig => ({
  description: COMMON_ERRORS[status] ?? 'Error',
  content: { 'application/json': { schema: errorSchema } },
});

function routeConfig(route: RestRoute, path: string): RouteConfig {
  const responses: Record<number, ResponseConfig> = {};
  for (const [status, answer] of Object.entries(route.answers)) {
    responses[Number(status)] = {
      description: answer.description,
      headers: answer.headers
        ? Object.fromEntries(
            Object.entries(answer.headers).map(([name, description]) => [
              name,
              { description, schema: { type: 'string' } },
            ]),
          )
        : undefined,
      content: answer.schema
        ? { [answer.contentType ?? 'application/json']: { schema: answer.schema } }
        : undefined,
    };
  }
  const errors = route.access === 'anyone' ? route.errors : [...new Set([401, ...route.errors])];
  for (const status of [...errors, 503]) responses[status] ??= errorAnswer(status);

  const params = [...path.matchAll(/:(\w+)/g)].map((m) => m[1]!);
  const body = route.body;
  return {
    method: route.method,
    path: openApiPath(path),
    summary: route.summary,
    description: [`**Who:** ${route.access}.`, route.description].filter(Boolean).join(' '),
    tags: [tagOf(path)],
    security: route.access === 'anyone' ? [] : [{ bearer: [] }, { cookie: [] }],
    request: {
      params: params.length
        ? z.object(
            Object.fromEntries(
              params.map((name) => [
                name,
                z.string().openapi({ pattern: '^[1-9][0-9]*$', description: 'A positive whole number' }),
              ]),
            ),
          )
        : undefined,
      query: route.query,
      body: !body
        ? undefined
        : 'csv' in body
          ? { required: true, description: body.csv, content: { 'text/csv': { schema: z.string() } } }
          : {
              required: true,
              description: body.description,
              content: { 'application/json': { schema: body.json } },
            },
    },
    responses,
  };
}

/**
 * REST's snake_case, applied to a generated document: the procedures' schemas name fields in
 * camelCase and the REST layer renames them on the way in and out (`rest/util.ts`), so every
 * schema's `properties` and `required` are renamed the same way here.
 */
function snakeCaseSchemas(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(snakeCaseSchemas);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'properties' && value && typeof value === 'object' && !Array.isArray(value)) {
      out[key] = Object.fromEntries(
        Object.entries(value).map(([name, schema]) => [snake(name), snakeCaseSchemas(schema)]),
      );
    } else if (key === 'required' && Array.isArray(value)) {
      out[key] = value.map((name) => (typeof name === 'string' ? snake(name) : name));
    } else {
      out[key] = snakeCaseSchemas(value);
    }
  }
  return out;
}

let built: string | null = null;

function openApiText(): string {
  if (built) return built;
  const registry = new OpenAPIRegistry();
  registry.register('Error', errorSchema);
  registry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: 'A session token from POST /login, or a service token',
  });
  registry.registerComponent('securitySchemes', 'cookie', {
    type: 'apiKey',
    in: 'cookie',
    name: SESSION_COOKIE,
    description: 'The HttpOnly cookie POST /login sets, for browsers',
  });
  for (const route of [healthRoute, ...REST_ROUTES]) {
    for (const path of [route.path, ...(route.aliases ?? [])])
      registry.registerPath(routeConfig(route, path));
  }
  for (const other of [...OTHER_PATHS, ...FHIR_OPENAPI_PATHS]) registry.registerPath(other);

  const document = new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'HDMS REST API',
      version: '0.1.0',
      description:
        'The REST endpoints of HDMS (snake_case JSON) and its FHIR R4 API (`/fhir/R4`, FHIR JSON). Every tRPC procedure is at `/trpc/<router>.<procedure>` and in the tRPC panel at `/panel`; the typed client is `@hdms/client`.',
    },
    servers: [{ url: '/' }],
  });
  built = JSON.stringify(snakeCaseSchemas(document));
  return built;
}

/** The API reference page: Swagger UI from this server's own files, started by `docs.js`. */
const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>HDMS REST API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/docs.js"></script>
</body>
</html>
`;

/** Starts Swagger UI on this server's document; no validator badge (it would call swagger.io). */
const DOCS_SCRIPT = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
  withCredentials: true,
});
`;

/**
 * The docs page's Content-Security-Policy: scripts and styles from this server only (Swagger UI
 * sets inline styles, hence `'unsafe-inline'` for styles, never for scripts); calls only to this
 * server; nothing may frame it.
 */
export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

/** The Swagger UI files the page loads, from the installed `swagger-ui-dist`. */
const DOCS_ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
};

function swaggerUiDir(): string | null {
  try {
    return dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  } catch {
    return null;
  }
}

/**
 * `GET /openapi.json` and `GET /docs` (with its assets under `/docs/assets/`) when enabled
 * (API_DOCS; off in production unless set). When disabled nothing is mounted: the usual 404.
 */
export function mountApiDocs(app: Hono<AppEnv>, enabled: boolean): void {
  if (!enabled) return;
  app.get('/openapi.json', (c) =>
    c.body(openApiText(), 200, { 'Content-Type': 'application/json; charset=utf-8' }),
  );

  app.get('/docs', (c) => {
    c.header('Content-Security-Policy', DOCS_CSP);
    return c.html(DOCS_PAGE);
  });
  app.get('/docs/assets/docs.js', (c) =>
    c.body(DOCS_SCRIPT, 200, {
      'Content-Type': 'text/javascript; charset=utf-8',
      'Content-Security-Policy': DOCS_CSP,
    }),
  );
  const dir = swaggerUiDir();
  app.get('/docs/assets/:file', async (c) => {
    const file = c.req.param('file');
    const type = DOCS_ASSETS[file];
    if (!dir || !type) return c.notFound();
    return c.body(await readFile(join(dir, file)), 200, {
      'Content-Type': type,
      'Content-Security-Policy': DOCS_CSP,
    });
  });
}
