// Fails the build when dist/index.d.ts is not self-contained: it may import only the packages a
// consumer installs with the SDK. Anything else means a server type leaked into a procedure's
// input or output (say a Sequelize model returned as is); the message names the declarations and
// the procedures it leaks through. Usage: node scripts/check-dts.mjs [file.d.ts]
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const file = process.argv[2] ?? fileURLToPath(new URL('../dist/index.d.ts', import.meta.url));
const allowed = new Set(['@trpc/client', '@trpc/server', 'superjson']);
/** The package a specifier names: `@trpc/server/unstable-core-do-not-import` is `@trpc/server`. */
const packageOf = (specifier) =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');
const text = readFileSync(file, 'utf8');
const lines = text.split('\n');

const references = [
  /\bfrom\s+['"]([^'"]+)['"]/g,
  /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  /\bimport\s+['"]([^'"]+)['"]/g,
  /\bdeclare\s+module\s+['"]([^'"]+)['"]/g,
  /\/\/\/\s*<reference\s+(?:types|path)\s*=\s*['"]([^'"]+)['"]/g,
];

const indent = (line) => line.length - line.trimStart().length;
const declarationIn = (line) =>
  /^(?:export\s+)?(?:declare\s+)?(?:abstract\s+)?(?:interface|type|const|function|class)\s+([\w$]+)/.exec(
    line,
  )?.[1];
const wordPattern = (names) =>
  new RegExp(`(?<![\\w$.])(?:${[...names].map((n) => n.replace(/\$/g, '\\$')).join('|')})(?![\\w$])`);

/** The procedure (`router.procedure`) around line `index`, with the path to the line. */
function procedureAt(index) {
  const path = [];
  let depth = Number.POSITIVE_INFINITY;
  for (let i = index; i >= 0 && depth > 0; i--) {
    const line = lines[i];
    if (!line.trim() || indent(line) >= depth) continue;
    depth = indent(line);
    const key = /^\s*([\w$]+)\??:/.exec(line);
    if (key) path.unshift(key[1]);
  }
  const procedure = path.filter((p) => !['input', 'output', 'meta', 'errorShape'].includes(p));
  return `${procedure.slice(0, 2).join('.')} (${path.join('.')})`;
}

// Top-level declarations and the lines they span.
const declarations = [];
lines.forEach((line, i) => {
  const name = indent(line) === 0 ? declarationIn(line) : undefined;
  if (name) {
    const last = declarations.at(-1);
    if (last) last.end = i;
    declarations.push({ name, start: i, end: lines.length });
  }
});

const imports = [];
for (const pattern of references) {
  for (const match of text.matchAll(pattern)) {
    // A tracked subscription's events are typed by @trpc/server itself (`TrackedEnvelope`), from
    // one of its subpaths: still the peer dependency a consumer installs.
    if (allowed.has(packageOf(match[1]))) continue;
    const line = text.slice(0, match.index).split('\n').length - 1;
    const statement = lines[line].trim();
    const list = /\{([^}]*)\}/.exec(statement)?.[1] ?? /\*\s+as\s+([\w$]+)/.exec(statement)?.[1] ?? '';
    const names = list
      .split(',')
      .map((raw) =>
        raw
          .trim()
          .replace(/^type\s+/, '')
          .split(/\s+as\s+/)
          .pop(),
      )
      .filter(Boolean);
    imports.push({ specifier: match[1], line, statement, names });
  }
}

if (imports.length > 0) {
  // Every declaration that uses a foreign name, directly or through another such declaration.
  const foreign = new Set(imports.flatMap((i) => i.names));
  const tainted = new Set();
  let grown = foreign.size > 0;
  while (grown) {
    grown = false;
    const uses = wordPattern([...foreign, ...tainted]);
    for (const d of declarations) {
      if (d.name === 'appRouter' || tainted.has(d.name)) continue;
      const body = lines.slice(d.start, d.end).join('\n').replace(declarationIn(lines[d.start]), '');
      if (uses.test(body)) {
        tainted.add(d.name);
        grown = true;
      }
    }
  }
  const procedures = new Set();
  const router = declarations.find((d) => d.name === 'appRouter');
  if (router && foreign.size + tainted.size > 0) {
    const uses = wordPattern([...foreign, ...tainted]);
    for (let i = router.start + 1; i < router.end; i++) {
      if (uses.test(lines[i])) procedures.add(procedureAt(i));
    }
  }
  console.error(
    [
      `${file} is not self-contained: it may import only ${[...allowed].join(', ')}, but it imports`,
      ...imports.map((i) => `  '${i.specifier}' (line ${i.line + 1}: ${i.statement})`),
      `Declarations that use them: ${[...tainted].join(', ') || '(none)'}`,
      `Procedures whose input or output reaches them: ${procedures.size ? '' : '(none)'}`,
      ...[...procedures].map((p) => `  ${p}`),
      'Map what the procedure returns to a plain object with an explicit, exported interface.',
    ].join('\n'),
  );
  process.exit(1);
}
console.log(`${file} is self-contained (imports only ${[...allowed].join(', ')})`);
