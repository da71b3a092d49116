// Fails the build when dist/index.d.ts is not self-contained: it may import only the packages a
// consumer installs with the SDK. Anything else means a server type leaked into a procedure's
// input or output (say a Sequelize model returned as is); the message names where it is used.
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? new URL('../dist/index.d.ts', import.meta.url);
const allowed = new Set(['@trpc/client', '@trpc/server', 'superjson']);
const text = readFileSync(file, 'utf8');
const lines = text.split('\n');

const references = [
  /\bfrom\s+['"]([^'"]+)['"]/g,
  /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  /\bimport\s+['"]([^'"]+)['"]/g,
  /\bdeclare\s+module\s+['"]([^'"]+)['"]/g,
  /\/\/\/\s*<reference\s+(?:types|path)\s*=\s*['"]([^'"]+)['"]/g,
];

/** The procedure (`router.procedure`) or declaration around line `index`, for the message. */
function whereIs(index) {
  const indent = (line) => line.length - line.trimStart().length;
  let depth = indent(lines[index]);
  const own = /^\s*([\w$]+)\??:/.exec(lines[index]);
  const path = own ? [own[1]] : [];
  for (let i = index - 1; i >= 0; i--) {
    const line = lines[i];
    if (!line.trim() || (depth > 0 && indent(line) >= depth) || (depth === 0 && indent(line) > 0)) continue;
    depth = indent(line);
    const key = /^\s*([\w$]+)\??:/.exec(line);
    if (key) path.unshift(key[1]);
    const declaration =
      /^(?:export\s+)?(?:declare\s+)?(?:interface|type|const|function|class)\s+([\w$]+)/.exec(line);
    if (declaration) {
      const procedure = path.filter((p) => !['input', 'output', 'meta', 'errorShape'].includes(p));
      if (declaration[1] === 'appRouter')
        return `procedure ${procedure.slice(0, 2).join('.')} (${path.join('.')})`;
      return `declaration ${declaration[1]}${path.length ? `.${path.join('.')}` : ''}`;
    }
  }
  return `line ${index + 1}`;
}

const problems = [];
for (const pattern of references) {
  for (const match of text.matchAll(pattern)) {
    const specifier = match[1];
    if (allowed.has(specifier)) continue;
    const line = text.slice(0, match.index).split('\n').length - 1;
    const statement = lines[line].trim();
    const names =
      /\{([^}]*)\}/.exec(statement)?.[1] ?? /import\s+\*\s+as\s+([\w$]+)/.exec(statement)?.[1] ?? '';
    const uses = [];
    for (const raw of names.split(',')) {
      const name = raw
        .trim()
        .replace(/^type\s+/, '')
        .split(/\s+as\s+/)
        .pop();
      if (!name) continue;
      const use = new RegExp(`\\b${name.replace(/\$/g, '\\$')}\\b`);
      lines.forEach((l, i) => {
        if (i !== line && use.test(l)) uses.push(`    ${name} in ${whereIs(i)}`);
      });
    }
    problems.push(
      `  '${specifier}' (line ${line + 1}: ${statement})${uses.length ? `\n${uses.join('\n')}` : ''}`,
    );
  }
}

if (problems.length > 0) {
  console.error(
    `dist/index.d.ts is not self-contained: it may import only ${[...allowed].join(', ')}, but it imports\n` +
      `${problems.join('\n')}\n` +
      'A procedure exposes a server-internal type: map it to a plain view with an explicit interface.',
  );
  process.exit(1);
}
console.log(`dist/index.d.ts is self-contained (imports only ${[...allowed].join(', ')})`);
