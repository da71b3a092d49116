import type { JobType } from './types';
import { eventsPruneJob } from './types/eventsPrune';
import { exportsPurgeJob } from './types/exportsPurge';
import { fhirExportJob } from './types/fhirExport';
import { patientExportJob } from './types/patientExport';
import { patientsImportJob } from './types/patientsImport';
import { patientUpdateJob } from './types/patientUpdate';
import { sessionsPurgeJob } from './types/sessionsPurge';
import { TEST_JOB_TYPES } from './types/testing';

/** Job types by name. */
export type JobRegistry = ReadonlyMap<string, JobType<unknown, unknown>>;

/** Every job type of HDMS, one module each under `jobs/types/`. */
const JOB_TYPES: JobType<unknown, unknown>[] = [
  patientUpdateJob,
  sessionsPurgeJob,
  patientsImportJob,
  patientExportJob,
  exportsPurgeJob,
  eventsPruneJob,
  fhirExportJob,
];

/** The registered job types; with `JOBS_TEST_TYPES=1`, the test-only `test.*` types too. */
export function jobRegistry(config: { jobs: { testTypes: boolean } }): JobRegistry {
  const types = config.jobs.testTypes ? [...JOB_TYPES, ...TEST_JOB_TYPES] : JOB_TYPES;
  return new Map(types.map((type) => [type.name, type]));
}
