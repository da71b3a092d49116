import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Database, Job, JobStatus, Role } from '@hdms/db';
import { createAccount } from '../../server/src/auth/index';
import { loadConfig } from '../../server/src/env';
import type { DispatcherOptions } from '../../server/src/jobs/dispatcher';
import { enqueueJob, type NewJob } from '../../server/src/jobs/queue';
import type { JobOwner } from '../../server/src/jobs/types';
import { createLogger } from '../../server/src/logger';
import { type RunningServer, startServer } from '../../server/src/server';
import { freshDatabase, type TestDatabase } from './db';

/** The admin of the job suites' servers. */
export const JOBS_ADMIN = { username: 'admin', password: 'admin-password-1', email: 'admin@example.org' };

/** A server started for the job suites, with the test-only job types registered. */
export interface JobsServer {
  url: string;
  db: Database;
  server: RunningServer;
  target: TestDatabase;
  /** Stops the server (graceful, `graceMs`); the database stays (see `target.drop`). */
  close(graceMs?: number): Promise<void>;
}

/**
 * Starts the real server with `JOBS_TEST_TYPES=1` on `target` (a fresh database of this project's
 * kind by default), with `env` on top. Several servers may share one target: that is two
 * instances on one database.
 */
export async function startJobsServer(
  env: Record<string, string> = {},
  options: { target?: TestDatabase; jobs?: DispatcherOptions | false } = {},
): Promise<JobsServer> {
  const target = options.target ?? (await freshDatabase());
  const config = loadConfig({
    PORT: '0',
    DATABASE_URL: target.url,
    ADMIN_USERNAME: JOBS_ADMIN.username,
    ADMIN_EMAIL: JOBS_ADMIN.email,
    ADMIN_PASSWORD: JOBS_ADMIN.password,
    LOG_LEVEL: 'silent',
    JOBS_TEST_TYPES: '1',
    WORKER_THREADS: '2',
    ...env,
  });
  const server = await startServer(config, createLogger(config.logLevel), { jobs: options.jobs });
  return {
    url: server.url,
    db: server.services.db,
    server,
    target,
    close: (graceMs = 1000) => server.close(graceMs),
  };
}

let accounts = 0;

/** Creates an account (optionally linked) and signs it in over REST; returns its id and token. */
export async function userWithToken(
  t: JobsServer,
  role: Role,
  links: { doctorId?: number; patientId?: number } = {},
): Promise<{ id: number; username: string; token: string }> {
  const username = `${role}_${process.pid}_${++accounts}`;
  const password = `pw-${username}-secret`;
  const user = await createAccount(t.db, { username, email: `${username}@example.org`, password, role });
  if (links.doctorId !== undefined || links.patientId !== undefined) {
    await t.db.models.User.update(
      { doctorId: links.doctorId ?? null, patientId: links.patientId ?? null },
      { where: { id: user.id } },
    );
  }
  return { id: user.id, username, token: await signInOverRest(t.url, username, password) };
}

/** Signs in with `POST /login`; returns the token. */
export async function signInOverRest(url: string, username: string, password: string): Promise<string> {
  const res = await fetch(`${url}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (res.status !== 200) throw new Error(`login of ${username} failed: ${res.status}`);
  return ((await res.json()) as { token: string }).token;
}

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
  const { id } = await db.transaction((tx) => enqueueJob(tx, { ...job, owner, requestId }));
  return { id, requestId };
}

/** Waits until job `id` has one of `statuses` (default: finished) and returns its row. */
export async function waitForJob(
  db: Database,
  id: number,
  statuses: JobStatus[] = ['succeeded', 'failed'],
  timeoutMs = 20_000,
): Promise<Job> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await db.models.Job.findByPk(id);
    if (job && statuses.includes(job.status)) return job;
    if (Date.now() > deadline) {
      throw new Error(`job ${id} is still ${job?.status ?? 'missing'} after ${timeoutMs} ms`);
    }
    await sleep(50);
  }
}

/** Waits until every job of `ids` has finished; returns them by id. */
export async function waitForJobs(
  db: Database,
  ids: number[],
  timeoutMs = 60_000,
): Promise<Map<number, Job>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const jobs = await db.models.Job.findAll({ where: { id: ids } });
    const open = jobs.filter((j) => j.status === 'queued' || j.status === 'running');
    if (jobs.length === ids.length && open.length === 0) return new Map(jobs.map((j) => [j.id, j]));
    if (Date.now() > deadline) throw new Error(`${open.length} of ${ids.length} jobs still unfinished`);
    await sleep(100);
  }
}

/** How many times a test job took effect: its audit rows (procedure = the test type's name). */
export async function effects(db: Database, requestId: string): Promise<number> {
  return db.models.AuditEvent.count({ where: { requestId, procedure: ['test.sleep', 'test.fail'] } });
}
