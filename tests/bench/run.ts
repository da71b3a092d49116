/**
 * `npm run bench [-- …]`:
 * - no sub-command (or `perf`): HDMS against a hand-written baseline on MySQL and SQLite, one
 *   table of server CPU per request, throughput, latency, /healthz under batch creates and memory
 *   (`./perf.ts`; `--scale` for the 1M-patient run; its options are listed at its top);
 * - `list`: paging through every patient with `patients.list` in-process, time per page and heap
 *   (`./bench.ts`);
 * - `jobs`: background job throughput and the event-loop delay during a large import (`./jobs.ts`);
 * - `events`: change-event delivery to subscribers (`./events.ts`);
 * - `access`: what loading a doctor's access facts (consents, emergency accesses) costs a request
 *   (`./access.ts`);
 * - `fhir`: FHIR search against `patients.list`, and bulk exports of 10,000 and 100,000 patients
 *   (resources/s, peak RSS) (`./fhir.ts`);
 * - `cluster`: HDMS on a 3-node Galera cluster behind HAProxy of its own, the writer killed
 *   (`./cluster.ts`);
 * - `profile <list|rest-list|get|create>`: a CPU profile of HDMS under that request alone (`./profile.ts`).
 */
const command = process.argv[2];
if (command === 'jobs') await import('./jobs');
else if (command === 'events') await import('./events');
else if (command === 'access') await import('./access');
else if (command === 'fhir') await import('./fhir');
else if (command === 'profile') await import('./profile');
else if (command === 'cluster') await import('./cluster');
else if (command === 'list') {
  // `./bench.ts` reads its options from process.argv and knows no sub-command.
  process.argv.splice(2, 1);
  await import('./bench');
} else await import('./perf');
export {};
