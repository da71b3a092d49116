import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, type CliBuild, runHdms } from '../helpers/cli';

/*
 * The `hdms` command as a package ships it, without a server: its own entry point (importing
 * `@hdms/client` loads none of its dependencies), `--help` everywhere, and usage errors refused
 * with exit code 2 before anything is done. tests/cli.test.ts runs it against a server.
 */

/** The packages only the command uses. */
const CLI_ONLY = ['commander', 'cli-progress', 'eventsource'];
const COMMANDS = ['login', 'logout', 'import', 'export', 'jobs', 'events'];

let build: CliBuild;

beforeAll(async () => {
  build = await buildCli();
});

afterAll(() => build?.remove());

describe('the @hdms/client library entry', () => {
  it('loads none of the command’s packages: they are not in the module graph of index.js', async () => {
    // A module hook records every module node resolves while a child process imports index.js.
    const log = join(build.dir, 'resolved.log');
    const hooks = join(build.dir, 'record-hooks.mjs');
    writeFileSync(
      hooks,
      `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(${JSON.stringify(log)}, resolved.url + '\\n');
  return resolved;
}`,
    );
    writeFileSync(log, '');
    const program = [
      "import { register } from 'node:module';",
      `register(${JSON.stringify(pathToFileURL(hooks).href)});`,
      `const sdk = await import(${JSON.stringify(pathToFileURL(build.index).href)});`,
      "console.log(Object.keys(sdk).sort().join(','));",
    ].join('\n');
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', program]);

    const exported = stdout.trim().split(',');
    expect(exported).toEqual(
      expect.arrayContaining(['createClient', 'signIn', 'uploadPatientsCsv', 'downloadExport', 'waitForJob']),
    );
    const resolved = readFileSync(log, 'utf8').trim().split('\n');
    // The hook saw the graph: the library's own packages are in it...
    expect(resolved.some((url) => url.includes('/node_modules/@trpc/client/'))).toBe(true);
    expect(resolved.some((url) => url.includes('/node_modules/superjson/'))).toBe(true);
    // ...and nothing of the command's.
    for (const name of CLI_ONLY) {
      expect(resolved.filter((url) => url.includes(`/node_modules/${name}/`))).toEqual([]);
    }
    expect(resolved.filter((url) => url.endsWith('/cli.js'))).toEqual([]);

    const source = readFileSync(build.index, 'utf8');
    const imports = [...source.matchAll(/\bfrom\s+['"]([^'"]+)['"]/g)].map((m) => m[1]).sort();
    // `@trpc/server/observable`: the read-after link's observable, from the peer dependency that
    // @trpc/client itself loads (a consumer has it installed already).
    expect(imports).toEqual(['@trpc/client', '@trpc/server/observable', 'superjson']);
    expect(source).not.toMatch(/import\(/);
  });

  it('builds the command as a Node script with a shebang, executable', () => {
    expect(readFileSync(build.cli, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
    const manifest = JSON.parse(readFileSync(join(build.dir, '..', '..', '..', 'package.json'), 'utf8'));
    expect(manifest.bin).toEqual({ hdms: './bin/hdms.js' });
    for (const name of CLI_ONLY) expect(manifest.dependencies[name], name).toBeTruthy();
  });
});

describe('hdms without a server', () => {
  it('answers --help with its commands and exit codes, and so does each command', async () => {
    const top = await runHdms(build.cli, ['--help']);
    expect(top.code).toBe(0);
    expect(top.out).toMatch(/^Usage: hdms \[options\] \[command\]/);
    for (const command of COMMANDS) expect(top.out).toMatch(new RegExp(`\\n  ${command}\\b`));
    expect(top.out).toMatch(/Exit codes: 0 done; 1 failed .*\n2 usage .* 3 not signed in/);

    const helps = await Promise.all(COMMANDS.map((command) => runHdms(build.cli, [command, '--help'])));
    helps.forEach((help, i) => {
      expect(help.code, COMMANDS[i]).toBe(0);
      expect(help.out, COMMANDS[i]).toMatch(new RegExp(`^Usage: hdms ${COMMANDS[i]} `));
      expect(help.err).toBe('');
    });
    expect(helps[COMMANDS.indexOf('import')]!.out).toMatch(/Exit code 1 when any row was rejected/);
    expect((await runHdms(build.cli, ['help', 'events'])).out).toMatch(/--since <eventId>/);
  });

  it.each([
    ['an unknown flag', ['jobs', '--bogus'], /unknown option '--bogus'/],
    ['an unknown flag of import', ['import', 'patients.csv', '--dry-run'], /unknown option '--dry-run'/],
    ['an unknown flag of login', ['login', '--password', 'x'], /unknown option '--password'/],
    ['an unknown command', ['improt', 'patients.csv'], /unknown command 'improt'/],
    ['a missing argument', ['import'], /missing required argument 'file\.csv'/],
    ['an extra argument', ['jobs', 'all'], /too many arguments/],
    ['a patient id that is no number', ['export', 'abc'], /'abc' is invalid for argument 'patientId'/],
    ['an unknown job status', ['jobs', '--status', 'done'], /Allowed choices are queued, running/],
    ['an unknown event type', ['events', '--type', 'patient.deleted'], /Allowed choices are doctor\.created/],
    [
      'a server URL that is none',
      ['jobs', '--url', 'localhost:3000'],
      /must be an http:\/\/ or https:\/\/ URL/,
    ],
    ['no command', [], /Usage: hdms/],
  ])('refuses %s with exit code 2, doing nothing', async (_, args, message) => {
    const ran = await runHdms(build.cli, args);
    expect(ran.code).toBe(2);
    expect(ran.err).toMatch(message);
    expect(ran.out).toBe('');
  });

  it('says "not signed in" with exit code 3, naming the command that signs in', async () => {
    for (const args of [['jobs'], ['import', 'patients.csv'], ['export', '7'], ['events']]) {
      const ran = await runHdms(build.cli, args);
      expect(ran.code, args.join(' ')).toBe(3);
      expect(ran.err).toBe('hdms: Not signed in: run `hdms login` first (or set HDMS_TOKEN)\n');
    }
    const elsewhere = await runHdms(build.cli, ['jobs'], { env: { HDMS_URL: 'http://10.0.0.7:3000/' } });
    expect(elsewhere.code).toBe(3);
    expect(elsewhere.err).toMatch(/run `hdms login --url http:\/\/10\.0\.0\.7:3000` first/);
  });

  it('says a server that does not answer is unreachable (exit code 1)', async () => {
    // A port that was free a moment ago: nothing listens there.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const url = `http://127.0.0.1:${port}`;
    const ran = await runHdms(build.cli, ['jobs'], { env: { HDMS_URL: url, HDMS_TOKEN: 'some-token' } });
    expect(ran.code).toBe(1);
    expect(ran.err).toBe(`hdms: Cannot reach the HDMS server at ${url} (ECONNREFUSED): is it running?\n`);
  });

  it('the repository’s bin launcher says to build first when dist/cli.js is missing', async () => {
    const launcher = readFileSync(join(build.dir, '..', '..', '..', 'bin', 'hdms.js'), 'utf8');
    expect(launcher.split('\n')[0]).toBe('#!/usr/bin/env node');
    // A copy of the launcher beside a folder without dist/.
    const copy = join(build.dir, 'bin', 'hdms.js');
    await promisify(execFile)('mkdir', ['-p', join(build.dir, 'bin')]);
    writeFileSync(copy, launcher);
    const ran = await runHdms(copy, ['--help']);
    expect(ran.code).toBe(1);
    expect(ran.err).toMatch(/run `npm run build:sdk`/);
  });
});
