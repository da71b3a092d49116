import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { freshDatabase } from '../helpers/db';
import { DB_KINDS, http, startTestServer, type TestServer } from '../helpers/server';
import { runToExit } from '../helpers/serverProcess';

/*
 * The operator commands as the npm scripts run them (`node server/scripts/run.mjs <command>`,
 * with tsx installed: the TypeScript source), on a database a running server uses: every command
 * answers --help, refuses an unknown option doing nothing, and exits 0 done / 1 failed / 2 usage.
 */

// Each command is a process of its own that loads the server's modules: seconds on a busy machine.
vi.setConfig({ testTimeout: 240_000 });

/** `npm run admin -- <args>`, `npm run db:migrate` and so on, without npm's own start-up. */
const run = (
  command: 'admin' | 'migrate' | 'seed',
  args: string[],
  env: Record<string, string>,
  input?: string,
) => runToExit(['server/scripts/run.mjs', command, ...args], env, process.execPath, { input });

/** The lines of `text` that are not blank. */
const lines = (text: string) => text.split('\n').filter((line) => line.trim() !== '');

describe('every command answers --help and refuses unknown options, doing nothing', () => {
  /** A database that must not come to exist: a command that opened it would create the file. */
  let untouched: { url: string; file: string; drop(): Promise<void> };
  beforeAll(async () => {
    const target = await freshDatabase('sqlite');
    untouched = { ...target, file: target.url.slice('sqlite:'.length) };
  });
  afterAll(() => untouched.drop());

  const HELP: [string, 'admin' | 'migrate' | 'seed', string[], RegExp][] = [
    ['db:migrate', 'migrate', ['up'], /^Usage: npm run db:migrate$/m],
    ['db:rollback', 'migrate', ['down'], /^Usage: npm run db:rollback -- \[options\]$/m],
    ['db:seed', 'seed', [], /^Usage: npm run db:seed$/m],
    ['admin', 'admin', [], /^Usage: npm run admin -- <command>/m],
    [
      'admin create-user',
      'admin',
      ['create-user'],
      /^Usage: npm run admin -- create-user <username> \[options\]/m,
    ],
    ['admin link', 'admin', ['link'], /^Usage: npm run admin -- link <username> \[options\]/m],
    [
      'admin reset-password',
      'admin',
      ['reset-password'],
      /^Usage: npm run admin -- reset-password \[username\]/m,
    ],
    ['admin disable', 'admin', ['disable'], /^Usage: npm run admin -- disable <username>/m],
    ['admin enable', 'admin', ['enable'], /^Usage: npm run admin -- enable <username>/m],
    ['admin reset-mfa', 'admin', ['reset-mfa'], /^Usage: npm run admin -- reset-mfa <username>/m],
  ];

  it.each(HELP)(
    '%s --help: exit 0, its usage and options, no database touched',
    async (_name, command, args, usage) => {
      const result = await run(command, [...args, '--help'], { DATABASE_URL: untouched.url });
      expect(result.code).toBe(0);
      expect(result.out).toMatch(usage);
      expect(result.out).toMatch(/--help/);
      // The one line that says what ran: the TypeScript source, since tsx is installed here.
      expect(lines(result.err)).toEqual([
        `(running the TypeScript source server/src/${command}.ts with tsx)`,
      ]);
      expect(existsSync(untouched.file)).toBe(false);
    },
  );

  // Every command reads its command line through the same parser (server/src/cli.ts): one of each kind.
  const UNKNOWN = HELP.filter(([name]) =>
    ['db:migrate', 'db:rollback', 'db:seed', 'admin', 'admin create-user'].includes(name),
  );
  it.each(UNKNOWN)(
    '%s --frobnicate: exit 2, the option named, no database touched',
    async (_name, command, args) => {
      const result = await run(command, [...args, '--frobnicate'], {
        DATABASE_URL: untouched.url,
      });
      expect(result.code).toBe(2);
      expect(result.out).toBe('');
      expect(result.err).toContain('Unknown option --frobnicate: nothing was done.');
      expect(existsSync(untouched.file)).toBe(false);
    },
  );

  it('tells an unknown admin command, a missing argument and a missing value apart, with exit 2', async () => {
    const env = { DATABASE_URL: untouched.url };
    const unknown = await run('admin', ['frobnicate'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('Unknown command "frobnicate".');
    const missing = await run('admin', ['disable'], env);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('Wrong number of arguments: 1 expected (<username>), 0 given.');
    const noValue = await run('admin', ['link', 'someone', '--doctor'], env);
    expect(noValue.code).toBe(2);
    expect(noValue.err).toContain('Option --doctor needs a value (<id>).');
    expect(existsSync(untouched.file)).toBe(false);
  });

  it('npm start answers --help and refuses an argument without starting', async () => {
    const help = await runToExit(['--import', 'tsx', 'server/src/index.ts', '--help'], {
      DATABASE_URL: untouched.url,
    });
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/^Usage: npm start\n/);
    expect(help.out).toContain('configured by environment variables');
    const refused = await runToExit(['--import', 'tsx', 'server/src/index.ts', '--port', '80'], {
      DATABASE_URL: untouched.url,
    });
    expect(refused.code).toBe(2);
    expect(refused.err).toContain('Unknown option --port: nothing was done.');
    expect(existsSync(untouched.file)).toBe(false);
  });

  it('runs through npm run as documented', async () => {
    const result = await runToExit(['run', '--silent', 'db:rollback', '--', '--help'], {}, 'npm');
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/^Usage: npm run db:rollback -- \[options\]/);
  });
});

describe.each(DB_KINDS)('admin commands on %s, while the server runs', (kind) => {
  let t: TestServer;
  let env: Record<string, string>;
  beforeAll(async () => {
    t = await startTestServer({}, { kind });
    env = { DATABASE_URL: t.target.url };
  });
  afterAll(() => t?.close());

  const login = (username: string, password: string) =>
    http(t.url, 'POST', '/login', { body: { username, password } });

  it('create-user makes an account that signs in, with the password from stdin, audited as the command line', async () => {
    const created = await run(
      'admin',
      ['create-user', 'dr.quill', '--email', 'quill@clinic.example', '--role', 'doctor', '--password-stdin'],
      env,
      'juniper-otter-bridge\n',
    );
    expect(created.code).toBe(0);
    expect(created.out).toMatch(/^Created doctor account "dr\.quill" \(id \d+, quill@clinic\.example\)\./);
    expect(created.out).toContain('npm run admin -- link dr.quill --doctor <id>');
    const signedIn = await login('dr.quill', 'juniper-otter-bridge');
    expect(signedIn.status).toBe(200);
    expect(signedIn.body.user).toMatchObject({ username: 'dr.quill', role: 'doctor' });
    const audit = await t.db.models.AuditEvent.findOne({
      where: { procedure: 'admin create-user', targetName: 'dr.quill' },
    });
    expect(audit).toMatchObject({ actorType: 'command', actorRole: 'operator', action: 'create' });
  });

  it('create-user --generate-password prints a password once that signs in', async () => {
    const created = await run(
      'admin',
      ['create-user', 'ops.lead', '--email', 'lead@clinic.example', '--role', 'admin', '--generate-password'],
      env,
    );
    expect(created.code).toBe(0);
    expect(created.out.match(/password: /g)).toHaveLength(1);
    const password = /password: (\S+)/.exec(created.out)![1]!;
    expect((await login('ops.lead', password)).body.user.role).toBe('admin');
  });

  it('create-user refuses a weak password, a password argument, a bad role or email, and a taken name, creating nothing', async () => {
    const before = await t.db.models.User.count();
    const create = (args: string[], input?: string) =>
      run('admin', ['create-user', 'dr.weak', '--email', 'weak@clinic.example', ...args], env, input);

    const common = await create(['--role', 'doctor', '--password-stdin'], 'password1\n');
    expect(common.code).toBe(2);
    expect(common.err).toContain('password is too common');
    const ownName = await create(['--role', 'doctor', '--password-stdin'], 'my-dr.weak-secret\n');
    expect(ownName.code).toBe(2);
    expect(ownName.err).toContain('password must not contain the username');
    const inline = await create(['--role', 'doctor', '--password', 'juniper-otter-bridge']);
    expect(inline.code).toBe(2);
    expect(inline.err).toMatch(
      /^--password is not taken: a password typed on the command line stays in the shell history/m,
    );
    const noPrompt = await create(['--role', 'doctor']);
    expect(noPrompt.code).toBe(2);
    expect(noPrompt.err).toContain('use --password-stdin or --generate-password');
    const role = await create(['--role', 'nurse', '--generate-password']);
    expect(role.code).toBe(2);
    expect(role.err).toContain('role must be one of admin, doctor, patient.');
    const email = await run(
      'admin',
      ['create-user', 'dr.weak', '--email', 'not-an-email', '--role', 'doctor', '--generate-password'],
      env,
    );
    expect(email.code).toBe(2);
    expect(email.err).toContain('email must be a valid email address.');
    expect(await t.db.models.User.count()).toBe(before);

    const taken = await run(
      'admin',
      ['create-user', 'ADMIN', '--email', 'other@clinic.example', '--role', 'doctor', '--generate-password'],
      env,
    );
    expect(taken.code).toBe(1);
    expect(lines(taken.err).at(-1)).toBe('That username is already taken: nothing was changed.');
    expect(await t.db.models.User.count()).toBe(before);
  });

  it('link connects accounts to their records as users.link does, and refuses what it refuses', async () => {
    const doctor = await t.db.models.Doctor.create({ name: 'Dr. Linked', specialization: 'Neurology' });
    const patient = await t.db.models.Patient.create({
      name: 'Linked Patient',
      age: 50,
      gender: 'F',
      doctorId: doctor.id,
    });
    for (const [username, role] of [
      ['dr.linked', 'doctor'],
      ['pat.linked', 'patient'],
    ] as const) {
      const made = await run(
        'admin',
        [
          'create-user',
          username,
          '--email',
          `${username}@clinic.example`,
          '--role',
          role,
          '--generate-password',
        ],
        env,
      );
      expect(made.code).toBe(0);
    }
    const toDoctor = await run('admin', ['link', 'dr.linked', '--doctor', String(doctor.id)], env);
    expect(toDoctor.code).toBe(0);
    expect(toDoctor.out.trim()).toBe(`"dr.linked" is linked to doctor ${doctor.id}.`);
    const toPatient = await run(
      'admin',
      ['link', 'pat.linked@clinic.example', '--patient', String(patient.id)],
      env,
    );
    expect(toPatient.code).toBe(0);
    expect((await t.db.models.User.findOne({ where: { usernameKey: 'dr.linked' } }))!.doctorId).toBe(
      doctor.id,
    );
    expect((await t.db.models.User.findOne({ where: { usernameKey: 'pat.linked' } }))!.patientId).toBe(
      patient.id,
    );

    const wrongKind = await run('admin', ['link', 'dr.linked', '--patient', String(patient.id)], env);
    expect(wrongKind.code).toBe(1);
    expect(wrongKind.err).toContain(
      'A doctor account can only be linked to a doctor record: nothing was changed.',
    );
    const missing = await run('admin', ['link', 'dr.linked', '--doctor', '999999'], env);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('Doctor not found: nothing was changed.');
    const both = await run('admin', ['link', 'dr.linked', '--doctor', '1', '--patient', '1'], env);
    expect(both.code).toBe(2);
    expect(both.err).toContain('Give exactly one of --doctor <id> or --patient <id>.');
    const nobody = await run('admin', ['link', 'nobody', '--doctor', String(doctor.id)], env);
    expect(nobody.code).toBe(1);
    expect(lines(nobody.err).at(-1)).toBe('No account "nobody" exists: nothing was changed.');
    expect((await t.db.models.User.findOne({ where: { usernameKey: 'dr.linked' } }))!.doctorId).toBe(
      doctor.id,
    );
  });

  it('disable ends every session of the account at once and stops its sign-in; enable lets it back', async () => {
    const made = await run(
      'admin',
      ['create-user', 'pat.gone', '--email', 'gone@clinic.example', '--role', 'patient', '--password-stdin'],
      env,
      'saffron-cobble-harbor',
    );
    expect(made.code).toBe(0);
    const token = (await login('pat.gone', 'saffron-cobble-harbor')).body.token as string;
    expect((await http(t.url, 'GET', '/patients', { token })).status).toBe(200);

    const disabled = await run('admin', ['disable', 'pat.gone'], env);
    expect(disabled.code).toBe(0);
    expect(disabled.out).toContain('"pat.gone" is disabled: every session of it was ended');
    expect((await http(t.url, 'GET', '/patients', { token })).status).toBe(401);
    expect((await login('pat.gone', 'saffron-cobble-harbor')).status).toBe(401);

    const enabled = await run('admin', ['enable', 'pat.gone'], env);
    expect(enabled.code).toBe(0);
    expect((await login('pat.gone', 'saffron-cobble-harbor')).status).toBe(200);
  });

  it('reset-mfa and reset-password still work as before', async () => {
    const mfa = await run('admin', ['reset-mfa', 'admin'], env);
    expect(mfa.code).toBe(0);
    expect(mfa.out).toContain('"admin" had no MFA turned on');
    const reset = await runToExit(['run', '--silent', 'admin:reset-password', '--', 'admin'], env, 'npm');
    expect(reset.code).toBe(0);
    const password = /password: (\S+)/.exec(reset.out)![1]!;
    expect((await login('admin', password)).status).toBe(200);
  });
});

describe.each(DB_KINDS)('db:rollback on %s', (kind) => {
  it('names the migration it would revert and changes nothing without --yes; reverts it with --yes', async () => {
    const target = await freshDatabase(kind);
    try {
      const env = { DATABASE_URL: target.url };
      const migrated = await run('migrate', ['up'], env);
      expect(migrated.code).toBe(0);
      const names = migrated.out
        .replace(/^Applied: /, '')
        .trim()
        .split(', ');
      const last = names.at(-1)!;
      expect(last).toMatch(/^\d{4}_/);

      const asked = await run('migrate', ['down'], env);
      expect(asked.code).toBe(2);
      expect(asked.out).toBe('');
      expect(asked.err).toContain(
        `db:rollback would revert ${last} (the last of ${names.length} applied migrations)`,
      );
      expect(asked.err).toContain('npm run db:rollback -- --yes');
      expect((await run('migrate', ['up'], env)).out.trim()).toBe('Database is up to date');

      const reverted = await run('migrate', ['down', '--yes'], env);
      expect(reverted.code).toBe(0);
      expect(reverted.out.trim()).toBe(`Reverted: ${last}`);
      expect((await run('migrate', ['up'], env)).out.trim()).toBe(`Applied: ${last}`);
    } finally {
      await target.drop();
    }
  });
});

describe('a command that cannot reach its database', () => {
  it('fails with exit 1 and one line naming DATABASE_URL without its password', async () => {
    const result = await run('seed', [], { DATABASE_URL: 'mysql://root:s3cret@127.0.0.1:1/hdms' });
    expect(result.code).toBe(1);
    const [, line, ...more] = lines(result.err);
    expect(more).toEqual([]);
    expect(line).toMatch(/DATABASE_URL mysql:\/\/root:\*\*\*@127\.0\.0\.1:1\/hdms: .*ECONNREFUSED/);
    expect(result.out + result.err).not.toContain('s3cret');
  });
});
