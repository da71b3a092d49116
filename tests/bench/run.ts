/**
 * `npm run bench [-- …]`: the list benchmark (`./bench.ts`); with `jobs` first
 * (`npm run bench -- jobs …`) the background jobs benchmark (`./jobs.ts`); with `events` first
 * the change-event delivery benchmark (`./events.ts`).
 */
if (process.argv[2] === 'jobs') await import('./jobs');
else if (process.argv[2] === 'events') await import('./events');
else await import('./bench');
export {};
