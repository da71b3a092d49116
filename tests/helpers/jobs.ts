import { randomUUID } from 'node:crypto';
import type { Database, Job, JobStatus } from '@hdms/db';
import { enqueueJob, type NewJob } from '../../server/src/jobs/queue';
import type { JobOwner } from '../../server/src/jobs/types';
import { waitFor } from './wait';

/*
 * Jobs in the database: enqueue one, wait for its state, count its effects. Servers for the job
 * suites are `startTestServer(env, { testJobs: true })` (`./server`).
 */

/** A doctor record with a patient of theirs, straight in the database. */
export async function doctorWithPatient(
  db: Database,
  age = 30,
): Promise<{ doctorId: number; patientId: number }> {
  const doctor = await db.models.Doctor.create({
    name: `Dr. ${randomUUID().slice(0, 8)}`,
    specialization: 'Jobs',
  });
  const patient = await db.models.Patient.create({
    name: 'Pat Jobs',
    age,
    gender: 'female',
    doctorId: doctor.id,
  });
  return { doctorId: doctor.id, patientId: patient.id };
}

/** Enqueues a job in a transaction of its own, as the test's `owner` (a system job by default). */
export async function enqueue<P>(
  db: Database,
  job: Omit<NewJob<P>, 'owner' | 'requestId'> & { owner?: JobOwner; requestId?: string },
): Promise<{ id: number; requestId: string }> {
  const requestId = job.requestId ?? randomUUID();
  const owner = job.owner ?? { type: 'system', id: 0, name: 'system' };
  const { id } = await db.transaction((tx) => enqueueJob(db, tx, { ...job, owner, requestId }));
  return { id, requestId };
}

/** Waits until job `id` has one of `statuses` (default: finished) and returns its row. */
export async function waitForJob(
  db: Database,
  id: number,
  statuses: JobStatus[] = ['succeeded', 'failed'],
  timeoutMs = 20_000,
): Promise<Job> {
  return waitFor(
    async () => {
      const job = await db.models.Job.findByPk(id);
      return job && statuses.includes(job.status) ? job : null;
    },
    { what: `job ${id} to be ${statuses.join(' or ')}`, timeoutMs },
  );
}

/** Waits until every job of `ids` has finished; returns them by id. */
export async function waitForJobs(
  db: Database,
  ids: number[],
  timeoutMs = 60_000,
): Promise<Map<number, Job>> {
  let open = ids.length;
  return waitFor(
    async () => {
      const jobs = await db.models.Job.findAll({ where: { id: ids } });
      open = ids.length - jobs.filter((j) => isFinished(j.status)).length;
      return open === 0 ? new Map(jobs.map((j) => [j.id, j])) : null;
    },
    { what: () => `${ids.length} jobs to finish (${open} unfinished)`, timeoutMs },
  );
}

/** How many times a test job took effect: its audit rows (procedure = the test type's name). */
export async function effects(db: Database, requestId: string): Promise<number> {
  return db.models.AuditEvent.count({ where: { requestId, procedure: ['test.sleep', 'test.fail'] } });
}

/** Whether a job's status (as the database or the API shows it) is a finished one. */
export function isFinished(status: string | undefined): boolean {
  return status === 'succeeded' || status === 'failed' || status === 'cancelled';
}
