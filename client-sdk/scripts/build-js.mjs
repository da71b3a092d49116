// Writes the SDK's JavaScript with esbuild: dist/index.js, the library (ESM, any runtime; the npm
// packages it imports stay imports), and dist/cli.js, the `hdms` command (Node, with a shebang and
// the SDK bundled in). They share no chunk: importing the library loads nothing of the command
// (commander, cli-progress, eventsource). Usage: node scripts/build-js.mjs [outdir] (default dist)
import { chmodSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = fileURLToPath(new URL('..', import.meta.url));
const outdir = resolve(process.argv[2] ?? join(here, 'dist'));
const common = { bundle: true, format: 'esm', packages: 'external', target: 'es2022', logLevel: 'warning' };

await Promise.all([
  build({
    ...common,
    entryPoints: [join(here, 'src/index.ts')],
    platform: 'neutral',
    outfile: join(outdir, 'index.js'),
  }),
  build({
    ...common,
    entryPoints: [join(here, 'src/cli/main.ts')],
    platform: 'node',
    target: 'node20',
    outfile: join(outdir, 'cli.js'),
    banner: { js: '#!/usr/bin/env node' },
  }),
]);
// npm makes a bin executable when it links it; a workspace's dist is built after that link.
chmodSync(join(outdir, 'cli.js'), 0o755);
