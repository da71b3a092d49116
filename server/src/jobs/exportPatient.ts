/**
 * Moved to `domain/jobs/exports.ts`; kept for `trpc/patients.ts` until it imports from there.
 */
export { requestPatientExport } from '../domain/jobs/exports';
