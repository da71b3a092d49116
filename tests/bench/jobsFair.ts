import { createTRPCClient, httpLink } from '@trpc/client';
import superjson from 'superjson';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAccount } from '../../server/src/auth/index';
import { loadConfig } from '../../server/src/env';
import { createLogger } from '../../server/src/logger';
import { startServer } from '../../server/src/server';
import type { AppRouter } from '../../server/src/trpc/appRouter';

/*
 * The fair-queue parts of `npm run bench -- jobs`: the direct rate of `patients.update` (to set
 * beside the queue's), and a doctor's `updateAsync` behind queued imports.
 */

/** Signs in over HTTP; the session token. */
async function signIn(url: string, username: string, password: string): Promise<string> {
  const res = await fetch(`${url}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  return ((await res.json()) as { token: string }).token;
}

/** A tRPC client over HTTP. */
function client(url: string, token: string) {
  return createTRPCClient<AppRouter>({
    links: [
      httpLink({
        url: `${url}/trpc`,
        transformer: superjson,
        headers: () => ({ authorization: `Bearer ${token}` }),
      }),
    ],
  });
}

/**
 * Makes `count` updates of `patientIds` (round the list) directly with `patients.update` over
 * HTTP, `concurrency` at a time, as the admin; returns the seconds it took.
 */
export async function directUpdates(
  url: string,
  admin: { username: string; password: string },
  patientIds: number[],
  count: number,
  concurrency: number,
): Promise<number> {
  const api = client(url, await signIn(url, admin.username, admin.password));
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        await api.patients.update.mutate({ id: patientIds[i % patientIds.length]!, age: 20 + (i % 90) });
      }
    }),
  );
  return (performance.now() - started) / 1000;
}

/** What `benchFairQueue` measured. */
export interface FairQueueResult {
  dialect: string;
  imports: number;
  rows: number;
  /** From the doctor's `updateAsync` answer to its job's success. */
  seconds: number;
  /** Imports still queued or running when the update had succeeded. */
  unfinishedAfter: number;
}

/**
 * At WORKER_THREADS=1: queues `imports` CSV imports of `rows` rows each (one admin, within
 * BULK_JOBS_MAX_QUEUED_PER_ACCOUNT), waits until the first is running, then a doctor's
 * `updateAsync`, and times it until its job has succeeded.
 */
export async function benchFairQueue(options: {
  databaseUrl: string;
  imports: number;
  rows: number;
  log: (line: string) => void;
}): Promise<FairQueueResult> {
  const admin = {
    username: 'fair-admin',
    email: 'fair-admin@example.org',
    password: 'orchid-valley-sparrow-17',
  };
  const config = loadConfig({
    PORT: '0',
    DATABASE_URL: options.databaseUrl,
    LOG_LEVEL: 'silent',
    WORKER_THREADS: '1',
    ADMIN_USERNAME: admin.username,
    ADMIN_EMAIL: admin.email,
    ADMIN_PASSWORD: admin.password,
    BULK_JOBS_MAX_QUEUED_PER_ACCOUNT: String(Math.max(10, options.imports)),
  });
  const server = await startServer(config, createLogger('silent'));
  const { db } = server.services;
  try {
    const token = await signIn(server.url, admin.username, admin.password);
    const doctorRow = await db.models.Doctor.create({ name: 'Dr. Fair', specialization: 'Queues' });
    const patient = await db.models.Patient.create({
      name: 'Fair',
      age: 30,
      gender: 'F',
      doctorId: doctorRow.id,
    });
    const doctorUser = await createAccount(db, {
      username: 'fair-doctor',
      email: 'fair-doctor@example.org',
      password: 'copper-meadow-falcon-88',
      role: 'doctor',
    });
    await db.models.User.update({ doctorId: doctorRow.id }, { where: { id: doctorUser.id } });
    const doctor = client(server.url, await signIn(server.url, 'fair-doctor', 'copper-meadow-falcon-88'));

    const lines = ['name,age,gender'];
    for (let i = 0; i < options.rows; i++) lines.push(`Fair ${i},${i % 100},f`);
    const csv = lines.join('\n');
    const ids: number[] = [];
    for (let i = 0; i < options.imports; i++) {
      const res = await fetch(`${server.url}/patients/import`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' },
        body: csv,
      });
      if (res.status !== 202) throw new Error(`import ${i} answered ${res.status}`);
      ids.push(((await res.json()) as { job_id: number }).job_id);
    }
    options.log(`fair queue: ${options.imports} imports × ${options.rows} rows queued on ${db.dialect}`);
    while ((await db.models.Job.count({ where: { id: ids, status: 'running' } })) === 0) await sleep(5);

    const started = performance.now();
    const { jobId } = await doctor.patients.updateAsync.mutate({ id: patient.id, age: 31 });
    for (;;) {
      const job = await db.models.Job.findByPk(jobId, { attributes: ['status'] });
      if (job?.status === 'succeeded') break;
      if (job?.status === 'failed') throw new Error('the update failed');
      await sleep(2);
    }
    const seconds = (performance.now() - started) / 1000;
    const row = await db.models.Job.findByPk(jobId);
    if (row?.startedAt && row.finishedAt) {
      options.log(
        `the update: claimed ${row.startedAt.getTime() - row.createdAt.getTime()} ms after it was queued, finished ${row.finishedAt.getTime() - row.startedAt.getTime()} ms after that`,
      );
    }
    const unfinishedAfter = await db.models.Job.count({ where: { id: ids, status: ['queued', 'running'] } });
    return { dialect: db.dialect, imports: options.imports, rows: options.rows, seconds, unfinishedAfter };
  } finally {
    await server.close(1_000);
  }
}
