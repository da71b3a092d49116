import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

/** A Dockerfile's instructions (continuation lines joined), without comments. */
function instructions(text: string): { op: string; args: string }[] {
  return text
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const [op = '', ...rest] = line.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

/*
 * No container daemon runs here, so the image's build and start steps are held to the production
 * sequence that tests/e2e/production-build.test.ts runs as plain commands (and the README
 * documents): npm ci, npm run build, npm prune --omit=dev, then start:prod's command; the operator
 * commands' npm scripts run the compiled tree there (server/scripts/run.mjs, copied with server/).
 */
describe('the container files', () => {
  const steps = instructions(read('Dockerfile'));
  const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };

  it('build with the production sequence, in two stages, and start what start:prod starts', () => {
    expect(steps.filter((s) => s.op === 'FROM').map((s) => s.args)).toEqual([
      'node:20-bookworm AS build',
      'node:20-bookworm-slim',
    ]);
    expect(
      steps.filter((s) => s.op === 'RUN').map((s) => s.args.replace(/ --no-audit --no-fund/, '')),
    ).toEqual(['npm ci', 'npm run build', 'npm prune --omit=dev', 'mkdir -p /data && chown node:node /data']);
    const cmd = JSON.parse(steps.find((s) => s.op === 'CMD')!.args) as string[];
    // start:prod `exec`s node so that a signal to npm reaches the server; the image runs node itself.
    expect(cmd.join(' ')).toBe(pkg.scripts['start:prod']!.replace(/^exec /, ''));
    expect(pkg.scripts.build).toMatch(/^node server\/scripts\/build\.mjs/);
    // The README's production sequence is this one.
    expect(read('README.md')).toContain(
      'npm ci && npm run build && npm prune --omit=dev && NODE_ENV=production npm run start:prod',
    );
  });

  it('ship what the operator commands need: their launcher and compiled entry points, no TypeScript loader', () => {
    for (const script of ['admin', 'admin:reset-password', 'db:migrate', 'db:rollback', 'db:seed']) {
      expect(pkg.scripts[script]).toMatch(/^node server\/scripts\/run\.mjs (admin|migrate|seed)\b/);
    }
    const build = read('server/scripts/build.mjs');
    for (const entry of ['admin', 'migrate', 'seed']) {
      expect(build).toContain(`${entry}: join(server, 'src', '${entry}.ts')`);
    }
    const runtime = steps.slice(steps.findIndex((s) => s.op === 'FROM' && !s.args.includes('AS build')));
    expect(runtime.filter((s) => s.op === 'COPY').map((s) => s.args)).toContainEqual(
      '--from=build --chown=node:node /app/server ./server',
    );
  });

  it('run as a non-root user, in production mode, with a health check on /healthz', () => {
    const runtime = steps.slice(steps.findIndex((s) => s.op === 'FROM' && !s.args.includes('AS build')));
    expect(runtime.find((s) => s.op === 'USER')?.args).toBe('node');
    expect(runtime.find((s) => s.op === 'ENV')?.args).toMatch(/NODE_ENV=production/);
    expect(runtime.find((s) => s.op === 'HEALTHCHECK')?.args).toMatch(/\/healthz/);
    // The runtime stage copies from the build stage only: no dev dependencies are installed there.
    expect(runtime.filter((s) => s.op === 'RUN').map((s) => s.args)).not.toContainEqual(
      expect.stringMatching(/npm/),
    );
  });

  it('compose runs MariaDB and two HDMS instances on it, with no secret written in the file', () => {
    const compose = read('compose.yaml');
    expect(compose).toMatch(/^ {2}mariadb:$/m);
    expect(compose).toMatch(/^ {2}hdms-1:/m);
    expect(compose).toMatch(/^ {2}hdms-2:$/m);
    expect(compose).toMatch(/DATABASE_URL: mysql:\/\/hdms:\$\{HDMS_DB_PASSWORD\}@mariadb:3306\/hdms/);
    for (const secret of ['ADMIN_PASSWORD', 'METRICS_TOKEN', 'MARIADB_PASSWORD']) {
      expect(compose).toMatch(new RegExp(`${secret}: \\$\\{HDMS_[A-Z_]+(:\\?[^}]*)?\\}`));
    }
  });
});
