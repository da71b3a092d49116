// `npm run build` (server part): compiles the server, and the database layer it imports, to plain
// JavaScript in server/dist with esbuild: `index.js` (npm run start:prod), `worker.js` (the job
// worker threads; the dispatcher looks for it next to the running module), `migrate.js`,
// `admin.js` and `seed.js` (the operator commands, which server/scripts/run.mjs runs when tsx is
// absent), sharing chunks. npm packages stay external: they load from node_modules as installed
// (`npm ci --omit=dev` keeps every one of them); no TypeScript loader is needed at run time.
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const server = join(dirname(fileURLToPath(import.meta.url)), '..');
const root = join(server, '..');
/** `node server/scripts/build.mjs [outdir]`: server/dist by default. */
const outdir = process.argv[2] ?? join(server, 'dist');

rmSync(outdir, { recursive: true, force: true });
const result = await build({
  entryPoints: {
    index: join(server, 'src', 'index.ts'),
    worker: join(server, 'src', 'jobs', 'worker.ts'),
    migrate: join(server, 'src', 'migrate.ts'),
    admin: join(server, 'src', 'admin.ts'),
    seed: join(server, 'src', 'seed.ts'),
  },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  // The workspace's database layer is TypeScript source: compiled into the bundle.
  alias: { '@hdms/db': join(root, 'db', 'src', 'index.ts') },
  sourcemap: true,
  metafile: true,
  logLevel: 'warning',
});
const outputs = Object.keys(result.metafile.outputs).filter((file) => file.endsWith('.js'));
console.log(
  `built ${outputs.length} files into ${outdir} (entries: index.js, worker.js, migrate.js, admin.js, seed.js)`,
);
