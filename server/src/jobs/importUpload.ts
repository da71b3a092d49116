/**
 * Moved to `domain/jobs/imports.ts`; kept for `trpc/patients.ts` until it imports from there.
 */
export { acceptPatientsImport } from '../domain/jobs/imports';
