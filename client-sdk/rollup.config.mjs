// Rolls the SDK's declarations into one self-contained dist/index.d.ts. The server's types that
// procedures mention (views, Meta, Role, ...) are inlined; only the SDK's own packages stay imports.
//
// The input is the declarations `tsc -p tsconfig.build.json` wrote (the build's type check), not
// the .ts sources: rollup-plugin-dts then only joins .d.ts files instead of building a TypeScript
// program over the whole server (about 1 s instead of 18 s).
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dts } from 'rollup-plugin-dts';

const here = fileURLToPath(new URL('.', import.meta.url));
/** Where tsconfig.build.json writes the declarations: the repository's layout, from its root. */
const TYPES = join(here, 'node_modules', '.cache', 'dts');
const bare = (id) => !id.startsWith('.') && !id.startsWith('/');

export default {
  input: join(TYPES, 'client-sdk', 'src', 'index.d.ts'),
  output: {
    file: 'dist/index.d.ts',
    format: 'es',
    // @trpc/server's declarations name `Disposable` and `AsyncDisposable` (TypeScript's
    // esnext.disposable lib): with this reference a consumer's build passes with
    // `skipLibCheck: false` whatever its `lib` (a browser app has no @types/node to declare them).
    banner: '/// <reference lib="esnext.disposable" />',
  },
  // Workspace packages (@hdms/db) are inlined; everything else from node_modules stays an import,
  // which scripts/check-dts.mjs then rejects unless it is one the SDK depends on.
  external: (id) => bare(id) && !id.startsWith('@hdms/'),
  plugins: [
    {
      // `@hdms/<name>` is the workspace folder <name>, whose declarations tsc wrote next to the
      // server's (tsconfig.build.json maps the same names to the sources).
      name: 'workspace-declarations',
      resolveId(source) {
        const name = /^@hdms\/([\w.-]+)$/.exec(source)?.[1];
        if (!name) return null;
        const file = join(TYPES, name, 'src', 'index.d.ts');
        if (!existsSync(file)) this.error(`${source}: no ${file}; run tsc -p tsconfig.build.json first`);
        return file;
      },
    },
    dts({ respectExternal: true, tsconfig: 'tsconfig.build.json' }),
    {
      // rollup-plugin-dts keeps every module's side effects, such as the server's
      // `declare module 'lucia'` augmentation; a client needs only the declarations it uses.
      name: 'only-used-declarations',
      options: (options) => ({ ...options, treeshake: { ...options.treeshake, moduleSideEffects: false } }),
    },
    {
      // Only tsc's declarations may go in: a .ts source would be read as if it were one
      // (`const X = [...] as const` is no declaration) or make rollup-plugin-dts compile it.
      name: 'declarations-only',
      buildEnd(error) {
        if (error) return;
        const sources = [...this.getModuleIds()].filter(
          (id) => !this.getModuleInfo(id)?.isExternal && !id.endsWith('.d.ts'),
        );
        if (sources.length) {
          this.error(`not declarations from ${TYPES}: ${sources.map((id) => relative(here, id)).join(', ')}`);
        }
      },
    },
  ],
};
