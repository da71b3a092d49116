import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DB_KINDS, freshDatabase } from '../helpers/db';
import { createAccount, totpCode } from '../../server/src/auth/index';
import { ADMIN, http, startTestServer, trpcClient } from '../helpers/server';
import { runToExit, startServerProcess } from '../helpers/serverProcess';

const run = promisify(execFile);
const SDK_DIR = join(process.cwd(), 'client-sdk');
const SDK_VERSION: string = JSON.parse(readFileSync(join(SDK_DIR, 'package.json'), 'utf8')).version;
const TARBALL = `hdms-client-${SDK_VERSION}.tgz`;
/** What the published declarations may import: the SDK's dependencies and @trpc/client's peer. */
const ALLOWED_IMPORTS = ['@trpc/client', '@trpc/server', 'superjson'];

/** The environment for npm and node in the consumer: nothing inherited from this repo's npm run. */
function consumerEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name) && name !== 'NODE_OPTIONS'),
  );
  return { ...env, ...extra };
}

/** Runs a command; resolves with its exit code and output instead of throwing on failure. */
async function attempt(
  command: string,
  args: string[],
  cwd: string,
  env = consumerEnv(),
): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(command, args, { cwd, env, maxBuffer: 32 * 1024 * 1024 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof failed.code === 'number' ? failed.code : 1,
      output: `${failed.stdout}${failed.stderr}`,
    };
  }
}

/** The consumer's own TypeScript compiler (not the repo's). */
function tsc(dir: string, project: string) {
  return attempt(
    process.execPath,
    [join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project],
    dir,
  );
}

/** A consumer's program: correct calls whose inferred types it relies on, run against a live server. */
const CONSUMER = `
import { EventSource } from 'eventsource';
import {
  createClient,
  isTRPCClientError,
  MfaRequired,
  signIn,
  signInMfa,
  TRPCClientError,
  type RouterInputs,
  type RouterOutputs,
} from '@hdms/client';

const [url = '', username = '', password = '', mfaUsername = '', mfaPassword = '', ...recoveryCodes] =
  process.argv.slice(2);

async function codeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'OK';
  } catch (error) {
    if (isTRPCClientError(error)) return error.data?.code ?? 'NO_CODE';
    throw error;
  }
}

const credentials: RouterInputs['auth']['login'] = { username, password };
const { client, token, expiresAt, user } = await signIn(url, credentials.username, credentials.password);
const userId: number = user.id;

const me: RouterOutputs['auth']['me'] = await client.auth.me.query();
const meId: number = me.id;
const role: 'admin' | 'doctor' | 'patient' = me.role;
const createdAt: Date = me.createdAt;

const second = await createClient({ url }).auth.login.mutate(credentials);
if (second.mfaRequired) throw new Error('this account has no MFA: login answers a session');
const secondToken: string = second.token;
const secondExpiry: Date = second.expiresAt;

// An account with MFA: signIn throws MfaRequired, whose complete(code) finishes the sign-in, as
// signInMfa does from the challenge alone.
async function mfaSignIn(finish: (error: MfaRequired) => ReturnType<typeof signIn>) {
  try {
    await signIn(url, mfaUsername, mfaPassword);
    return null;
  } catch (error) {
    if (!(error instanceof MfaRequired)) throw error;
    const challenge: string = error.challenge;
    const until: Date = error.expiresAt;
    const done = await finish(error);
    const mfaMe = await done.client.auth.me.query();
    const enabled: boolean = mfaMe.mfaEnabled;
    return { name: error.name, challenge: challenge.length, untilIsDate: until instanceof Date, userId: done.user.id, enabled };
  }
}
const mfa = {
  completed: await mfaSignIn((error) => error.complete(recoveryCodes[0] ?? '')),
  second: await mfaSignIn((error) => signInMfa(url, error.challenge, recoveryCodes[1] ?? '')),
};

let badToken: unknown;
try {
  await createClient({ url, token: 'not-a-real-session-token' }).auth.me.query();
} catch (error) {
  badToken = error;
}

const created = await client.doctors.create.mutate({ name: 'Dr. Grace Hopper', specialization: 'Neurology' });
if (Array.isArray(created)) throw new Error('one doctor in, one doctor out');
const doctorId: number = created.id;
await client.patients.create.mutate({ name: 'Alan Turing', age: 41, gender: 'male', doctorId, roomNumber: '12' });
const doctors = await client.doctors.list.query({ limit: 10 });
const patients = await client.patients.list.query({ limit: 10 });
const doctorNames: string[] = doctors.items.map((d) => d.name);
const patientNames: string[] = patients.items.map((p) => p.name);
const nextCursor: number | null = doctors.nextCursor;

const seen: { url: string; authorization: string | null; consumer: string | null }[] = [];
const recording: typeof fetch = (input, init) => {
  const headers = new Headers(init?.headers);
  seen.push({ url: String(input), authorization: headers.get('authorization'), consumer: headers.get('x-consumer') });
  return fetch(input, init);
};
const custom = createClient({ url: url + '/', token, fetch: recording, headers: async () => ({ 'x-consumer': 'sdk-e2e' }) });
const [again, page] = await Promise.all([custom.auth.me.query(), custom.doctors.list.query({ limit: 1 })]);

// Subscriptions go over server-sent events, with the token: the typed events.onChange, through
// the eventsource package's EventSource (Node 20 has none), recorded as the SDK opens it.
const eventSources: { url: string; authorization: string | null; withCredentials: boolean }[] = [];
class RecordingEventSource extends EventSource {
  constructor(url: string | URL, init?: { withCredentials?: boolean; headers?: Record<string, string> } & object) {
    eventSources.push({
      url: String(url),
      authorization: init?.headers?.authorization ?? null,
      withCredentials: init?.withCredentials === true,
    });
    super(url, init);
  }
}
const subscriber = createClient({ url, token, EventSource: RecordingEventSource });
const received: { id: string; type: string; entityId: number; at: Date }[] = [];
let started!: () => void;
const ready = new Promise<void>((resolve) => (started = resolve));
let arrived!: () => void;
const firstEvent = new Promise<void>((resolve) => (arrived = resolve));
const subscription = subscriber.events.onChange.subscribe(
  { types: ['doctor.created'] },
  {
    onStarted: () => started(),
    onData: ({ id, data }) => {
      received.push({ id, type: data.type, entityId: data.entityId, at: data.at });
      arrived();
    },
    onError: (error) => console.error(error.message),
  },
);
await ready;
const announced = await client.doctors.create.mutate({ name: 'Dr. Live Event', specialization: 'Oncology' });
// The event, or nothing after 5 s (then liveEvent is null and the test says so).
let giveUp: ReturnType<typeof setTimeout> | undefined;
await Promise.race([firstEvent, new Promise<void>((resolve) => (giveUp = setTimeout(resolve, 5_000)))]);
clearTimeout(giveUp);
subscription.unsubscribe();
const liveEvent = received[0]
  ? { type: received[0].type, matches: received[0].entityId === announced.id, atIsDate: received[0].at instanceof Date, tracked: received[0].id === String(Number(received[0].id)) }
  : null;

await client.auth.logout.mutate();

console.log(
  JSON.stringify({
    token,
    userId,
    meId,
    username: me.username,
    role,
    createdAtIsDate: createdAt instanceof Date && !Number.isNaN(createdAt.getTime()),
    expiresAtIsDate: expiresAt instanceof Date && expiresAt.getTime() > Date.now(),
    secondSessionIsNew: secondToken !== token && secondExpiry instanceof Date,
    badToken: {
      isClientError: badToken instanceof TRPCClientError,
      guarded: isTRPCClientError(badToken),
      code: isTRPCClientError(badToken) ? badToken.data?.code : null,
    },
    doctorCreatedAtIsDate: created.createdAt instanceof Date,
    doctorNames,
    patientNames,
    nextCursor,
    batched: { seen, again: again.id, page: page.items.length },
    eventSources,
    liveEvent,
    mfa,
    afterLogout: await codeOf(client.auth.me.query()),
  }),
);
`;

/** A consumer's mistakes, one per line, each with what tsc must say about it. */
const MISTAKES: { code: string; error: RegExp }[] = [
  { code: 'await client.auth.mee.query();', error: /TS2339: Property 'mee' does not exist/ },
  { code: 'await client.auth.me.mutate();', error: /TS2339: Property 'mutate' does not exist/ },
  {
    code: "await client.auth.login.mutate({ usename: 'admin', password: 'x' });",
    error:
      /TS2561: Object literal may only specify known properties, but 'usename' does not exist in type '\{ username: string; password: string; \}'/,
  },
  {
    code: "await client.doctors.list.query({ limit: 'ten' });",
    error: /TS2322: Type 'string' is not assignable to type 'number'/,
  },
  {
    code: 'const name: string = (await client.auth.me.query()).usernme;',
    error: /TS2551: Property 'usernme' does not exist on type '.*'\. Did you mean 'username'\?/,
  },
  {
    code: 'const role: number = (await client.auth.me.query()).role;',
    // tsc names a union of string literals by its base type here
    error: /TS2322: Type 'string' is not assignable to type 'number'/,
  },
];
/** A browser app's use of the SDK: compiled with no Node types and no ESNext.Disposable lib. */
const BROWSER_CONSUMER = `
import { createClient, signIn } from '@hdms/client';
const client = createClient({ url: location.origin });
const patients = await client.patients.list.query({ limit: 10 });
const names: string[] = patients.items.map((p) => p.name);
export const signedIn = signIn;
export { names };
`;

const MISTAKES_PREAMBLE = [
  "import { createClient } from '@hdms/client';",
  "const client = createClient({ url: 'http://127.0.0.1:3000' });",
];

describe('the published @hdms/client package, as a consumer installs it', () => {
  let dir: string;
  /** The consumer's compilation (emitting out/consumer.js), and the check of its mistakes. */
  let built: { code: number; output: string };
  let mistakesChecked: { code: number; output: string };
  /** A browser consumer's check: lib ES2022 and DOM only, no @types/node, skipLibCheck off. */
  let browserBuilt: { code: number; output: string };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hdms-sdk-consumer-'));
    const packed = await attempt('npm', ['pack', '--pack-destination', dir], SDK_DIR);
    if (packed.code !== 0) throw new Error(`npm pack failed:\n${packed.output}`);

    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({ name: 'hdms-sdk-consumer', private: true, type: 'module' }, null, 2),
    );
    const compilerOptions = {
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      // @trpc/client's own declarations name DOM types (RequestInfo) and @trpc/server's name
      // Disposable; with those libs, skipLibCheck can stay off so the SDK's .d.ts is checked too.
      lib: ['ES2023', 'ESNext.Disposable', 'DOM'],
      types: ['node'],
      strict: true,
      noUncheckedIndexedAccess: true,
      skipLibCheck: false,
      outDir: 'out',
    };
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['consumer.ts'] }));
    writeFileSync(
      join(dir, 'tsconfig.mistakes.json'),
      JSON.stringify({
        extends: './tsconfig.json',
        compilerOptions: { noEmit: true },
        files: ['mistakes.ts'],
      }),
    );
    // A browser app: no @types/node and no ESNext.Disposable in its lib, type checks still on.
    writeFileSync(
      join(dir, 'tsconfig.browser.json'),
      JSON.stringify({
        compilerOptions: { ...compilerOptions, lib: ['ES2022', 'DOM'], types: [], noEmit: true },
        files: ['browser.ts'],
      }),
    );
    writeFileSync(join(dir, 'browser.ts'), BROWSER_CONSUMER);
    writeFileSync(join(dir, 'consumer.ts'), CONSUMER);
    writeFileSync(
      join(dir, 'mistakes.ts'),
      [...MISTAKES_PREAMBLE, ...MISTAKES.map((m) => m.code), 'export {};', ''].join('\n'),
    );

    const installed = await attempt(
      'npm',
      [
        'install',
        `./${TARBALL}`,
        'typescript@5.9',
        '@types/node@20',
        'eventsource@4',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
      ],
      dir,
    );
    if (installed.code !== 0) throw new Error(`npm install in the consumer failed:\n${installed.output}`);
    // Both compilations at once (each is single-threaded); the tests below read their results.
    [built, mistakesChecked, browserBuilt] = await Promise.all([
      tsc(dir, 'tsconfig.json'),
      tsc(dir, 'tsconfig.mistakes.json'),
      tsc(dir, 'tsconfig.browser.json'),
    ]);
  }, 600_000);

  afterAll(async () => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('packs the ESM build and one self-contained index.d.ts, and nothing of the server', async () => {
    const listed = await attempt('tar', ['-tzf', TARBALL], dir);
    expect(listed.output.trim().split('\n').sort()).toEqual([
      'package/README.md',
      'package/bin/hdms.js',
      'package/dist/cli.js',
      'package/dist/index.d.ts',
      'package/dist/index.js',
      'package/package.json',
    ]);

    const installedSdk = join(dir, 'node_modules', '@hdms', 'client');
    const dts = readFileSync(join(installedSdk, 'dist', 'index.d.ts'), 'utf8');
    const imported = [
      ...dts.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|declare\s+module\s+)['"]([^'"]+)['"]/g),
    ].map((m) => m[1]);
    expect(imported.length).toBeGreaterThan(0);
    // A package or one of its subpaths (tracked subscriptions are typed by @trpc/server itself).
    const packageOf = (specifier: string) =>
      specifier
        .split('/')
        .slice(0, specifier.startsWith('@') ? 2 : 1)
        .join('/');
    expect(imported.filter((specifier) => !ALLOWED_IMPORTS.includes(packageOf(specifier!)))).toEqual([]);
    // No reference to types or files a consumer lacks; only TypeScript's own esnext.disposable lib,
    // which @trpc/server's declarations need (see the browser consumer below).
    expect([...dts.matchAll(/\/\/\/\s*<reference[^>]*>/g)].map((m) => m[0])).toEqual([
      '/// <reference lib="esnext.disposable" />',
    ]);
    expect(dts).toContain('declare function createClient(');
    expect(dts).toContain('declare function signIn(');

    const js = readFileSync(join(installedSdk, 'dist', 'index.js'), 'utf8');
    const jsImports = [...js.matchAll(/\bfrom\s+['"]([^'"]+)['"]/g)].map((m) => m[1]);
    // `@trpc/server/observable` comes from the peer dependency @trpc/client itself loads.
    expect(jsImports.sort()).toEqual(['@trpc/client', '@trpc/server/observable', 'superjson']);

    const manifest = JSON.parse(readFileSync(join(installedSdk, 'package.json'), 'utf8'));
    // The library's two, and the `hdms` command's three (which index.js never imports).
    expect(Object.keys(manifest.dependencies).sort()).toEqual([
      '@trpc/client',
      'cli-progress',
      'commander',
      'eventsource',
      'superjson',
    ]);
    expect(manifest.exports['.']).toEqual({ types: './dist/index.d.ts', import: './dist/index.js' });

    for (const internal of ['@hdms/server', '@hdms/db', 'sequelize', 'hono', 'lucia', 'zod', 'pino']) {
      expect(existsSync(join(dir, 'node_modules', internal)), `${internal} installed`).toBe(false);
    }
  });

  it('installs the hdms command, which answers --help', async () => {
    const help = await attempt(join(dir, 'node_modules', '.bin', 'hdms'), ['--help'], dir);
    expect(help.code, help.output).toBe(0);
    expect(help.output).toMatch(/^Usage: hdms \[options\] \[command\]/);
    const unknown = await attempt(join(dir, 'node_modules', '.bin', 'hdms'), ['jobs', '--bogus'], dir);
    expect(unknown.code).toBe(2);
  });

  it('type-checks correct calls, with procedure inputs and outputs inferred', () => {
    expect(built.output).toBe('');
    expect(built.code).toBe(0);
  });

  it('type-checks in a browser app with skipLibCheck off, no Node types and no ESNext.Disposable lib', () => {
    // Before the declarations referenced the esnext.disposable lib: TS2304 Cannot find name 'Disposable'.
    expect(browserBuilt.output).toBe('');
    expect(browserBuilt.code).toBe(0);
  });

  it('rejects misspelled procedures and fields and wrongly typed inputs, naming them', () => {
    expect(mistakesChecked.code).not.toBe(0);
    const errors = mistakesChecked.output
      .split('\n')
      .filter((line) => /^mistakes\.ts\(\d+,\d+\): error/.test(line));
    const byLine = new Map(errors.map((line) => [Number(/\((\d+),/.exec(line)![1]), line]));
    MISTAKES.forEach((mistake, index) => {
      const line = MISTAKES_PREAMBLE.length + index + 1;
      expect(byLine.get(line), `line ${line}: ${mistake.code}`).toMatch(mistake.error);
    });
    expect(errors).toHaveLength(MISTAKES.length);
  });

  it.each(DB_KINDS)(
    'signs in, calls procedures and gets typed errors and real Dates from a live server on %s',
    async (kind) => {
      expect(built.code, built.output).toBe(0);
      const t = await startTestServer({}, { kind });
      try {
        // An account with MFA on, and two of its recovery codes, for the consumer's MFA sign-in.
        const mfaUser = { username: 'sdk_mfa', password: 'sdk-mfa-long-passphrase' };
        const { id: mfaId } = await createAccount(t.db, {
          ...mfaUser,
          email: 'sdk.mfa@example.org',
          role: 'patient',
        });
        const session = await trpcClient(t.url).auth.login.mutate(mfaUser);
        if (session.mfaRequired) throw new Error('no MFA yet');
        const own = trpcClient(t.url, session.token);
        const { secret } = await own.auth.mfa.enroll.mutate({ password: mfaUser.password });
        const { recoveryCodes } = await own.auth.mfa.confirm.mutate({ code: totpCode(secret, Date.now()) });
        const ran = await attempt(
          process.execPath,
          [
            join(dir, 'out', 'consumer.js'),
            t.url,
            ADMIN.username,
            ADMIN.password,
            mfaUser.username,
            mfaUser.password,
            ...recoveryCodes.slice(0, 2),
          ],
          dir,
        );
        expect(ran.code, ran.output).toBe(0);
        const report = JSON.parse(ran.output.trim().split('\n').pop()!);

        expect(report).toMatchObject({
          username: ADMIN.username,
          role: 'admin',
          createdAtIsDate: true,
          expiresAtIsDate: true,
          secondSessionIsNew: true,
          badToken: { isClientError: true, guarded: true, code: 'UNAUTHORIZED' },
          doctorCreatedAtIsDate: true,
          doctorNames: ['Dr. Grace Hopper'],
          patientNames: ['Alan Turing'],
          nextCursor: null,
          afterLogout: 'UNAUTHORIZED',
        });
        const signedInWithMfa = {
          name: 'MfaRequired',
          challenge: 64,
          untilIsDate: true,
          userId: mfaId,
          enabled: true,
        };
        expect(report.mfa).toEqual({ completed: signedInWithMfa, second: signedInWithMfa });
        expect(report.meId).toBe(report.userId);

        // Two calls made together went out as one batched request to <url>/trpc, with the bearer
        // token and the extra header, through the consumer's own fetch.
        expect(report.batched.seen).toHaveLength(1);
        const [request] = report.batched.seen;
        expect(request.url).toMatch(new RegExp(`^${t.url}/trpc/auth\\.me,doctors\\.list\\?batch=1`));
        expect(request.authorization).toBe(`Bearer ${report.token}`);
        expect(request.consumer).toBe('sdk-e2e');
        expect(report.batched).toMatchObject({ again: report.meId, page: 1 });

        expect(report.eventSources).toHaveLength(1);
        const [source] = report.eventSources;
        expect(source.url).toMatch(new RegExp(`^${t.url}/trpc/events\\.onChange(\\?|$)`));
        expect(source).toMatchObject({ authorization: `Bearer ${report.token}`, withCredentials: true });
        // The subscription received the doctor created meanwhile, typed, with its tracked id.
        expect(report.liveEvent).toEqual({
          type: 'doctor.created',
          matches: true,
          atIsDate: true,
          tracked: true,
        });
      } finally {
        await t.close();
      }
    },
    120_000,
  );

  // The README's quick start, client-sdk/examples/quick-start.mjs: plain JavaScript run by node,
  // importing '@hdms/client' by name (this repo's workspace package, i.e. the dist/ that
  // beforeAll's `npm pack` built), against a server process started as `npm start` starts it.
  it('runs the quick-start snippet with plain node against a running server', async () => {
    expect(existsSync(join(SDK_DIR, 'dist', 'index.js')), 'client-sdk/dist built by npm pack').toBe(true);
    const target = await freshDatabase('sqlite');
    const admin = { username: 'chief', password: 'orchard-compass-17' };
    const server = await startServerProcess({
      DATABASE_URL: target.url,
      ADMIN_USERNAME: admin.username,
      ADMIN_PASSWORD: admin.password,
    });
    try {
      const login = await http(server.url, 'POST', '/login', { body: admin });
      expect(login.status).toBe(200);
      for (const [name, specialization] of [
        ['Dr. Ada Byron', 'Cardiology'],
        ['Dr. Bo Chen', 'Surgery'],
      ]) {
        const created = await http(server.url, 'POST', '/doctors', {
          token: login.body.token,
          body: { name, specialization },
        });
        expect(created.status, JSON.stringify(created.body)).toBe(201);
      }

      const snippet = join('client-sdk', 'examples', 'quick-start.mjs');
      const env = { HDMS_URL: server.url, HDMS_USERNAME: admin.username };
      const ran = await runToExit([snippet], { ...env, HDMS_PASSWORD: admin.password });
      expect(ran.err).toBe('');
      expect(ran.code, ran.out).toBe(0);
      expect(ran.out.trim().split('\n')).toEqual([
        'Signed in as chief (admin).',
        '#1 Dr. Ada Byron (Cardiology)',
        '#2 Dr. Bo Chen (Surgery)',
        '2 doctor(s) on the first page.',
        'No doctor #2147483647: NOT_FOUND (Doctor not found).',
        'Signed out.',
      ]);

      // A failure is one line on stderr and a non-zero exit code.
      const refused = await runToExit([snippet], { ...env, HDMS_PASSWORD: 'not-the-password' });
      expect(refused.code).toBe(1);
      expect(refused.out).toBe('');
      expect(refused.err.trim().split('\n')).toEqual([
        expect.stringMatching(/^HDMS quick start failed: UNAUTHORIZED: /),
      ]);
    } finally {
      server.child.kill('SIGTERM');
      if (server.child.exitCode === null) await once(server.child, 'exit');
      await target.drop();
    }
  }, 90_000);
});

describe('the quick-start snippet in the READMEs', () => {
  it('is client-sdk/examples/quick-start.mjs verbatim, in both', () => {
    const snippet = readFileSync(join(SDK_DIR, 'examples', 'quick-start.mjs'), 'utf8');
    for (const readme of [join(SDK_DIR, '..', 'README.md'), join(SDK_DIR, 'README.md')]) {
      expect(readFileSync(readme, 'utf8'), readme).toContain(`\`\`\`js\n${snippet}\`\`\`\n`);
    }
  });
});
