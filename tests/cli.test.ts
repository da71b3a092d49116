import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createWriteStream } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadExport, HdmsRestError, uploadPatientsCsv, waitForJob } from '../client-sdk/src/index';
import { createClient } from '../client-sdk/src/client';
import { createAccount } from '../server/src/auth/index';
import { sessionOf } from './helpers/callers';
import { buildCli, type CliBuild, configHome, runHdms, startHdms } from './helpers/cli';
import { type CareTeam, careTeam, linkedDoctor, linkedPatient } from './helpers/clinical';
import { ADMIN, type TestServer, startTestServer, trpcClient } from './helpers/server';
import { startTcpProxy } from './helpers/tcpProxy';

/*
 * The `hdms` command against a real server (this project's database), as a user runs it: a child
 * process of the built dist/cli.js, with a config folder of its own per test. Also the SDK's REST
 * helpers it is built on. tests/e2e/cli-package.test.ts covers what needs no server.
 */

let t: TestServer;
let team: CareTeam;
let build: CliBuild;

beforeAll(async () => {
  [t, build] = await Promise.all([startTestServer(), buildCli()]);
  team = await careTeam(t);
});

afterAll(async () => {
  build?.remove();
  await t?.close();
});

/** `hdms ...args` at the test server. */
const hdms = (args: string[], options: Parameters<typeof runHdms>[2] = {}) =>
  runHdms(build.cli, args, { ...options, env: { HDMS_URL: t.url, ...options.env } });

/** A config folder signed in as the admin through `hdms login` (its own session). */
async function adminHome(): Promise<string> {
  const home = configHome();
  const ran = await hdms(['login', '-u', ADMIN.username, '--password-stdin'], {
    home,
    input: ADMIN.password,
  });
  expect(ran.code, ran.err).toBe(0);
  return home;
}

/** What `hdms login` saved in `home`. */
function savedIn(home: string) {
  return JSON.parse(readFileSync(join(home, 'hdms', 'credentials.json'), 'utf8'));
}

let counter = 0;
/** A CSV file in a fresh folder. */
function csvFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'hdms-cli-csv-')), `patients-${++counter}.csv`);
  writeFileSync(file, text);
  return file;
}

describe('hdms login and logout', () => {
  it('asks for the username and password (stdin lines when piped) and saves the session, mode 0600', async () => {
    const home = configHome();
    const ran = await hdms(['login'], { home, input: `${ADMIN.username}\n${ADMIN.password}\n` });
    expect(ran.code, ran.err).toBe(0);
    const file = join(home, 'hdms', 'credentials.json');
    expect(ran.out).toBe(
      `Signed in to ${t.url} as admin (admin); the session is saved in ${file} (readable by you only).\n`,
    );
    expect(ran.err).toBe('Username: Password: ');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(home, 'hdms')).mode & 0o777).toBe(0o700);
    const saved = savedIn(home);
    expect(saved).toMatchObject({ url: t.url, username: 'admin', role: 'admin' });
    expect(new Date(saved.expiresAt).getTime()).toBeGreaterThan(Date.now());
    // The saved token is a live session.
    expect(await trpcClient(t.url, saved.token).auth.me.query()).toMatchObject({ username: 'admin' });
    // The next commands use it.
    const jobs = await hdms(['jobs'], { home, env: { HDMS_URL: '' } });
    expect(jobs.code, jobs.err).toBe(0);

    // Signing in again replaces the saved session and ends the one it replaces.
    const again = await hdms(['login', '-u', ADMIN.username, '--password-stdin'], {
      home,
      input: ADMIN.password,
    });
    expect(again.code, again.err).toBe(0);
    expect(savedIn(home).token).not.toBe(saved.token);
    await expect(trpcClient(t.url, saved.token).auth.me.query()).rejects.toMatchObject({
      data: { code: 'UNAUTHORIZED' },
    });
  });

  it('refuses a wrong password with exit code 1 and saves nothing', async () => {
    const home = configHome();
    const ran = await hdms(['login', '-u', ADMIN.username, '--password-stdin'], { home, input: 'not-it\n' });
    expect(ran.code).toBe(1);
    expect(ran.err).toMatch(/^hdms: Sign-in refused: /);
    expect(existsSync(join(home, 'hdms', 'credentials.json'))).toBe(false);
  });

  it('asks an account with MFA for its code, or takes --code', async () => {
    const account = { username: `cli_mfa_${Date.now()}`, password: 'cli-mfa-long-passphrase' };
    await createAccount(t.db, { ...account, email: `${account.username}@example.org`, role: 'doctor' });
    const session = await trpcClient(t.url).auth.login.mutate(account);
    if (session.mfaRequired) throw new Error('no MFA yet');
    const own = trpcClient(t.url, session.token);
    const { secret } = await own.auth.mfa.enroll.mutate({ password: account.password });
    const { totpCode } = await import('../server/src/auth/index');
    const { recoveryCodes } = await own.auth.mfa.confirm.mutate({ code: totpCode(secret, Date.now()) });

    const asked = configHome();
    const piped = await hdms(['login'], {
      home: asked,
      input: `${account.username}\n${account.password}\n${recoveryCodes[0]}\n`,
    });
    expect(piped.code, piped.err).toBe(0);
    expect(piped.err).toBe('Username: Password: MFA code (authenticator app, or a recovery code): ');
    expect(savedIn(asked)).toMatchObject({ username: account.username, role: 'doctor' });

    const flagged = configHome();
    const withFlag = await hdms(
      ['login', '-u', account.username, '--password-stdin', '--code', recoveryCodes[1]!],
      { home: flagged, input: account.password },
    );
    expect(withFlag.code, withFlag.err).toBe(0);

    // --password-stdin leaves nothing to ask the code with.
    const none = await hdms(['login', '-u', account.username, '--password-stdin'], {
      home: configHome(),
      input: account.password,
    });
    expect(none.code).toBe(2);
    expect(none.err).toBe('hdms: This account signs in with MFA: pass its code with --code\n');
  });

  it('logout ends the session on the server and deletes the saved token', async () => {
    const home = await adminHome();
    const { token } = savedIn(home);
    const ran = await hdms(['logout'], { home });
    expect(ran.code, ran.err).toBe(0);
    expect(ran.out).toMatch(/^Signed out of .*: the session was ended on the server, and its token deleted/);
    expect(existsSync(join(home, 'hdms', 'credentials.json'))).toBe(false);
    await expect(trpcClient(t.url, token).auth.me.query()).rejects.toMatchObject({
      data: { code: 'UNAUTHORIZED' },
    });
    const after = await hdms(['jobs'], { home });
    expect(after.code).toBe(3);
  });

  it('a session the server no longer accepts is "not signed in" (exit code 3), saying what to do', async () => {
    const home = await adminHome();
    await trpcClient(t.url, savedIn(home).token).auth.logout.mutate();
    const ran = await hdms(['jobs'], { home });
    expect(ran.code).toBe(3);
    expect(ran.err).toMatch(
      /^hdms: Not signed in: the server refused the saved sign-in \(.+\); run `hdms login/,
    );
    const other = await hdms(['jobs'], { home, env: { HDMS_URL: 'http://127.0.0.1:1' } });
    expect(other.code).toBe(3);
    expect(other.err).toMatch(/Not signed in to http:\/\/127\.0\.0\.1:1 \(the saved sign-in is for http:/);
  });
});

describe('hdms import', () => {
  const header = 'name,age,gender,room_number';

  it('shows progress, prints the rejected rows with their reasons, and exits 1 when rows were rejected', async () => {
    const home = await adminHome();
    const tag = `CLI-${Date.now()}`;
    const file = csvFile(
      [
        header,
        `${tag} Ann,40,female,12`,
        `${tag} Bob,abc,male,`,
        `${tag} Cy,55,male,3`,
        `,30,female,`,
        `${tag} Di,61,female,4`,
        '',
      ].join('\n'),
    );
    const ran = await hdms(['import', file], { home });
    expect(ran.err).toBe('');
    expect(ran.code).toBe(1);
    const lines = ran.out.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^Uploading ${file} \\(\\d+ bytes\\) to ${t.url}$`));
    const jobId = Number(/^Import job #(\d+) queued/.exec(lines[1]!)?.[1]);
    expect(jobId).toBeGreaterThan(0);
    // Not a terminal: plain progress lines, the last one complete.
    const progress = lines.filter((line) => line.startsWith(`Importing #${jobId}: `));
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toBe(`Importing #${jobId}: succeeded 5/5 rows (100%)`);
    expect(new Set(progress).size).toBe(progress.length);
    expect(lines.slice(-4)).toEqual([
      `Import job #${jobId} finished: 3 of 5 rows imported, 2 rejected.`,
      'Rejected rows (line numbers count the header as line 1):',
      expect.stringMatching(/^ {2}line 3: age: /),
      expect.stringMatching(/^ {2}line 5: name: /),
    ]);
    const imported = await t.db.models.Patient.count({
      where: { name: [`${tag} Ann`, `${tag} Cy`, `${tag} Di`] },
    });
    expect(imported).toBe(3);
  });

  it('exits 0 when every row was imported', async () => {
    const home = await adminHome();
    const ran = await hdms(
      ['import', csvFile(`${header}\nCLI Clean One,30,male,1\nCLI Clean Two,31,female,2\n`)],
      {
        home,
      },
    );
    expect(ran.code, ran.out + ran.err).toBe(0);
    expect(ran.out).toMatch(/finished: 2 of 2 rows imported, 0 rejected\.\n$/);
    expect(ran.out).not.toMatch(/Rejected rows/);
  });

  it('says why the server refused an upload (a doctor is no admin; not UTF-8) with exit code 1', async () => {
    const doctor = await hdms(['import', csvFile(`${header}\nX,1,male,1\n`)], {
      env: { HDMS_TOKEN: team.doctorA.token },
    });
    expect(doctor.code).toBe(1);
    expect(doctor.err).toMatch(/^hdms: 403: .*admin/i);

    const home = await adminHome();
    const file = csvFile('');
    writeFileSync(file, Buffer.from([0xff, 0xfe, 0x6e, 0x00]));
    const utf16 = await hdms(['import', file], { home });
    expect(utf16.code).toBe(1);
    expect(utf16.err).toMatch(/^hdms: 400: The file is UTF-16 text/);

    const missing = await hdms(['import', join(tmpdir(), 'no-such-file.csv')], { home });
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^hdms: Cannot read .*no-such-file\.csv: no such file\n$/);
  });

  it('draws a progress bar on a terminal', async (context) => {
    const script = '/usr/bin/script';
    if (!existsSync(script)) context.skip();
    const home = await adminHome();
    const rows = Array.from({ length: 1200 }, (_, i) => `CLI Bar ${i},${20 + (i % 60)},female,${i}`);
    const file = csvFile(`${header}\n${rows.join('\n')}\n`);
    // `script` runs the command on a pseudo-terminal and copies what it draws.
    const command = [process.execPath, build.cli, 'import', file].map((arg) => `'${arg}'`).join(' ');
    const { stdout } = await promisify(execFile)(script, ['-qec', command, '/dev/null'], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: home,
        XDG_CONFIG_HOME: home,
        HDMS_URL: t.url,
        TERM: 'xterm',
      },
    });
    expect(stdout).toMatch(/Importing #\d+ \[[█░]+\] 100% \| 1200\/1200 rows \| succeeded/);
    // Redrawn in place (cursor moves), not one line per step.
    expect(stdout.includes('\r') || stdout.includes('\u001b[')).toBe(true);
    expect(stdout).toMatch(/finished: 1200 of 1200 rows imported, 0 rejected/);
  });
});

describe('hdms import at the bounds (a server that runs no job, IMPORT_MAX_BYTES 1024)', () => {
  let bounded: TestServer;
  beforeAll(async () => {
    bounded = await startTestServer({ IMPORT_MAX_BYTES: '1024' }, { jobs: false });
  });
  afterAll(async () => {
    await bounded?.close();
  });
  it('a file over IMPORT_MAX_BYTES is refused (413) with the limit named, and no job queued', async () => {
    const token = sessionOf(
      await trpcClient(bounded.url).auth.login.mutate({ username: ADMIN.username, password: ADMIN.password }),
    ).token;
    // The other test of this server queues an import: compare with the list before (any order).
    const imports = async () =>
      (await trpcClient(bounded.url, token).jobs.list.query({ type: 'patients.import' })).items.map(
        (j) => j.id,
      );
    const before = await imports();
    const rows = Array.from({ length: 100 }, (_, i) => `Too Large ${i},30,female`);
    const ran = await runHdms(build.cli, ['import', csvFile(`name,age,gender\n${rows.join('\n')}\n`)], {
      env: { HDMS_URL: bounded.url, HDMS_TOKEN: token },
    });
    expect(ran.code).toBe(1);
    expect(ran.err).toBe('hdms: 413: Request body too large (limit 1024 bytes)\n');
    expect(await imports()).toEqual(before);
  });

  it('Ctrl-C stops watching a job, not the job: exit code 130 and how to find it again', async () => {
    const token = sessionOf(
      await trpcClient(bounded.url).auth.login.mutate({ username: ADMIN.username, password: ADMIN.password }),
    ).token;
    const watching = startHdms(build.cli, ['import', csvFile('name,age,gender\nWaits Long,30,female\n')], {
      env: { HDMS_URL: bounded.url, HDMS_TOKEN: token },
    });
    try {
      await watching.waitForOut(/Importing #\d+: queued\n/);
      expect(await watching.stop('SIGINT')).toBe(130);
      const jobId = Number(/Importing #(\d+)/.exec(watching.out())![1]);
      expect(watching.err()).toBe(
        `hdms: Stopped watching import job #${jobId}; it goes on on the server (\`hdms jobs\` shows it)\n`,
      );
      expect((await trpcClient(bounded.url, token).jobs.get.query({ id: jobId })).status).toBe('queued');
    } finally {
      await watching.stop('SIGKILL');
    }
  });
});

describe('hdms export', () => {
  it('starts the export, waits for the job and saves the document (mode 0600); never overwrites without --force', async () => {
    const patient = { env: { HDMS_TOKEN: team.patientA.token } };
    const dir = mkdtempSync(join(tmpdir(), 'hdms-cli-export-'));
    const output = join(dir, 'record.json');
    const ran = await hdms(['export', String(team.patientA.patientId), '-o', output], patient);
    expect(ran.code, ran.err).toBe(0);
    expect(ran.out).toMatch(
      new RegExp(`Saved patient #${team.patientA.patientId}'s record \\(\\d+ bytes\\) to ${output}\\n$`),
    );
    const document = JSON.parse(readFileSync(output, 'utf8'));
    expect(document).toMatchObject({
      format: 'hdms.patient-export',
      patient: { id: team.patientA.patientId },
    });
    expect(statSync(output).mode & 0o777).toBe(0o600);

    writeFileSync(output, 'keep me');
    const again = await hdms(['export', String(team.patientA.patientId), '-o', output], patient);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/record\.json already exists: choose another file with -o, or add --force/);
    expect(readFileSync(output, 'utf8')).toBe('keep me');
    const forced = await hdms(['export', String(team.patientA.patientId), '-o', output, '--force'], patient);
    expect(forced.code, forced.err).toBe(0);
    expect(JSON.parse(readFileSync(output, 'utf8')).patient.id).toBe(team.patientA.patientId);

    // Without -o: the name the server gives, in the current folder; nothing else left there.
    const named = await hdms(['export', String(team.patientA.patientId)], { ...patient, cwd: dir });
    expect(named.code, named.err).toBe(0);
    const files = readdirSync(dir).sort();
    expect(files).toHaveLength(2);
    expect(files.filter((name) => name !== 'record.json')[0]).toMatch(/\.json$/);

    // -o <folder>: the server's name in that folder.
    const folder = mkdtempSync(join(tmpdir(), 'hdms-cli-export-folder-'));
    const inFolder = await hdms(['export', String(team.patientA.patientId), '-o', folder], patient);
    expect(inFolder.code, inFolder.err).toBe(0);
    expect(readdirSync(folder)).toEqual([files.find((name) => name !== 'record.json')]);

    // -o -: the document on stdout, what hdms says on stderr.
    const piped = await hdms(['export', String(team.patientA.patientId), '-o', '-'], patient);
    expect(piped.code, piped.err).toBe(0);
    expect(JSON.parse(piped.out)).toMatchObject({ format: 'hdms.patient-export' });
    expect(piped.err).toMatch(/Wrote patient #\d+'s record \(\d+ bytes\) to stdout\n$/);
  });

  it("refuses another patient's record with exit code 1 and writes nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hdms-cli-export-'));
    const ran = await hdms(['export', String(team.patientB.patientId), '-o', join(dir, 'b.json')], {
      env: { HDMS_TOKEN: team.patientA.token },
    });
    expect(ran.code).toBe(1);
    expect(ran.err).toMatch(/^hdms: (NOT_FOUND|FORBIDDEN): /);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('hdms jobs', () => {
  it("lists the caller's jobs as a table, or as JSON lines, filtered by status", async () => {
    // A doctor of their own with a patient, and two exports of the record (a note between them,
    // so that the second is a new job).
    const doctor = await linkedDoctor(t);
    const patient = await linkedPatient(t, doctor.doctorId);
    const client = createClient({ url: t.url, token: doctor.token });
    const exportOnce = async () => {
      const { jobId } = await client.patients.export.mutate({ patientId: patient.patientId });
      await waitForJob(client, jobId, { intervalMs: 100 });
      return jobId;
    };
    const firstJob = await exportOnce();
    await client.notes.create.mutate({ patientId: patient.patientId, body: 'CLI jobs: a change' });
    const secondJob = await exportOnce();
    expect(secondJob).not.toBe(firstJob);

    const env = { HDMS_TOKEN: doctor.token };
    const table = await hdms(['jobs'], { env });
    expect(table.code, table.err).toBe(0);
    expect(table.err).toBe('');
    const [head, ...rows] = table.out.trim().split('\n');
    expect(head).toMatch(/^ID +TYPE +STATUS +PROGRESS +CREATED +FINISHED +ERROR$/);
    expect(rows.map((row) => row.split(/ +/)[0])).toEqual([`#${secondJob}`, `#${firstJob}`]);
    expect(rows[0]).toMatch(
      /^#\d+ +patient\.export +succeeded +\S+ +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +\d{4}-/,
    );

    const json = await hdms(['jobs', '--json', '--limit', '1'], { env });
    expect(json.code).toBe(0);
    const listed = json.out
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(listed).toEqual([
      expect.objectContaining({ id: secondJob, type: 'patient.export', status: 'succeeded' }),
    ]);
    expect(json.err).toBe(`More jobs: hdms jobs --cursor ${secondJob}\n`);
    const next = await hdms(['jobs', '--json', '--cursor', String(secondJob)], { env });
    expect(
      next.out
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line).id),
    ).toEqual([firstJob]);

    const failed = await hdms(['jobs', '--status', 'failed'], { env });
    expect(failed.out).toBe('No jobs.\n');
    // Someone else's jobs are not listed.
    const other = await hdms(['jobs'], { env: { HDMS_TOKEN: patient.token } });
    expect(other.out).toBe('No jobs.\n');
  });
});

describe('hdms events', () => {
  it('prints changes live and resumes after the server drops the connection, missing none, repeating none', async () => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(t.url).port) });
    const events = startHdms(build.cli, ['events', '--type', 'doctor.created'], {
      env: { HDMS_URL: `http://127.0.0.1:${proxy.port}`, HDMS_TOKEN: team.admin.token },
    });
    try {
      await events.waitForErr(/Listening for changes at http:\/\/127\.0\.0\.1:\d+ \(Ctrl-C to stop\)\n/);
      const admin = trpcClient(t.url, team.admin.token);
      const first = await admin.doctors.create.mutate({ name: 'Dr. Live One', specialization: 'CLI' });
      await events.waitForOut(new RegExp(`doctor\\.created doctor #${first.id}\\n`));

      proxy.cut();
      const second = await admin.doctors.create.mutate({ name: 'Dr. While Away', specialization: 'CLI' });
      await events.waitForOut(new RegExp(`doctor\\.created doctor #${second.id}\\n`), 30_000);
      expect(events.err()).toMatch(/Connection lost.*; reconnecting, to resume after event #\d+\n/);

      const lines = events.out().trim().split('\n');
      expect(lines).toEqual([
        expect.stringMatching(
          new RegExp(`^#\\d+ \\d{4}-\\d\\d-\\d\\dT[\\d:]+Z doctor\\.created doctor #${first.id}$`),
        ),
        expect.stringMatching(new RegExp(`^#\\d+ \\S+ doctor\\.created doctor #${second.id}$`)),
      ]);
      expect(await events.stop('SIGINT')).toBe(0);
    } finally {
      await events.stop('SIGKILL');
      await proxy.close();
    }
  });

  it('--since replays the events after an id, as JSON lines with --json', async () => {
    const admin = trpcClient(t.url, team.admin.token);
    const made = [
      await admin.doctors.create.mutate({ name: 'Dr. Replay A', specialization: 'CLI' }),
      await admin.doctors.create.mutate({ name: 'Dr. Replay B', specialization: 'CLI' }),
    ];
    // The event id of the first one, from a replay of everything.
    const all = startHdms(build.cli, ['events', '--type', 'doctor.created', '--json', '--since', '1'], {
      env: { HDMS_URL: t.url, HDMS_TOKEN: team.admin.token },
    });
    let firstEventId: number;
    try {
      await all.waitForOut(new RegExp(`"entityId":${made[1]!.id}\\b`));
      const seen = all
        .out()
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      firstEventId = seen.find((event) => event.entityId === made[0]!.id).id;
    } finally {
      expect(await all.stop()).toBe(0);
    }
    const since = startHdms(
      build.cli,
      ['events', '--json', '--type', 'doctor.created', '--since', String(firstEventId)],
      {
        env: { HDMS_URL: t.url, HDMS_TOKEN: team.admin.token },
      },
    );
    try {
      await since.waitForOut(new RegExp(`"entityId":${made[1]!.id}\\b`));
      const replayed = since
        .out()
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(replayed.map((event) => event.entityId)).toEqual([made[1]!.id]);
    } finally {
      expect(await since.stop('SIGTERM')).toBe(0);
    }
  });
});

describe('the SDK REST helpers', () => {
  it('uploadPatientsCsv returns the queued job; downloadExport streams the document to a file', async () => {
    const rest = { url: t.url, token: team.admin.token };
    const job = await uploadPatientsCsv(rest, new Blob(['name,age,gender\nSDK Upload,44,male\n']));
    expect(job).toMatchObject({ type: 'patients.import', createdBy: { name: ADMIN.username } });
    expect(job.createdAt).toBeInstanceOf(Date);
    const done = await waitForJob(createClient(rest), job.id, { intervalMs: 100 });
    expect(done).toMatchObject({ status: 'succeeded', result: { rows: 1, imported: 1, rejected: 0 } });

    const refused = await uploadPatientsCsv(
      { url: t.url, token: team.doctorA.token },
      'name,age,gender\n',
    ).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(HdmsRestError);
    expect(refused).toMatchObject({ status: 403 });

    const patient = { url: t.url, token: team.patientA.token };
    const { jobId } = await createClient(patient).patients.export.mutate({
      patientId: team.patientA.patientId,
    });
    await waitForJob(createClient(patient), jobId, { intervalMs: 100 });
    const file = join(mkdtempSync(join(tmpdir(), 'hdms-sdk-export-')), 'export.json');
    const saved = await downloadExport(
      patient,
      jobId,
      Writable.toWeb(createWriteStream(file)) as WritableStream,
    );
    expect(saved.bytes).toBe(statSync(file).size);
    expect(saved.filename).toMatch(/\.json$/);
    expect(saved.filename).not.toMatch(/[/\\]/);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({
      patient: { id: team.patientA.patientId },
    });

    const missing = await downloadExport(patient, 2_147_483_647, new WritableStream()).catch(
      (e: unknown) => e,
    );
    expect(missing).toMatchObject({ name: 'HdmsRestError', status: 404 });
  });
});
