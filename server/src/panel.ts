import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, extname, relative, resolve, sep } from 'node:path';
import type { Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv } from './context';
import { appRouter } from './trpc/appRouter';
import { router } from './trpc/init';

/** Where the panel's browser code loads the Monaco editor from (our own route, never a CDN). */
const MONACO_ROUTE = '/panel/assets/monaco/vs';

/** The CDN address trpc-ui's bundle would load Monaco from; the served page points at `MONACO_ROUTE`. */
const MONACO_CDN = /https:\/\/cdn\.jsdelivr\.net\/npm\/monaco-editor@[^/"']+\/min\/vs/g;

const ASSET_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

const PANEL_META = {
  title: 'HDMS API',
  description:
    'Every tRPC procedure of this server. Sign in first: run **auth.login** with a username and ' +
    'password; the session cookie it sets authorizes the calls that follow. Alternatively, set an ' +
    '*Authorization* header with *Bearer* and the token under **Headers**.',
};

/** The directory holding Monaco's AMD build (`loader.js`, `editor/editor.main.js`), as installed with trpc-ui. */
function monacoDir(): string | null {
  try {
    const require = createRequire(import.meta.url);
    const fromTrpcUi = createRequire(require.resolve('trpc-ui'));
    const fromEditor = createRequire(fromTrpcUi.resolve('@monaco-editor/react'));
    return dirname(fromEditor.resolve('monaco-editor'));
  } catch {
    return null;
  }
}

type RouterRecord = Parameters<typeof router>[0];

/** What the panel reads of a procedure. */
interface ProcedureNode {
  (...args: unknown[]): unknown;
  _def: { inputs: unknown[]; meta?: { description?: string } };
}

/**
 * The panel's copy of a procedure that takes an array (`createMany`): trpc-ui's forms cannot hold
 * a top-level array (the page fails to render), so the copy shows no form, and its description
 * says how to call it. The copy is only rendered, never called.
 */
function arrayInputForPanel(node: ProcedureNode): ProcedureNode {
  if (!(node._def.inputs[0] instanceof z.ZodArray)) return node;
  const description = `${node._def.meta?.description ?? ''} Takes a JSON array: the panel cannot edit one, so call it from the SDK or over HTTP.`;
  return Object.assign((...args: unknown[]) => node(...args), {
    _def: { ...node._def, inputs: [], meta: { ...node._def.meta, description } },
  });
}

/** `record` without the routers that have no procedures (trpc-ui's page fails on an empty router). */
function withProcedures(record: RouterRecord): RouterRecord | null {
  const kept: RouterRecord = {};
  for (const [key, node] of Object.entries(record)) {
    const inner =
      typeof node === 'function'
        ? (arrayInputForPanel(node as unknown as ProcedureNode) as unknown as typeof node)
        : withProcedures(node as RouterRecord);
    if (inner) kept[key] = inner;
  }
  return Object.keys(kept).length ? kept : null;
}

/**
 * The panel's Content-Security-Policy: its own inline script (by hash) and scripts, styles,
 * fonts and workers from this server only; calls only to this server; nothing may frame it.
 * Monaco and trpc-ui set inline styles, hence `'unsafe-inline'` for styles (never for scripts);
 * trpc-ui validates its forms with ajv, which compiles each schema with `new Function`, hence
 * `'unsafe-eval'` (the page runs only its own hashed script and this server's files).
 */
function panelCsp(page: string): string {
  const hashes = [...page.matchAll(/<script>([\s\S]*?)<\/script>/g)].map(
    (m) => `'sha256-${createHash('sha256').update(m[1]!).digest('base64')}'`,
  );
  return [
    "default-src 'none'",
    `script-src 'self' 'unsafe-eval' ${hashes.join(' ')}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

let rendered: Promise<{ html: string; csp: string }> | null = null;

/** Renders the panel page once, on first use: same-origin tRPC URL, superjson, no CDN. */
function panelPage(): Promise<{ html: string; csp: string }> {
  rendered ??= import('trpc-ui').then(({ renderTrpcPanel }) => {
    const html = renderTrpcPanel(router(withProcedures(appRouter._def.record) ?? {}), {
      url: '/trpc',
      transformer: 'superjson',
      meta: PANEL_META,
    })
      .replace(MONACO_CDN, MONACO_ROUTE)
      .replace(/<title>[^<]*<\/title>/, '<title>HDMS API panel</title>');
    return { html, csp: panelCsp(html) };
  });
  rendered.catch(() => {
    rendered = null;
  });
  return rendered;
}

/**
 * Mounts the tRPC panel (trpc-ui) at `/panel` when enabled, with the editor assets it needs served
 * locally under `/panel/assets/`. When disabled nothing is mounted, so `/panel` is the usual 404.
 */
export function mountPanel(app: Hono<AppEnv>, enabled: boolean): void {
  if (!enabled) return;

  app.get('/panel', async (c) => {
    const { html, csp } = await panelPage();
    c.header('Content-Security-Policy', csp);
    return c.html(html);
  });

  const monaco = monacoDir();
  if (!monaco) return;
  app.get(`${MONACO_ROUTE}/*`, async (c) => {
    const file = resolve(monaco, `.${c.req.path.slice(MONACO_ROUTE.length)}`);
    const type = ASSET_TYPES[extname(file)];
    const inside = relative(monaco, file);
    if (!type || inside.startsWith('..') || inside.startsWith(sep)) return c.notFound();
    try {
      const { csp } = await panelPage();
      return c.body(await readFile(file), 200, { 'Content-Type': type, 'Content-Security-Policy': csp });
    } catch {
      return c.notFound();
    }
  });
}
