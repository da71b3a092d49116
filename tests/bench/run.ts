/**
 * `npm run bench [-- …]`: the list benchmark (`./bench.ts`), or with `jobs` first
 * (`npm run bench -- jobs …`) the background jobs benchmark (`./jobs.ts`).
 */
if (process.argv[2] === 'jobs') await import('./jobs');
else await import('./bench');
export {};
