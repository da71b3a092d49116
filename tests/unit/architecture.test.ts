import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The layering rules of docs/architecture.md, checked on the source: arrows point one way
 * (transports -> domain -> db), `db/` owns every query, one module creates TRPCError, worker
 * threads never load tRPC or Hono, and no module imports itself through a cycle (type imports
 * included).
 */

const root = resolve(import.meta.dirname, '../..');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

const files = [...sourceFiles(join(root, 'server/src')), ...sourceFiles(join(root, 'db/src'))];
const text = new Map(files.map((file) => [file, readFileSync(file, 'utf8')]));
const rel = (file: string) => relative(root, file);

/** Every module specifier a file imports or re-exports (type-only ones included). */
function specifiers(source: string): string[] {
  const found: string[] = [];
  const pattern =
    /(?:^|\n)\s*(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (const match of source.matchAll(pattern)) found.push((match[1] ?? match[2])!);
  return found;
}

/** The file a specifier names, for our own modules (`@hdms/db` is db/src/index.ts); else null. */
function resolveImport(from: string, specifier: string): string | null {
  if (specifier === '@hdms/db') return join(root, 'db/src/index.ts');
  if (!specifier.startsWith('.')) return null;
  const base = resolve(dirname(from), specifier).replace(/\.js$/, '');
  for (const candidate of [base, `${base}.ts`, join(base, 'index.ts')]) {
    if (text.has(candidate)) return candidate;
  }
  throw new Error(`${rel(from)} imports ${specifier}, which names no source file`);
}

const graph = new Map(
  files.map((file) => [
    file,
    specifiers(text.get(file)!).map((s) => ({ specifier: s, target: resolveImport(file, s) })),
  ]),
);

/** The files under `dir` that import something `bad` says no to, as `file -> specifier`. */
function importsOf(dir: string, bad: (specifier: string, target: string | null) => boolean): string[] {
  return files
    .filter((file) => rel(file).startsWith(dir))
    .flatMap((file) =>
      graph
        .get(file)!
        .filter(({ specifier, target }) => bad(specifier, target))
        .map(({ specifier }) => `${rel(file)} -> ${specifier}`),
    );
}

const under = (target: string | null, ...dirs: string[]) =>
  target !== null && dirs.some((dir) => rel(target).startsWith(dir));

describe('architecture', () => {
  it('has no import cycle in server/src and db/src, type imports included', () => {
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (file: string, path: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        cycles.push([...path.slice(path.indexOf(file)), file].map(rel).join(' -> '));
        return;
      }
      state.set(file, 'open');
      for (const { target } of graph.get(file)!) if (target) visit(target, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of files) visit(file, []);
    expect(cycles).toEqual([]);
  });

  it('imports Sequelize only in db/', () => {
    expect(importsOf('server/', (s) => s === 'sequelize' || s.startsWith('sequelize/'))).toEqual([]);
    expect(importsOf('client-sdk/', (s) => s === 'sequelize')).toEqual([]);
  });

  it('reaches no model, Sequelize instance or hand-written SQL from server code', () => {
    const reaches = files
      .filter((file) => rel(file).startsWith('server/'))
      .flatMap((file) =>
        [
          ...text
            .get(file)!
            .matchAll(/\.models\b|\.sequelize\b|\b(?:findPlain|insertPlain|selectRows|insertRows)\(/g),
        ].map((m) => `${rel(file)}: ${m[0]}`),
      );
    expect(reaches).toEqual([]);
  });

  it('creates TRPCError in one module only (server/src/errors.ts)', () => {
    const creators = files.filter((file) => /new TRPCError\b/.test(text.get(file)!)).map(rel);
    expect(creators).toEqual(['server/src/errors.ts']);
  });

  it('keeps the domain and the job runtime free of transports (worker threads never load tRPC or Hono)', () => {
    const transport = (specifier: string, target: string | null) =>
      specifier.startsWith('@trpc/') ||
      specifier === 'hono' ||
      specifier.startsWith('hono/') ||
      specifier.startsWith('@hono/') ||
      under(target, 'server/src/trpc/', 'server/src/rest/', 'server/src/http/') ||
      (target !== null && ['server/src/errors.ts', 'server/src/context.ts'].includes(rel(target)));
    expect(importsOf('server/src/domain/', transport)).toEqual([]);
    expect(importsOf('server/src/jobs/', transport)).toEqual([]);
    // What a worker thread loads, all the way down.
    const loaded = new Set<string>();
    const load = (file: string) => {
      if (loaded.has(file)) return;
      loaded.add(file);
      for (const { target } of graph.get(file)!) if (target) load(target);
    };
    load(join(root, 'server/src/jobs/worker.ts'));
    const reached = [...loaded].flatMap((file) =>
      graph
        .get(file)!
        .filter(({ specifier, target }) => transport(specifier, target))
        .map(({ specifier }) => `${rel(file)} -> ${specifier}`),
    );
    expect(reached).toEqual([]);
  });

  it('keeps db/ free of the server', () => {
    expect(importsOf('db/', (s, target) => s.startsWith('@hdms/server') || under(target, 'server/'))).toEqual(
      [],
    );
  });
});
