// Rolls the SDK's declarations into one self-contained dist/index.d.ts. The server's types that
// procedures mention (views, Meta, Role, ...) are inlined; only the SDK's own packages stay imports.
import { dts } from 'rollup-plugin-dts';

const bare = (id) => !id.startsWith('.') && !id.startsWith('/');

export default {
  input: 'src/index.ts',
  output: { file: 'dist/index.d.ts', format: 'es' },
  // Workspace packages (@hdms/db) are inlined; everything else from node_modules stays an import,
  // which scripts/check-dts.mjs then rejects unless it is one the SDK depends on.
  external: (id) => bare(id) && !id.startsWith('@hdms/'),
  plugins: [
    dts({ respectExternal: true, tsconfig: 'tsconfig.json' }),
    {
      // rollup-plugin-dts keeps every module's side effects, such as the server's
      // `declare module 'lucia'` augmentation; a client needs only the declarations it uses.
      name: 'only-used-declarations',
      options: (options) => ({ ...options, treeshake: { ...options.treeshake, moduleSideEffects: false } }),
    },
  ],
};
