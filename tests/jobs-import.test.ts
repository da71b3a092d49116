import { request as httpRequest } from 'node:http';
import { randomUUID } from 'node:crypto';
import { Op, type Transaction } from '@hdms/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobFile, JobFileWriter } from '../server/src/jobs/importExportFiles';
import { LeaseLostError } from '../server/src/jobs/store';
import { IMPORT_BATCH_ROWS, patientsImportJob } from '../server/src/jobs/types/patientsImport';
import type { JobContext } from '../server/src/jobs/types';
import { callerFor, outcome } from './helpers/callers';
import { isFinished } from './helpers/jobs';
import {
  adminToken,
  http,
  signedInUser,
  type TestServer,
  startTestServer,
  trpcClient,
} from './helpers/server';
import { pause, waitFor } from './helpers/wait';

/*
 * CSV import (`patients.import`, `POST /patients/import`): uploads stored in the database, checked
 * and admitted by the `patients.import` job in batches, with rejected rows reported by line.
 * Fixtures are generated here.
 */

/** The upload limit of this suite's server: small enough to stream past it quickly. */
const LIMIT = 8 * 1024 * 1024;

let t: TestServer;
let admin: string;
let doctorId: number;

beforeAll(async () => {
  t = await startTestServer({ IMPORT_MAX_BYTES: String(LIMIT) });
  admin = await adminToken(t);
  doctorId = (await t.db.models.Doctor.create({ name: 'Dr. Import', specialization: 'General' })).id;
});

afterAll(async () => {
  await t?.close();
});

/** Uploads `csv` to `POST /patients/import` as text/csv. */
function upload(csv: string | Buffer, token = admin, type = 'text/csv') {
  return fetch(`${t.url}/patients/import`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': type },
    body: typeof csv === 'string' ? csv : new Uint8Array(csv),
  });
}

/** Polls `jobs.get` as `token` until the job has finished (or `timeoutMs` passes). */
async function finished(jobId: number, token = admin, timeoutMs = 30_000) {
  const client = trpcClient(t.url, token);
  return waitFor(
    async () => {
      const job = await client.jobs.get.query({ id: jobId });
      return isFinished(job.status) ? job : null;
    },
    { what: `job ${jobId} to finish`, timeoutMs },
  );
}

/** A unique prefix for the names of one test's patients. */
function tag(): string {
  return `imp-${randomUUID().slice(0, 8)}`;
}

function patientsNamed(prefix: string) {
  return t.db.models.Patient.findAll({
    where: { name: { [Op.like]: `${prefix}%` } },
    order: [['id', 'ASC']],
  });
}

describe('CSV import', () => {
  it('admits the valid rows and lists the rejected ones with their line numbers and reasons', async () => {
    const p = tag();
    const csv = [
      'name,age,gender,doctor_id,room_number,bed_number', // line 1
      `${p} Ann,40,female,${doctorId},12,A`, // 2
      `${p} Bob,200,male,,,`, // 3: age out of range
      `${p} Cid,31,,${doctorId},,`, // 4: gender missing
      '', // 5: empty, skipped
      `"${p} Dee, Jr.",7,female,999999,,`, // 6: unknown doctor
      `${p} Eve,x,female,,,`, // 7: age not a number
      `${p} Fay,50,female`, // 8: too few fields
      `"${p} Gus ""G""",60,male,,101,`, // 9: quotes, no doctor
    ].join('\r\n');
    const res = await upload(csv);
    expect(res.status).toBe(202);
    const body = (await res.json()) as { message: string; job_id: number };
    expect(body).toEqual({ message: expect.any(String), job_id: expect.any(Number) });

    const job = await finished(body.job_id);
    expect(job.status).toBe('succeeded');
    expect(job.type).toBe('patients.import');
    expect(job.progress).toEqual({ done: 7, total: 7 });
    expect(job.result).toEqual({
      rows: 7,
      imported: 2,
      rejected: 5,
      rejectedRows: [
        { line: 3, errors: ['age: Number must be less than or equal to 150'] },
        { line: 4, errors: ['gender: is required'] },
        { line: 6, errors: ['doctor_id: Doctor not found'] },
        { line: 7, errors: ['age: must be a whole number'] },
        { line: 8, errors: ['has 3 fields; the header has 6'] },
      ],
      rejectedRowsTruncated: false,
    });

    const admitted = await patientsNamed(p);
    expect(admitted.map((x) => [x.name, x.age, x.gender, x.doctorId, x.roomNumber, x.bedNumber])).toEqual([
      [`${p} Ann`, 40, 'female', doctorId, '12', 'A'],
      [`${p} Gus "G"`, 60, 'male', null, '101', null],
    ]);
    const audit = await t.db.models.AuditEvent.findAll({
      where: { procedure: 'patients.import', patientId: admitted.map((x) => x.id) },
    });
    expect(audit.map((a) => [a.action, a.actorName, a.actorRole])).toEqual([
      ['create', 'admin', 'admin'],
      ['create', 'admin', 'admin'],
    ]);
    // The upload is gone once the job has run.
    expect(await t.db.models.JobFile.count({ where: { jobId: body.job_id } })).toBe(0);
  });

  it('accepts CSV text through patients.import as well, with a byte order mark and any column order', async () => {
    const p = tag();
    const csv = `\ufeffGender, Name ,AGE\n` + `male,${p} One,1\nfemale,${p} Two,2\n`;
    const { jobId } = await callerFor(t, admin).patients.import({ csv });
    const job = await finished(jobId);
    expect(job.result).toMatchObject({ rows: 2, imported: 2, rejected: 0, rejectedRows: [] });
    expect((await patientsNamed(p)).map((x) => x.name)).toEqual([`${p} One`, `${p} Two`]);
  });

  it('names the line a record starts on, across quoted line breaks and line ending styles', async () => {
    const p = tag();
    const csv = `name,age,gender\r"${p}\nsplit",1,f\r\n${p} ok,2,f\n${p} bad,-1,f\n`;
    const { jobId } = await callerFor(t, admin).patients.import({ csv });
    const job = await finished(jobId);
    expect(job.result).toMatchObject({
      rows: 3,
      imported: 1,
      rejectedRows: [
        { line: 2, errors: ['name: must not contain control characters'] },
        { line: 5, errors: ['age: Number must be greater than or equal to 0'] },
      ],
    });
  });

  it('lists at most 1,000 rejected rows, and counts them all', async () => {
    const rows = Array.from({ length: 1_200 }, (_, i) => `bad ${i},not-a-number,f`);
    const { jobId } = await callerFor(t, admin).patients.import({
      csv: ['name,age,gender', ...rows].join('\n'),
    });
    const job = await finished(jobId);
    const result = job.result as {
      rejected: number;
      rejectedRows: { line: number }[];
      rejectedRowsTruncated: boolean;
    };
    expect(result.rejected).toBe(1_200);
    expect(result.rejectedRows).toHaveLength(1_000);
    expect(result.rejectedRows[999]!.line).toBe(1_001);
    expect(result.rejectedRowsTruncated).toBe(true);
  });

  // Issue 19: bad bytes in the first 64 KiB are refused at upload (tests/upload-encoding.test.ts);
  // these come after 64 KiB of good rows, so the upload is accepted and the job refuses the file.
  it('refuses a file that is not UTF-8 as a whole, naming the line, and admits nothing', async () => {
    const p = tag();
    const good = Array.from({ length: 3_000 }, (_, i) => `${p} R${i},1,f\n`).join('');
    expect(good.length).toBeGreaterThan(64 * 1024);
    const latin1 = Buffer.concat([
      Buffer.from(`name,age,gender\n${good}${p} A,1,f\n${p} Jos`),
      Buffer.from([0xe9]), // é in Latin-1
      Buffer.from(',2,m\n'),
    ]);
    const res = await upload(latin1);
    expect(res.status).toBe(202);
    const { job_id } = (await res.json()) as { job_id: number };
    const job = await finished(job_id);
    expect(job.status).toBe('failed');
    expect(job.attempts).toBe(1);
    expect(job.error).toMatch(/not UTF-8 text \(line 3003/);
    expect(await patientsNamed(p)).toEqual([]);
    expect(await t.db.models.JobFile.count({ where: { jobId: job_id } })).toBe(0);
  });

  it.each([
    ['an unknown column', 'name,age,gender,diagnosis\nA,1,f,flu\n', /Unknown column "diagnosis"/],
    ['missing required columns', 'name,doctor_id\nA,1\n', /Missing columns age, gender/],
    ['a column named twice', 'name,age,gender,Age\nA,1,f,2\n', /Column age named more than once/],
    ['an unclosed quote', 'name,age,gender\nA,1,f\n"B,2,f\n', /not valid CSV: Quote Not Closed/],
    ['no header at all', '\n\n', /The file is empty/],
  ])('refuses a file with %s as a whole, with a clear error', async (_, csv, error) => {
    const before = await t.db.models.Patient.count();
    const { jobId } = await callerFor(t, admin).patients.import({ csv });
    const job = await finished(jobId);
    expect(job.status).toBe('failed');
    expect(job.error).toMatch(error);
    expect(await t.db.models.Patient.count()).toBe(before);
  });

  it('answers 202 with an empty body refused as 400, and 415 for another content type or charset', async () => {
    expect((await upload('')).status).toBe(400);
    const json = await upload(JSON.stringify({ csv: 'name,age,gender' }), admin, 'application/json');
    expect(json.status).toBe(415);
    const latin = await upload('name,age,gender\n', admin, 'text/csv; charset=iso-8859-1');
    expect(latin.status).toBe(415);
    expect(await latin.json()).toEqual({ error: expect.stringMatching(/must be UTF-8/) });
    const form = await upload('name=x', admin, 'application/x-www-form-urlencoded');
    expect(form.status).toBe(415);
  });

  it('is for admins only', async () => {
    const doctor = await signedInUser(t, 'doctor', { doctorId });
    const res = await upload('name,age,gender\nA,1,f\n', doctor.token);
    expect(res.status).toBe(403);
    const anonymous = await fetch(`${t.url}/patients/import`, {
      method: 'POST',
      headers: { 'content-type': 'text/csv' },
      body: 'name,age,gender\n',
    });
    expect(anonymous.status).toBe(401);
    expect(
      (await outcome(callerFor(t, doctor.token).patients.import({ csv: 'name,age,gender\n' }))).code,
    ).toBe('FORBIDDEN');
  });

  it('keeps the cross-site check for cookie-authenticated uploads', async () => {
    const login = await http(t.url, 'POST', '/login', {
      body: { username: 'admin', password: 'harbour-lantern-42' },
    });
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const res = await fetch(`${t.url}/patients/import`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'text/csv', origin: 'https://evil.example' },
      body: 'name,age,gender\n',
    });
    expect(res.status).toBe(403);
  });
});

describe('upload limits', () => {
  /**
   * Sends `total` bytes to `POST /patients/import` as the admin, in 64 KiB writes, with a
   * Content-Length (or chunked when `declared` is null); resolves with the status and how long
   * the answer took, and stops sending once it has it.
   */
  function send(
    total: number,
    declared: number | null,
  ): Promise<{ status: number; ms: number; sent: number }> {
    return new Promise((resolve, reject) => {
      const started = performance.now();
      const url = new URL(`${t.url}/patients/import`);
      const headers: Record<string, string | number> = {
        authorization: `Bearer ${admin}`,
        'content-type': 'text/csv',
      };
      if (declared !== null) headers['content-length'] = declared;
      let sent = 0;
      let answered = false;
      const req = httpRequest(
        { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers },
        (res) => {
          answered = true;
          res.resume();
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, ms: performance.now() - started, sent }),
          );
        },
      );
      req.on('error', (error) => (answered ? undefined : reject(error)));
      const piece = Buffer.from(`${'x'.repeat(63)}\n`.repeat(1024));
      const pump = () => {
        while (!answered && sent < total) {
          const n = Math.min(piece.length, total - sent);
          sent += n;
          if (!req.write(n === piece.length ? piece : piece.subarray(0, n))) {
            req.once('drain', pump);
            return;
          }
        }
        if (!answered) req.end();
      };
      pump();
    });
  }

  it('refuses a 100 MB upload up front by its Content-Length, with 413, storing nothing', async () => {
    const files = await t.db.models.JobFile.count();
    const size = 100 * 1024 * 1024;
    const result = await send(size, size);
    expect(result.status).toBe(413);
    expect(result.ms).toBeLessThan(5_000);
    expect(await t.db.models.JobFile.count()).toBe(files);
  });

  it('cuts a chunked upload off at IMPORT_MAX_BYTES with 413 and keeps none of it', async () => {
    const files = await t.db.models.JobFile.count();
    const result = await send(LIMIT + 512 * 1024, null);
    expect(result.status).toBe(413);
    expect(await t.db.models.JobFile.count()).toBe(files);
    expect(await t.db.models.JobFileChunk.count()).toBe(0);
  });
});

describe('retries', () => {
  /** Stores `csv` as the upload of a job `jobId` that is not in the queue (the test runs it by hand). */
  async function storeUpload(csv: string, jobId: number): Promise<number> {
    const fileId = await createJobFile(t.db, 'import', { jobId, expiresAt: null });
    const writer = new JobFileWriter(t.db, fileId);
    await writer.write(csv);
    await writer.end();
    return fileId;
  }

  /** A context to run import job `jobId` by hand; its process "dies" at the `diesAfter`-th batch. */
  async function handRun(
    fileId: number,
    jobId: number,
    attempt: number,
    diesAfter = Number.POSITIVE_INFINITY,
  ) {
    const db = t.db;
    const adminUser = await db.models.User.findOne({ where: { usernameKey: 'admin' } });
    let batches = 0;
    const ctx: JobContext<{ fileId: number }> = {
      db,
      job: {
        id: jobId,
        type: 'patients.import',
        payload: { fileId },
        attempt,
        owner: { type: 'user', id: adminUser!.id, name: 'admin' },
        requestId: `retry-${jobId}`,
        ip: null,
      },
      config: t.server.services.config,
      signal: new AbortController().signal,
      async progress(done) {
        if (done > 0 && ++batches >= diesAfter) throw new Error('the server died');
      },
      complete: <R>(work: (tx: Transaction) => Promise<R>) => db.transaction(work),
      checkpoint: <R>(work: (tx: Transaction) => Promise<R>) => db.transaction(work),
      yieldIfAsked: () => undefined,
    };
    return ctx;
  }

  /** A CSV of `total` valid rows named `<prefix> <i>`. */
  function rowsCsv(prefix: string, total: number): string {
    return [
      'name,age,gender',
      ...Array.from({ length: total }, (_, i) => `${prefix} ${i},${i % 100},f`),
    ].join('\n');
  }

  it('resumes after the last committed batch: no row is admitted twice', async () => {
    const p = tag();
    const total = IMPORT_BATCH_ROWS * 2 + 123;
    const jobId = 1_000_000 + Math.floor(Math.random() * 1_000_000);
    const fileId = await storeUpload(rowsCsv(p, total), jobId);

    await expect(patientsImportJob.run(await handRun(fileId, jobId, 1, 1))).rejects.toThrow(
      'the server died',
    );
    expect(await t.db.models.Patient.count({ where: { name: { [Op.like]: `${p} %` } } })).toBe(
      IMPORT_BATCH_ROWS,
    );

    const result = await patientsImportJob.run(await handRun(fileId, jobId, 2));
    expect(result).toMatchObject({ rows: total, imported: total, rejected: 0 });
    const names = (await patientsNamed(p)).map((x) => x.name);
    expect(names).toHaveLength(total);
    expect(new Set(names).size).toBe(total);
    const audited = await t.db.models.AuditEvent.count({ where: { requestId: `retry-${jobId}` } });
    expect(audited).toBe(total);
    expect(await t.db.models.JobFile.count({ where: { id: fileId } })).toBe(0);
  });

  it('two runs of one import at once (a lease taken over) admit each row once', async () => {
    const p = tag();
    const total = IMPORT_BATCH_ROWS * 3;
    const jobId = 2_000_000 + Math.floor(Math.random() * 1_000_000);
    const fileId = await storeUpload(rowsCsv(p, total), jobId);
    const runs = await Promise.allSettled([
      patientsImportJob.run(await handRun(fileId, jobId, 1)),
      patientsImportJob.run(await handRun(fileId, jobId, 2)),
    ]);
    expect(runs.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const lost = runs.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(lost.reason).toBeInstanceOf(LeaseLostError);
    const names = (await patientsNamed(p)).map((x) => x.name);
    expect(names).toHaveLength(total);
    expect(new Set(names).size).toBe(total);
  });
});

describe('a large import', () => {
  it('imports 100,000 rows with progress while the API keeps answering', async () => {
    const p = tag();
    const rows = 100_000;
    const lines = ['name,age,gender,doctor_id,room_number,bed_number'];
    for (let i = 0; i < rows; i++)
      lines.push(`${p} ${i},${i % 120},${i % 2 ? 'female' : 'male'},${doctorId},${i % 500},B`);
    const res = await upload(lines.join('\n'));
    expect(res.status).toBe(202);
    const { job_id } = (await res.json()) as { job_id: number };

    const client = trpcClient(t.url, admin);
    const seen: { done: number; total: number }[] = [];
    const latencies: number[] = [];
    const deadline = Date.now() + 170_000;
    let status = 'queued';
    while (status !== 'succeeded' && status !== 'failed') {
      if (Date.now() > deadline) throw new Error(`the import is still ${status}`);
      const job = await client.jobs.get.query({ id: job_id });
      status = job.status;
      if (job.status === 'running' && job.progress) seen.push(job.progress);
      const started = performance.now();
      const health = await fetch(`${t.url}/healthz`);
      expect(health.status).toBe(200);
      await client.doctors.list.query({ limit: 10 });
      latencies.push(performance.now() - started);
      await pause(100, 'the interval between samples of the running import');
    }
    expect(status).toBe('succeeded');
    const during = seen.filter((s) => s.done > 0 && s.done < rows);
    expect(during.length, 'progress seen while the job ran').toBeGreaterThan(0);
    expect(during.every((s) => s.total === rows)).toBe(true);
    const done = during.map((s) => s.done);
    expect(done).toEqual([...done].sort((a, b) => a - b));
    latencies.sort((a, b) => a - b);
    expect(latencies[Math.floor(latencies.length / 2)], 'median /healthz + doctors.list time').toBeLessThan(
      1_000,
    );

    const job = await client.jobs.get.query({ id: job_id });
    expect(job.result).toMatchObject({ rows, imported: rows, rejected: 0 });
    expect(await t.db.models.Patient.count({ where: { name: { [Op.like]: `${p} %` } } })).toBe(rows);
  }, 180_000);
});
