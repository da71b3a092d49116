import { type ChildProcess, execFileSync } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  unlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createDatabase } from '@hdms/db';
import { afterAll, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../helpers/db';
import { isFinished } from '../helpers/jobs';
import { http } from '../helpers/server';
import { ROOT, runToExit, startServerProcess } from '../helpers/serverProcess';
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
    expect(files).toEqual(
      expect.arrayContaining(['index.js', 'worker.js', 'migrate.js', 'admin.js', 'seed.js']),
    );
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

/**
 * A copy of the repository as the Dockerfile's build stage leaves it: the installed packages
 * (hard links to this checkout's, as `npm ci` would install them; a plain copy across file
 * systems), `npm run build`'s server part, then `npm prune --omit=dev`. This checkout's own
 * `node_modules` is never touched: prune only unlinks, and the one file it rewrites is copied.
 */
function prunedTree(): string {
  const tree = mkdtempSync(join(tmpdir(), 'hdms-pruned-'));
  const skipped = new Set(['.git', 'data', join('server', 'dist'), join('client-sdk', 'dist')]);
  cpSync(ROOT, tree, {
    recursive: true,
    filter: (source) => {
      const path = relative(ROOT, source);
      return !skipped.has(path) && !path.split('/').includes('node_modules');
    },
  });
  const modules = join(tree, 'node_modules');
  try {
    execFileSync('cp', ['-al', join(ROOT, 'node_modules'), modules]);
  } catch {
    rmSync(modules, { recursive: true, force: true });
    execFileSync('cp', ['-a', join(ROOT, 'node_modules'), modules]);
  }
  const hidden = join(modules, '.package-lock.json');
  if (existsSync(hidden)) {
    unlinkSync(hidden);
    copyFileSync(join(ROOT, 'node_modules', '.package-lock.json'), hidden);
  }
  execFileSync(process.execPath, [join(tree, 'server', 'scripts', 'build.mjs')], { cwd: tree });
  execFileSync('npm', ['prune', '--omit=dev', '--offline', '--no-audit', '--no-fund'], {
    cwd: tree,
    stdio: 'ignore',
  });
  return tree;
}

describe('the operator commands in a compiled tree without dev dependencies', () => {
  let tree: string | undefined;
  afterAll(() => {
    if (tree) rmSync(tree, { recursive: true, force: true });
  });

  it('run from server/dist after npm prune --omit=dev: tsx, esbuild and vitest are gone', async () => {
    tree = prunedTree();
    for (const devOnly of ['tsx', 'esbuild', 'vitest']) {
      expect(existsSync(join(tree, 'node_modules', devOnly))).toBe(false);
    }
    const data = join(tree, 'data-test');
    const env = { DATABASE_URL: `sqlite:${join(data, 'hdms.sqlite')}` };
    const npm = (script: string, args: string[] = [], input?: string) =>
      runToExit(['run', '--silent', script, ...(args.length ? ['--', ...args] : [])], env, 'npm', {
        cwd: tree,
        input,
      });
    const expectCompiled = (result: { err: string }, entry: string) =>
      expect(result.err).toContain(`(running the compiled server/dist/${entry}.js: tsx is not installed)`);

    for (const [script, args, entry] of [
      ['db:migrate', ['--help'], 'migrate'],
      ['db:rollback', ['--help'], 'migrate'],
      ['db:seed', ['--help'], 'seed'],
      ['admin', ['--help'], 'admin'],
      ['admin', ['create-user', '--help'], 'admin'],
      ['admin', ['link', '--help'], 'admin'],
      ['admin', ['reset-password', '--help'], 'admin'],
      ['admin', ['disable', '--help'], 'admin'],
      ['admin', ['reset-mfa', '--help'], 'admin'],
    ] as const) {
      const help = await npm(script, [...args]);
      expect(help.code, `${script} ${args.join(' ')}`).toBe(0);
      expect(help.out).toMatch(/^Usage: npm run /);
      expectCompiled(help, entry);
    }
    const serverHelp = await runToExit(['server/dist/index.js', '--help'], env, process.execPath, {
      cwd: tree,
    });
    expect(serverHelp.code).toBe(0);
    expect(serverHelp.out).toMatch(/^Usage: npm start\n/);
    expect(existsSync(data)).toBe(false);

    const migrated = await npm('db:migrate');
    expect(migrated.code).toBe(0);
    expect(migrated.out).toMatch(/^Applied: 0001_initial/);
    expectCompiled(migrated, 'migrate');

    const created = await npm(
      'admin',
      ['create-user', 'dr.built', '--email', 'built@clinic.example', '--role', 'doctor', '--password-stdin'],
      'juniper-otter-bridge\n',
    );
    expect(created.code, created.err).toBe(0);
    expectCompiled(created, 'admin');
    const ops = await npm('admin', [
      'create-user',
      'ops',
      '--email',
      'ops@clinic.example',
      '--role',
      'admin',
      '--generate-password',
    ]);
    expect(ops.code, ops.err).toBe(0);

    const db = await createDatabase(env.DATABASE_URL);
    let doctorId: number;
    try {
      doctorId = (await db.models.Doctor.create({ name: 'Dr. Built', specialization: 'X' })).id;
    } finally {
      await db.close();
    }
    const linked = await npm('admin', ['link', 'dr.built', '--doctor', String(doctorId)]);
    expect(linked.code, linked.err).toBe(0);
    expect(linked.out).toContain(`"dr.built" is linked to doctor ${doctorId}.`);
    const reset = await npm('admin:reset-password', ['ops']);
    expect(reset.code, reset.err).toBe(0);
    expect(reset.out).toMatch(/password: \S{20,}/);
    const disabled = await npm('admin', ['disable', 'dr.built']);
    expect(disabled.code, disabled.err).toBe(0);
    const mfa = await npm('admin', ['reset-mfa', 'dr.built']);
    expect(mfa.code, mfa.err).toBe(0);

    // The seed refuses this database (it holds Dr. Built), and seeds a fresh one.
    const refused = await npm('db:seed');
    expect(refused.code).toBe(1);
    expectCompiled(refused, 'seed');
    const seeded = await runToExit(
      ['run', '--silent', 'db:seed'],
      { DATABASE_URL: `sqlite:${join(data, 'seed.sqlite')}` },
      'npm',
      {
        cwd: tree,
      },
    );
    expect(seeded.code, seeded.err).toBe(0);
    expect(seeded.out).toMatch(/^Seeded the demo data/);

    const asked = await npm('db:rollback');
    expect(asked.code).toBe(2);
    const rolledBack = await npm('db:rollback', ['--yes']);
    expect(rolledBack.code, rolledBack.err).toBe(0);
    expect(rolledBack.out).toMatch(/^Reverted: \d{4}_/);
  }, 600_000);
});
