import { type ChildProcess, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../helpers/db';
import { isFinished } from '../helpers/jobs';
import { http } from '../helpers/server';
import { ROOT, startServerProcess } from '../helpers/serverProcess';
import { waitFor } from '../helpers/wait';

/*
 * The production build (`npm run build`'s server part: server/scripts/build.mjs) into a temporary
 * folder, run by plain Node with no TypeScript loader, as `npm run start:prod` runs server/dist:
 * it migrates a fresh database, serves, and its job worker threads load the compiled worker.js.
 */
describe('the production build', () => {
  let dir: string;
  let target: TestDatabase;
  const children: ChildProcess[] = [];
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await target?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('compiles to JavaScript that serves, migrates and runs jobs with plain node', async () => {
    dir = mkdtempSync(join(tmpdir(), 'hdms-build-'));
    const out = join(dir, 'dist');
    execFileSync(process.execPath, [join(ROOT, 'server', 'scripts', 'build.mjs'), out], { cwd: ROOT });
    const files = readdirSync(out);
    expect(files).toEqual(expect.arrayContaining(['index.js', 'worker.js', 'migrate.js', 'admin.js']));
    expect(files.filter((f) => f.endsWith('.ts'))).toEqual([]);
    // Packages load from node_modules, as in an installed tree.
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');

    target = await freshDatabase('sqlite');
    const { child, url } = await startServerProcess(
      {
        DATABASE_URL: target.url,
        ADMIN_USERNAME: 'chief',
        ADMIN_EMAIL: 'chief@example.org',
        ADMIN_PASSWORD: 'orchard-compass-17',
        WORKER_THREADS: '1',
      },
      { args: [join(out, 'index.js')], cwd: dir },
    );
    children.push(child);
    // Plain node: no TypeScript loader anywhere in the command line.
    expect(child.spawnargs.join(' ')).not.toMatch(/tsx|--import|--loader/);

    expect((await http(url, 'GET', '/healthz')).status).toBe(200);
    // The OpenAPI document and the docs page's assets load from the compiled server too.
    expect((await http(url, 'GET', '/openapi.json')).body.paths['/update_patient/{id}']).toBeDefined();
    expect((await http(url, 'GET', '/docs/assets/swagger-ui-bundle.js')).status).toBe(200);
    const login = await http(url, 'POST', '/login', {
      body: { username: 'chief', password: 'orchard-compass-17' },
    });
    const token = login.body.token as string;
    await http(url, 'POST', '/doctors', { token, body: { name: 'Dr. Built', specialization: 'X' } });
    const patient = await http(url, 'POST', '/patients', {
      token,
      body: { name: 'Built Patient', age: 40, gender: 'F', doctor_id: 1 },
    });
    const accepted = await http(url, 'POST', `/update_patient/${patient.body.id}`, {
      token,
      body: { age: 41 },
    });
    expect(accepted.status).toBe(202);
    const job = await waitFor(
      async () => {
        const res = await http(url, 'GET', `/jobs/${accepted.body.job_id}`, { token });
        return isFinished(res.body.status) ? res : null;
      },
      { what: `the built server's job ${accepted.body.job_id} to finish`, timeoutMs: 10_000 },
    );
    expect(job.body).toMatchObject({ status: 'succeeded', result: { changed_fields: ['age'] } });
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    expect(child.exitCode).toBe(0);
  });
});
