import { Op } from '@hdms/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES } from '../server/src/domain/access/policy';
import { createAccount, totpCode } from '../server/src/auth/index';
import type { AnyTRPCProcedure } from '@trpc/server';
import { type AppRouter, appRouter } from '../server/src/trpc/appRouter';
import { outcome, sessionOf } from './helpers/callers';
import { lastAuditId, serviceToken } from './helpers/clinical';
import { subscribe } from './helpers/events';
import { isFinished, waitForJob } from './helpers/jobs';
import {
  ADMIN,
  adminToken,
  http,
  signedInUser,
  type TestServer,
  startTestServer,
  trpcClient,
} from './helpers/server';
import { quietPeriod, waitFor } from './helpers/wait';

/*
 * The access matrix: every procedure of appRouter, called over HTTP as every kind of caller, with
 * the exact outcome each must get. The target patient is always P_A: doctor A's patient, whose
 * account is `patient`; doctor C holds P_A's consent and doctor E an open emergency access to P_A
 * (the other ways a doctor reaches a patient). A procedure missing from the matrix fails the
 * suite, so a new procedure cannot ship without its row.
 */

type Client = ReturnType<typeof trpcClient>;

/** Every kind of caller, in the matrix's column order. */
const ACTORS = [
  'admin',
  'doctor',
  'otherDoctor',
  'patient',
  'otherPatient',
  'unlinkedDoctor',
  'unlinkedPatient',
  'anonymous',
  'service',
  'consentDoctor',
  'emergencyDoctor',
] as const;
type ActorName = (typeof ACTORS)[number];

type Outcome = 'OK' | 'UNAUTHORIZED' | 'FORBIDDEN' | 'NOT_FOUND' | 'BAD_REQUEST' | 'CONFLICT';
type Row = Record<ActorName, Outcome>;

/** The dotted paths of every procedure in a router record (`auth.mfa.enroll` in a nested router). */
type PathsOf<R, Prefix extends string = ''> = {
  [K in keyof R & string]: R[K] extends AnyTRPCProcedure ? `${Prefix}${K}` : PathsOf<R[K], `${Prefix}${K}.`>;
}[keyof R & string];

/** `router.procedure` for every procedure of the API. */
type ProcedurePath = PathsOf<AppRouter['_def']['record']>;

const OK = 'OK';
const UA = 'UNAUTHORIZED';
const FB = 'FORBIDDEN';
const NF = 'NOT_FOUND';
/** A batch names an out-of-scope patient as a bad item, exactly as an absent one. */
const BR = 'BAD_REQUEST';
/** Already so: emergency access to a patient the doctor reaches already. */
const CF = 'CONFLICT';

/** One row of the matrix, in `ACTORS` order. */
function row(...outcomes: Outcome[]): Row {
  if (outcomes.length !== ACTORS.length) throw new Error(`a row needs ${ACTORS.length} outcomes`);
  return Object.fromEntries(ACTORS.map((actor, i) => [actor, outcomes[i]!])) as Row;
}

/**
 * doctor = doctor A (target: own patient P_A); otherDoctor = doctor B; patient = P_A's account
 * (target: self); otherPatient = P_B's account; unlinked accounts have no record; service = a
 * token holding every scope; consentDoctor = doctor C, whom P_A gave consent; emergencyDoctor =
 * doctor E, with an open emergency access to P_A. C and E have the care team's rights over P_A
 * but not its admission data (age: FORBIDDEN), and E no export.
 */
// biome-ignore format: the matrix reads as a table
const MATRIX: Record<ProcedurePath, Row> = {
  //                         admin doctor otherDr patient otherPt unlDr unlPt anon service consDr emDr
  'auth.register':        row(OK,   OK,    OK,     OK,     OK,     OK,   OK,   OK,  OK,      OK,  OK),
  'auth.login':           row(OK,   OK,    OK,     OK,     OK,     OK,   OK,   OK,  OK,      OK,  OK),
  'auth.logout':          row(OK,   OK,    OK,     OK,     OK,     OK,   OK,   UA,  FB,      OK,  OK),
  'auth.me':              row(OK,   OK,    OK,     OK,     OK,     OK,   OK,   UA,  FB,      OK,  OK),
  'auth.changePassword':  row(OK,   OK,    OK,     OK,     OK,     OK,   OK,   UA,  FB,      OK,  OK),
  // The second step of signing in: public, like auth.login (the probe signs in a fresh MFA account).
  'auth.loginMfa':        row(OK,   OK,    OK,     OK,     OK,     OK,   OK,   OK,  OK,      OK,  OK),
  // A person's own second factor: never a service's.
  'auth.mfa.enroll':      row(OK,   OK,    OK,     OK,     OK,     OK,   OK,   UA,  FB,      OK,  OK),
  'auth.mfa.confirm':     row(OK,   OK,    OK,     OK,     OK,     OK,   OK,   UA,  FB,      OK,  OK),
  'auth.mfa.disable':     row(OK,   OK,    OK,     OK,     OK,     OK,   OK,   UA,  FB,      OK,  OK),
  'users.list':           row(OK,   FB,    FB,     FB,     FB,     FB,   FB,   UA,  FB,      FB,  FB),
  'users.link':           row(OK,   FB,    FB,     FB,     FB,     FB,   FB,   UA,  FB,      FB,  FB),
  'users.setDisabled':    row(OK,   FB,    FB,     FB,     FB,     FB,   FB,   UA,  FB,      FB,  FB),
  'users.resetMfa':       row(OK,   FB,    FB,     FB,     FB,     FB,   FB,   UA,  FB,      FB,  FB),
  'doctors.create':       row(OK,   FB,    FB,     FB,     FB,     FB,   FB,   UA,  OK,      FB,  FB),
  'doctors.createMany':   row(OK,   FB,    FB,     FB,     FB,     FB,   FB,   UA,  OK,      FB,  FB),
  'doctors.list':         row(OK,   OK,    OK,     OK,     OK,     OK,   OK,   UA,  OK,      OK,  OK),
  'doctors.get':          row(OK,   OK,    OK,     OK,     OK,     OK,   OK,   UA,  OK,      OK,  OK),
  'doctors.update':       row(OK,   FB,    FB,     FB,     FB,     FB,   FB,   UA,  OK,      FB,  FB),
  'patients.create':      row(OK,   OK,    FB,     FB,     FB,     FB,   FB,   UA,  OK,      FB,  FB),
  'patients.createMany':  row(OK,   OK,    FB,     FB,     FB,     FB,   FB,   UA,  OK,      FB,  FB),
  'patients.list':        row(OK,   OK,    OK,     OK,     OK,     OK,   OK,   UA,  OK,      OK,  OK),
  'patients.get':         row(OK,   OK,    NF,     OK,     NF,     NF,   NF,   UA,  OK,      OK,  OK),
  'patients.update':      row(OK,   OK,    NF,     FB,     FB,     NF,   FB,   UA,  OK,      FB,  FB),
  'patients.updateAsync': row(OK,   OK,    NF,     FB,     FB,     NF,   FB,   UA,  OK,      FB,  FB),
  'patients.history':     row(OK,   OK,    NF,     OK,     NF,     NF,   NF,   UA,  OK,      OK,  OK),
  'patients.import':      row(OK,   FB,    FB,     FB,     FB,     FB,   FB,   UA,  FB,      FB,  FB),
  'patients.export':      row(FB,   OK,    NF,     OK,     NF,     NF,   NF,   UA,  FB,      OK,  FB),
  'checkHistory.create':  row(OK,   OK,    NF,     FB,     FB,     NF,   FB,   UA,  OK,      OK,  OK),
  'checkHistory.createMany': row(OK, OK,   BR,     FB,     FB,     BR,   FB,   UA,  OK,      OK,  OK),
  'checkHistory.list':    row(OK,   OK,    NF,     OK,     NF,     NF,   NF,   UA,  OK,      OK,  OK),
  'notes.create':         row(FB,   OK,    NF,     FB,     FB,     NF,   FB,   UA,  FB,      OK,  OK),
  'notes.list':           row(FB,   OK,    NF,     OK,     NF,     NF,   NF,   UA,  FB,      OK,  OK),
  'audit.list':           row(OK,   FB,    FB,     FB,     FB,     FB,   FB,   UA,  OK,      FB,  FB),
  'audit.myAccess':       row(FB,   FB,    FB,     OK,     OK,     FB,   OK,   UA,  FB,      FB,  FB),
  'serviceTokens.create': row(OK,   FB,    FB,     FB,     FB,     FB,   FB,   UA,  FB,      FB,  FB),
  'serviceTokens.list':   row(OK,   FB,    FB,     FB,     FB,     FB,   FB,   UA,  FB,      FB,  FB),
  'serviceTokens.revoke': row(OK,   FB,    FB,     FB,     FB,     FB,   FB,   UA,  FB,      FB,  FB),
  // The target job is doctor A's export of P_A: its starter and admins see it, nobody else.
  'jobs.get':             row(OK,   OK,    NF,     NF,     NF,     NF,   NF,   UA,  NF,      NF,  NF),
  'jobs.list':            row(OK,   OK,    OK,     OK,     OK,     OK,   OK,   UA,  OK,      OK,  OK),
  // A fresh job of doctor A's (failed for retry, queued for cancel): as `jobs.get`.
  'jobs.retry':           row(OK,   OK,    NF,     NF,     NF,     NF,   NF,   UA,  NF,      NF,  NF),
  'jobs.cancel':          row(OK,   OK,    NF,     NF,     NF,     NF,   NF,   UA,  NF,      NF,  NF),
  // Everyone may subscribe; what each receives is decided per event (the probe checks it).
  'events.onChange':      row(OK,   OK,    OK,     OK,     OK,     OK,   OK,   UA,  OK,      OK,  OK),
  // Emergency access to P_A: opened by a doctor outside its care (doctor B, who ends it again at
  // once); those who reach P_A already are told so. Ended by the doctor holding one (B opens one
  // first; E opens its own again afterwards).
  'access.emergency':     row(FB,   CF,    OK,     FB,     FB,     FB,   FB,   UA,  FB,      CF,  CF),
  'access.endEmergency':  row(FB,   NF,    OK,     FB,     FB,     FB,   FB,   UA,  FB,      NF,  OK),
  'audit.emergencyAccess': row(OK,   FB,    FB,     FB,     FB,     FB,   FB,   UA,  OK,      FB,  FB),
  // Consent: P_A (and P_B) give and revoke grants of their own; everyone with a record lists theirs.
  'consent.grant':        row(FB,   FB,    FB,     OK,     OK,     FB,   FB,   UA,  FB,      FB,  FB),
  'consent.revoke':       row(FB,   FB,    FB,     OK,     NF,     FB,   NF,   UA,  FB,      FB,  FB),
  'consent.list':         row(FB,   OK,    OK,     OK,     OK,     OK,   OK,   UA,  FB,      OK,  OK),
};

/** P_A's clinical content; every value carries the marker `CLINICAL-PA`. */
const PA = {
  diagnosis: 'CLINICAL-PA diagnosis: essential hypertension',
  medicine: 'CLINICAL-PA medicine: amlodipine 5 mg daily',
  note: 'CLINICAL-PA note: blood pressure 150/95, review in a week',
};
/** P_B's clinical content; every value carries the marker `CLINICAL-PB`. */
const PB = {
  diagnosis: 'CLINICAL-PB diagnosis: migraine',
  medicine: 'CLINICAL-PB medicine: sumatriptan 50 mg',
  note: 'CLINICAL-PB note: aura before onset',
};

/**
 * Clinical text this caller must never receive, in an answer or an error message: doctor A and
 * P_A see only P_A's, doctor B and P_B only P_B's, and admins, services, unlinked accounts and
 * anonymous callers none at all.
 */
function hiddenMarkers(who: ActorName): string[] {
  if (CARE_OF_PA.includes(who)) return ['CLINICAL-PB'];
  if (who === 'otherDoctor' || who === 'otherPatient') return ['CLINICAL-PA'];
  return ['CLINICAL-PA', 'CLINICAL-PB'];
}

/** Callers that read clinical content of the target P_A. */
const CARE_OF_PA: ActorName[] = ['doctor', 'patient', 'consentDoctor', 'emergencyDoctor'];

/** Why each doctor reaches P_A, as their views of it say (`access`). */
const ACCESS_TO_PA: Partial<Record<ActorName, string>> = {
  doctor: 'assigned',
  consentDoctor: 'consent',
  emergencyDoctor: 'emergency',
};

/** One caller. */
interface Actor {
  name: ActorName;
  client: Client;
  /** The bearer token `client` sends; null for anonymous. */
  token: string | null;
  /** How audit rows name this caller; null for anonymous. */
  auditAs: { actorType: 'user' | 'service'; actorId: number } | null;
  /** Username and password, to open a second session (people only). */
  credentials: { username: string; password: string } | null;
}

/** What the suite sets up once. */
interface World {
  t: TestServer;
  actors: Record<ActorName, Actor>;
  adminId: number;
  drA: number;
  drB: number;
  /** Doctor C, holding P_A's consent, and doctor E, with an open emergency access to P_A. */
  drC: number;
  drE: number;
  /** P_A's consent grant to doctor C. */
  consentGrant: number;
  /** A doctor record that `doctors.update` may change harmlessly. */
  registerDoctor: number;
  pA: number;
  pB: number;
  /** Doctor A's finished export of P_A: the job `jobs.get` asks for. */
  exportJob: number;
  /** An account `auth.login` signs in to. */
  spare: { username: string; password: string };
}

const world = {} as World;
let seq = 0;
const next = () => ++seq;

/** How one procedure is called, and what an OK answer must show. */
interface Probe<I, T> {
  /** Fresh targets for one call, made before the call (so refused calls can be checked for effects). */
  prepare?(a: Actor): Promise<I>;
  /** The call, with fresh input so that no cell spoils a later one. */
  call(a: Actor, input: I): Promise<T>;
  /** Patients whose audit trail must name this caller after an OK call. */
  audits?(result: T): number[];
  /** Checks of an OK answer's scope and content. */
  check?(result: T, a: Actor): void | Promise<void>;
}

function probe<I, T>(p: Probe<I, T>): Probe<unknown, unknown> {
  return p as Probe<unknown, unknown>;
}

const ids = (page: { items: { id: number }[] }) => page.items.map((item) => item.id);

/** Waits, through the caller's own `jobs.get`, until a job it started has finished. */
async function finished(a: Actor, jobId: number) {
  return waitFor(
    async () => {
      const job = await a.client.jobs.get.query({ id: jobId });
      return isFinished(job.status) ? job : null;
    },
    { what: `job ${jobId} to finish (as ${a.name})`, timeoutMs: 20_000 },
  );
}

/** Downloads an export's document with `GET /jobs/:id/result` as the caller. */
async function download(a: Actor, jobId: number) {
  const res = await http(world.t.url, 'GET', `/jobs/${jobId}/result`, { token: a.token! });
  expect(res.status, `GET /jobs/${jobId}/result as ${a.name}`).toBe(200);
  return res.body;
}

/**
 * A harmless job (`sessions.purge`) started by doctor A: `failed` (with its payload, as a failed
 * job keeps it) or `queued` far in the future (it stays queued until cancelled).
 */
async function doctorAJob(status: 'failed' | 'queued'): Promise<number> {
  const doctorA = world.actors.doctor.auditAs!;
  const job = await world.t.db.models.Job.create({
    type: 'sessions.purge',
    payload: {},
    status,
    attempts: status === 'failed' ? 3 : 0,
    maxAttempts: 3,
    runAfter: new Date(Date.now() + (status === 'queued' ? 86_400_000 : 0)),
    createdByType: 'user',
    createdById: doctorA.actorId,
    createdByName: 'doctor A',
    requestId: `matrix-${next()}`,
    error: status === 'failed' ? 'Database unavailable' : null,
    finishedAt: status === 'failed' ? new Date() : null,
  });
  return job.id;
}

/**
 * Turns MFA on for the account `client` is signed in to, through the API (enroll with the
 * password, confirm with the current code): the secret and the recovery codes.
 */
async function turnMfaOn(client: Client, password: string) {
  const { secret } = await client.auth.mfa.enroll.mutate({ password });
  const { recoveryCodes } = await client.auth.mfa.confirm.mutate({ code: totpCode(secret, Date.now()) });
  return { secret, recoveryCodes };
}

/** A fresh patient account with MFA on (through the API): its id, sign-in and recovery codes. */
async function mfaAccount() {
  const n = next();
  const username = `matrix_mfa_${n}`;
  const password = `matrix-${n}-mfa-passphrase`;
  const user = await createAccount(world.t.db, {
    username,
    email: `${username}@example.org`,
    password,
    role: 'patient',
  });
  const token = sessionOf(await trpcClient(world.t.url).auth.login.mutate({ username, password })).token;
  return { id: user.id, username, password, ...(await turnMfaOn(trpcClient(world.t.url, token), password)) };
}

/** Callers who receive P_A's change events (`events.onChange`). */
const RECEIVE_PA_EVENTS: ActorName[] = [
  'admin',
  'doctor',
  'patient',
  'service',
  'consentDoctor',
  'emergencyDoctor',
];

/** The emergency reason the matrix's doctors give. */
const REASON = 'Matrix: patient brought in unconscious';

/** A Doctor record with no account (a harmless target of consent grants). */
async function registerDoctor(): Promise<number> {
  const doctor = await world.t.db.models.Doctor.create({
    name: `Dr. Grantee ${next()}`,
    specialization: 'Any',
  });
  return doctor.id;
}

const PROBES: Record<ProcedurePath, Probe<unknown, unknown>> = {
  'auth.register': probe({
    call: (a) => {
      const username = `matrix_reg_${next()}`;
      return a.client.auth.register.mutate({
        username,
        email: `${username}@example.org`,
        password: 'register-password',
        role: 'patient',
      });
    },
    check: (r) => {
      expect(r).toMatchObject({ role: 'patient', doctorId: null, patientId: null });
    },
  }),
  'auth.login': probe({
    call: (a) => a.client.auth.login.mutate(world.spare),
    check: (r) => {
      const session = sessionOf(r);
      expect(session.user.username).toBe(world.spare.username);
      expect(session.token).toEqual(expect.any(String));
    },
  }),
  'auth.loginMfa': probe({
    // A fresh account with MFA: its password answers a challenge, which a recovery code completes.
    prepare: async () => {
      const account = await mfaAccount();
      const { username, password } = account;
      const answer = await trpcClient(world.t.url).auth.login.mutate({ username, password });
      if (!answer.mfaRequired) throw new Error('an account with MFA must get a challenge');
      return { account, challenge: answer.challenge };
    },
    call: (
      a,
      { account, challenge }: { account: Awaited<ReturnType<typeof mfaAccount>>; challenge: string },
    ) =>
      a.client.auth.loginMfa
        .mutate({ challenge, code: account.recoveryCodes[0]! })
        .then((session) => ({ session, account })),
    check: async ({ session, account }) => {
      expect(session.user).toMatchObject({ id: account.id, mfaEnabled: true });
      expect((await trpcClient(world.t.url, session.token).auth.me.query()).id).toBe(account.id);
    },
  }),
  'auth.logout': probe({
    // A person logs out of a second session, so that their own token keeps working.
    call: async (a) => {
      if (!a.credentials) {
        await a.client.auth.logout.mutate();
        return 'no session of its own';
      }
      const login = await http(world.t.url, 'POST', '/login', { body: a.credentials });
      const second = trpcClient(world.t.url, login.body.token);
      await second.auth.logout.mutate();
      return (await outcome(second.auth.me.query())).code;
    },
    check: async (r, a) => {
      expect(r, 'the logged-out session is over').toBe('UNAUTHORIZED');
      expect((await outcome(a.client.auth.me.query())).code, 'the caller’s own session is untouched').toBe(
        'OK',
      );
    },
  }),
  'auth.me': probe({
    call: (a) => a.client.auth.me.query(),
    check: (r, a) => {
      expect(r.id).toBe(a.auditAs?.actorId);
    },
  }),

  'auth.changePassword': probe({
    // Every session of the account ends: the caller carries on with the new token it gets back.
    call: async (a) => {
      const current = a.credentials?.password ?? 'not-a-person-password';
      const newPassword = `matrix-changed-${next()}-password`;
      const result = await a.client.auth.changePassword.mutate({ currentPassword: current, newPassword });
      const old = a.client;
      a.client = trpcClient(world.t.url, result.token);
      a.token = result.token;
      a.credentials = { username: a.credentials!.username, password: newPassword };
      return { result, oldSession: (await outcome(old.auth.me.query())).code };
    },
    check: async (r, a) => {
      expect(r.oldSession, 'the old session has ended').toBe('UNAUTHORIZED');
      expect(r.result.user.id).toBe(a.auditAs?.actorId);
      expect((await outcome(a.client.auth.me.query())).code).toBe('OK');
    },
  }),

  'auth.mfa.enroll': probe({
    // A pending enrollment only: nothing changes until confirm, so no later cell notices it.
    call: (a) =>
      a.client.auth.mfa.enroll.mutate({ password: a.credentials?.password ?? 'not-a-person-password' }),
    check: (r, a) => {
      expect(r.secret).toMatch(/^[A-Z2-7]{32}$/);
      expect(r.otpauthUri).toContain(`otpauth://totp/HDMS:${a.credentials!.username}?`);
      expect(r.qrSvg).toMatch(/^<svg /);
    },
  }),
  'auth.mfa.confirm': probe({
    prepare: async (a) => {
      if (!a.credentials) return { code: '123456' };
      const { secret } = await a.client.auth.mfa.enroll.mutate({ password: a.credentials.password });
      return { code: totpCode(secret, Date.now()) };
    },
    // MFA is turned off again at once (with a recovery code), so that later cells sign in as before.
    call: async (a, { code }: { code: string }) => {
      const { recoveryCodes } = await a.client.auth.mfa.confirm.mutate({ code });
      const on = await a.client.auth.me.query();
      await a.client.auth.mfa.disable.mutate({ code: recoveryCodes[0]! });
      return { recoveryCodes, on };
    },
    check: ({ recoveryCodes, on }) => {
      expect(on.mfaEnabled).toBe(true);
      expect(new Set(recoveryCodes).size).toBe(10);
      for (const code of recoveryCodes) expect(code).toMatch(/^[a-z2-9]{4}(-[a-z2-9]{4}){3}$/);
    },
  }),
  'auth.mfa.disable': probe({
    prepare: async (a) => {
      if (!a.credentials) return { code: '123456' };
      const { recoveryCodes } = await turnMfaOn(a.client, a.credentials.password);
      return { code: recoveryCodes[0]! };
    },
    call: async (a, { code }: { code: string }) => {
      await a.client.auth.mfa.disable.mutate({ code });
      return a.client.auth.me.query();
    },
    check: (me) => {
      expect(me.mfaEnabled).toBe(false);
    },
  }),

  'users.list': probe({
    call: (a) => a.client.users.list.query({}),
    check: (r) => {
      expect(r.items.length).toBeGreaterThan(0);
      for (const user of r.items) expect(user).not.toHaveProperty('passwordHash');
    },
  }),
  'users.link': probe({
    prepare: async () => {
      const n = next();
      const user = await createAccount(world.t.db, {
        username: `matrix_link_${n}`,
        email: `matrix_link_${n}@example.org`,
        password: 'link-password',
        role: 'patient',
      });
      const patient = await world.t.db.models.Patient.create({ name: `Link ${n}`, age: 50, gender: 'M' });
      return { userId: user.id, patientId: patient.id };
    },
    call: (a, input) => a.client.users.link.mutate(input),
    audits: (r) => [r.patientId!],
    check: (r) => {
      expect(r.patientId).toEqual(expect.any(Number));
    },
  }),
  'users.setDisabled': probe({
    prepare: async () => {
      const n = next();
      const user = await createAccount(world.t.db, {
        username: `matrix_off_${n}`,
        email: `matrix_off_${n}@example.org`,
        password: 'disable-password',
        role: 'doctor',
      });
      return user.id;
    },
    call: (a, userId) => a.client.users.setDisabled.mutate({ userId, disabled: true }),
    check: (r) => {
      expect(r.disabled).toBe(true);
    },
  }),

  'users.resetMfa': probe({
    prepare: async () => (await mfaAccount()).id,
    call: (a, userId: number) => a.client.users.resetMfa.mutate({ userId }),
    check: async (r) => {
      expect(r.mfaEnabled).toBe(false);
      expect(await world.t.db.models.MfaFactor.count({ where: { userId: r.id } })).toBe(0);
    },
  }),

  'doctors.create': probe({
    call: (a) => a.client.doctors.create.mutate({ name: `Dr. Matrix ${next()}`, specialization: 'Oncology' }),
    check: (r) => {
      expect(r.specialization).toBe('Oncology');
    },
  }),
  'doctors.createMany': probe({
    call: (a) =>
      a.client.doctors.createMany.mutate([
        { name: `Dr. Matrix ${next()}`, specialization: 'Oncology' },
        { name: `Dr. Matrix ${next()}`, specialization: 'Surgery' },
      ]),
    check: (r) => {
      expect(r.map((d) => d.specialization)).toEqual(['Oncology', 'Surgery']);
    },
  }),
  'doctors.list': probe({
    call: (a) => a.client.doctors.list.query({}),
    check: (r) => {
      expect(ids(r)).toEqual(expect.arrayContaining([world.drA, world.drB]));
    },
  }),
  'doctors.get': probe({
    call: (a) => a.client.doctors.get.query({ id: world.drA }),
    check: (r) => {
      expect(r.id).toBe(world.drA);
    },
  }),
  'doctors.update': probe({
    call: (a) =>
      a.client.doctors.update.mutate({ id: world.registerDoctor, specialization: `Specialty ${next()}` }),
    check: (r) => {
      expect(r.id).toBe(world.registerDoctor);
    },
  }),

  'patients.create': probe({
    // Every caller tries to admit a patient for doctor A (a doctor may admit only for themself).
    call: (a) =>
      a.client.patients.create.mutate({
        name: `Matrix admit ${next()}`,
        age: 33,
        gender: 'F',
        doctorId: world.drA,
      }),
    audits: (r) => [r.id],
    check: (r, a) => {
      expect(r.doctorId).toBe(world.drA);
      if (a.name === 'doctor') expect(r).toMatchObject({ diagnosis: null, prescribedMedicine: null });
      else expect(r).not.toHaveProperty('diagnosis');
    },
  }),
  'patients.createMany': probe({
    call: (a) =>
      a.client.patients.createMany.mutate([
        { name: `Matrix admit ${next()}`, age: 33, gender: 'F', doctorId: world.drA },
        { name: `Matrix admit ${next()}`, age: 34, gender: 'M', doctorId: world.drA },
      ]),
    audits: (r) => r.map((p) => p.id),
    check: (r, a) => {
      expect(r.map((p) => p.doctorId)).toEqual([world.drA, world.drA]);
      for (const p of r) {
        if (a.name === 'doctor') expect(p).toMatchObject({ diagnosis: null });
        else expect(p).not.toHaveProperty('diagnosis');
      }
    },
  }),
  'patients.list': probe({
    call: (a) => a.client.patients.list.query({}),
    audits: (r) => ids(r),
    check: async (r, a) => {
      const { pA, pB, drA, drB } = world;
      const seen = ids(r);
      // A filter never widens the scope: doctor A's patients, as this caller may see them.
      const filtered = ids(await a.client.patients.list.query({ doctorId: drA }));
      switch (a.name) {
        case 'admin':
        case 'service':
          expect(seen).toEqual(expect.arrayContaining([pA, pB]));
          for (const p of r.items) {
            expect(p).not.toHaveProperty('diagnosis');
            expect(p).not.toHaveProperty('prescribedMedicine');
          }
          expect(filtered).toContain(pA);
          expect(filtered).not.toContain(pB);
          break;
        case 'doctor':
          expect(seen).toContain(pA);
          expect(r.items.every((p) => p.doctorId === drA && p.access === 'assigned')).toBe(true);
          expect(r.items.find((p) => p.id === pA)).toMatchObject({
            diagnosis: PA.diagnosis,
            prescribedMedicine: PA.medicine,
          });
          expect(filtered).toEqual(seen);
          break;
        case 'otherDoctor':
          expect(seen).toContain(pB);
          expect(seen).not.toContain(pA);
          expect(r.items.every((p) => p.doctorId === drB)).toBe(true);
          expect(filtered).toEqual([]);
          break;
        case 'patient':
          expect(seen).toEqual([pA]);
          expect(r.items[0]).toMatchObject({ diagnosis: PA.diagnosis });
          expect(filtered).toEqual([pA]);
          break;
        case 'otherPatient':
          expect(seen).toEqual([pB]);
          expect(filtered).toEqual([]);
          break;
        case 'consentDoctor':
        case 'emergencyDoctor':
          expect(seen).toEqual([pA]);
          expect(r.items[0]).toMatchObject({ diagnosis: PA.diagnosis, access: ACCESS_TO_PA[a.name] });
          expect(filtered).toEqual([pA]);
          break;
        default:
          expect(seen).toEqual([]);
          expect(filtered).toEqual([]);
      }
    },
  }),
  'patients.get': probe({
    call: (a) => a.client.patients.get.query({ id: world.pA }),
    audits: () => [world.pA],
    check: (r, a) => {
      expect(r.id).toBe(world.pA);
      if (CARE_OF_PA.includes(a.name)) {
        expect(r).toMatchObject({ diagnosis: PA.diagnosis, prescribedMedicine: PA.medicine });
      } else {
        expect(r).not.toHaveProperty('diagnosis');
        expect(r).not.toHaveProperty('prescribedMedicine');
      }
      if (ACCESS_TO_PA[a.name]) expect(r.access).toBe(ACCESS_TO_PA[a.name]);
      else expect(r).not.toHaveProperty('access');
    },
  }),
  'patients.update': probe({
    // A harmless, real change (so it is written and audited): the age, different every call.
    call: (a) => a.client.patients.update.mutate({ id: world.pA, age: 20 + (next() % 100) }),
    audits: () => [world.pA],
    check: (r, a) => {
      expect(r.id).toBe(world.pA);
      if (a.name === 'doctor') expect(r).toMatchObject({ diagnosis: PA.diagnosis });
      else expect(r).not.toHaveProperty('diagnosis');
    },
  }),
  'patients.updateAsync': probe({
    // A real change of the age (so it is written and audited), applied by a worker as the caller.
    prepare: async () => {
      const { age } = (await world.t.db.models.Patient.findByPk(world.pA))!;
      return age >= 99 ? age - 1 : age + 1;
    },
    call: async (a, age: number) => {
      const { jobId } = await a.client.patients.updateAsync.mutate({ id: world.pA, age });
      return { job: await finished(a, jobId), age };
    },
    audits: () => [world.pA],
    check: async ({ job, age }) => {
      expect(job).toMatchObject({
        type: 'patient.update',
        status: 'succeeded',
        patientId: world.pA,
        result: { patientId: world.pA, changedFields: ['age'] },
      });
      expect((await world.t.db.models.Patient.findByPk(world.pA))!.age).toBe(age);
    },
  }),
  'patients.history': probe({
    call: (a) => a.client.patients.history.query({ patientId: world.pA }),
    audits: () => [world.pA],
    check: (r, a) => {
      expect(r.items.every((rev) => rev.patientId === world.pA)).toBe(true);
      const clinical = r.items.find((rev) => 'diagnosis' in rev.changes);
      expect(clinical, 'the revision that set the diagnosis is listed').toBeDefined();
      if (CARE_OF_PA.includes(a.name)) {
        expect(clinical!.changes.diagnosis).toEqual({ old: null, new: PA.diagnosis });
      } else {
        expect(clinical!.changes.diagnosis).toEqual({ redacted: true });
        expect(clinical!.changes.prescribedMedicine).toEqual({ redacted: true });
      }
    },
  }),

  'patients.import': probe({
    call: async (a) => {
      const name = `Matrix import ${next()}`;
      const csv = `name,age,gender,doctor_id\n${name},41,F,${world.drA}\nBad row,-3,F,${world.drA}\n`;
      const { jobId } = await a.client.patients.import.mutate({ csv });
      return { job: await finished(a, jobId), name };
    },
    check: async ({ job, name }) => {
      expect(job).toMatchObject({
        type: 'patients.import',
        status: 'succeeded',
        result: { rows: 2, imported: 1, rejected: 1, rejectedRows: [{ line: 3 }] },
      });
      expect(await world.t.db.models.Patient.count({ where: { name, doctorId: world.drA } })).toBe(1);
    },
  }),
  'patients.export': probe({
    // The whole path: the request, the job, and the download, audited as a read of the patient.
    call: async (a) => {
      const { jobId } = await a.client.patients.export.mutate({ patientId: world.pA });
      const job = await finished(a, jobId);
      return { job, document: await download(a, jobId) };
    },
    audits: () => [world.pA],
    check: ({ job, document }) => {
      expect(job).toMatchObject({ type: 'patient.export', status: 'succeeded', patientId: world.pA });
      expect(document).toMatchObject({
        format: 'hdms.patient-export',
        patient: { id: world.pA, diagnosis: PA.diagnosis, prescribedMedicine: PA.medicine },
        doctor: { id: world.drA },
      });
      expect(document.notes.map((n: { body: string }) => n.body)).toContain(PA.note);
      expect(document.checkHistory.length).toBeGreaterThan(0);
    },
  }),

  'checkHistory.create': probe({
    call: (a) => a.client.checkHistory.create.mutate({ patientId: world.pA }),
    audits: () => [world.pA],
    check: (r) => {
      expect(r.patientId).toBe(world.pA);
    },
  }),
  'checkHistory.createMany': probe({
    call: (a) => a.client.checkHistory.createMany.mutate([{ patientId: world.pA }, { patientId: world.pA }]),
    audits: () => [world.pA],
    check: (r) => {
      expect(r.map((c) => c.patientId)).toEqual([world.pA, world.pA]);
    },
  }),
  'checkHistory.list': probe({
    call: (a) => a.client.checkHistory.list.query({ patientId: world.pA }),
    audits: () => [world.pA],
    check: (r) => {
      expect(r.items.length).toBeGreaterThan(0);
      expect(r.items.every((c) => c.patientId === world.pA)).toBe(true);
    },
  }),

  'notes.create': probe({
    call: (a) => a.client.notes.create.mutate({ patientId: world.pA, body: `CLINICAL-PA note ${next()}` }),
    audits: () => [world.pA],
    check: (r) => {
      expect(r.patientId).toBe(world.pA);
    },
  }),
  'notes.list': probe({
    call: (a) => a.client.notes.list.query({ patientId: world.pA }),
    audits: () => [world.pA],
    check: (r) => {
      expect(r.items.every((n) => n.patientId === world.pA)).toBe(true);
      expect(r.items.map((n) => n.body)).toContain(PA.note);
    },
  }),

  'audit.list': probe({
    call: (a) => a.client.audit.list.query({}),
    check: (r) => {
      expect(r.items.length).toBeGreaterThan(0);
    },
  }),
  'audit.myAccess': probe({
    call: (a) => a.client.audit.myAccess.query({}),
    check: async (r, a) => {
      const own: number | undefined = (
        { patient: world.pA, otherPatient: world.pB } as Partial<Record<ActorName, number>>
      )[a.name];
      if (own === undefined) {
        expect(r.items, 'an unlinked patient account sees no access rows').toEqual([]);
        return;
      }
      expect(r.items.length).toBeGreaterThan(0);
      const rows = await world.t.db.models.AuditEvent.findAll({ where: { id: ids(r) } });
      expect(rows).toHaveLength(r.items.length);
      expect(new Set(rows.map((row) => row.patientId))).toEqual(new Set([own]));
    },
  }),

  'events.onChange': probe({
    // A resume from the first event: every update of P_A ever made, as far as this caller may know.
    call: async (a) => {
      const sub = await subscribe(world.t.url, a.token ?? undefined, {
        types: ['patient.updated'],
        patientId: world.pA,
        lastEventId: '0',
      });
      try {
        if (sub.errors.length) throw sub.errors[0]!.error;
        const updates = await world.t.db.models.ChangeEvent.count({
          where: { type: 'patient.updated', patientId: world.pA },
        });
        if (RECEIVE_PA_EVENTS.includes(a.name)) {
          await sub.waitFor((events) => events.length >= updates);
        }
        // Nothing more may come: no further event (none for those who may not know of them) and no
        // late error. Those refused receive nothing at all, so no marker can show it.
        await quietPeriod(200, `no further event or error for ${a.name}`);
        if (sub.errors.length) throw sub.errors[0]!.error;
        return { events: sub.events, updates };
      } finally {
        sub.close();
      }
    },
    check: ({ events, updates }, a) => {
      if (RECEIVE_PA_EVENTS.includes(a.name)) {
        expect(updates).toBeGreaterThan(0);
        expect(events).toHaveLength(updates);
        expect(events.every((e) => e.type === 'patient.updated' && e.patientId === world.pA)).toBe(true);
      } else {
        expect(events).toEqual([]);
      }
    },
  }),

  'serviceTokens.create': probe({
    call: (a) =>
      a.client.serviceTokens.create.mutate({ name: `matrix-svc-${next()}`, scopes: ['doctors:read'] }),
    check: (r) => {
      expect(r.token).toEqual(expect.any(String));
    },
  }),
  'serviceTokens.list': probe({
    call: (a) => a.client.serviceTokens.list.query({}),
    check: (r) => {
      expect(r.items.length).toBeGreaterThan(0);
      expect(JSON.stringify(r)).not.toContain('tokenHash');
    },
  }),
  'jobs.get': probe({
    call: (a) => a.client.jobs.get.query({ id: world.exportJob }),
    check: (r, a) => {
      expect(r).toMatchObject({ id: world.exportJob, type: 'patient.export', status: 'succeeded' });
      expect(r).not.toHaveProperty('payload');
      if (a.name === 'doctor') {
        expect(r.result).toMatchObject({ patientId: world.pA, download: `/jobs/${world.exportJob}/result` });
      } else {
        // An admin sees another's job without where its document is.
        expect(r.result).toEqual({
          patientId: world.pA,
          bytes: expect.any(Number),
          expiresAt: expect.any(String),
        });
      }
    },
  }),
  'jobs.list': probe({
    call: (a) => a.client.jobs.list.query({ limit: 100 }),
    check: (r, a) => {
      const seen = ids(r);
      if (a.name === 'admin' || a.name === 'doctor') expect(seen).toContain(world.exportJob);
      else expect(seen).not.toContain(world.exportJob);
      if (a.name !== 'admin') {
        const self = { type: a.auditAs!.actorType, id: a.auditAs!.actorId };
        for (const job of r.items) expect(job.createdBy).toMatchObject(self);
      }
    },
  }),

  'jobs.retry': probe({
    prepare: () => doctorAJob('failed'),
    call: (a, id) => a.client.jobs.retry.mutate({ id: id as number }),
    check: (r) => {
      expect(r).toMatchObject({ type: 'sessions.purge', attempts: 0 });
      expect(['queued', 'running', 'succeeded']).toContain(r.status);
      expect(r).not.toHaveProperty('payload');
    },
  }),
  'jobs.cancel': probe({
    prepare: () => doctorAJob('queued'),
    call: (a, id) => a.client.jobs.cancel.mutate({ id: id as number }),
    check: (r) => {
      expect(r).toMatchObject({ type: 'sessions.purge', status: 'cancelled' });
    },
  }),

  'access.emergency': probe({
    // Doctor B opens one and ends it again, so that B stays outside P_A's care for other cells.
    call: async (a) => {
      const opened = await a.client.access.emergency.mutate({ patientId: world.pA, reason: REASON });
      await a.client.access.endEmergency.mutate({ patientId: world.pA });
      return opened;
    },
    audits: () => [world.pA],
    check: (r) => {
      expect(r).toEqual({ id: expect.any(Number), patientId: world.pA, expiresAt: expect.any(Date) });
    },
  }),
  'access.endEmergency': probe({
    // Doctor B holds one only for this cell; doctor E opens its own again at once.
    prepare: async (a) => {
      if (a.name === 'otherDoctor') {
        await a.client.access.emergency.mutate({ patientId: world.pA, reason: REASON });
      }
    },
    call: async (a) => {
      const ended = await a.client.access.endEmergency.mutate({ patientId: world.pA });
      if (a.name === 'emergencyDoctor') {
        await a.client.access.emergency.mutate({ patientId: world.pA, reason: REASON });
      }
      return ended;
    },
    audits: () => [world.pA],
    check: async (r, a) => {
      expect(r).toEqual({ id: expect.any(Number), patientId: world.pA, endedAt: expect.any(Date) });
      const row = await world.t.db.models.EmergencyAccess.findByPk(r.id);
      expect(row).toMatchObject({ doctorId: a.name === 'otherDoctor' ? world.drB : world.drE });
    },
  }),
  'audit.emergencyAccess': probe({
    call: (a) => a.client.audit.emergencyAccess.query({ patientId: world.pA, status: 'open' }),
    check: (r) => {
      expect(r.items.map((e) => [e.doctorId, e.reason, e.status])).toEqual([[world.drE, REASON, 'open']]);
    },
  }),
  'consent.grant': probe({
    prepare: () => registerDoctor(),
    call: (a, doctorId: number) => a.client.consent.grant.mutate({ doctorId }),
    audits: (r) => [r.patientId],
    check: (r, a) => {
      expect(r).toMatchObject({ patientId: a.name === 'patient' ? world.pA : world.pB, status: 'active' });
    },
  }),
  'consent.revoke': probe({
    // A fresh grant of P_A's to a doctor with no account.
    prepare: async () => {
      const grant = await world.t.db.models.ConsentGrant.create({
        patientId: world.pA,
        doctorId: await registerDoctor(),
        expiresAt: null,
        createdByUserId: world.actors.patient.auditAs!.actorId,
      });
      return grant.id;
    },
    call: (a, id: number) => a.client.consent.revoke.mutate({ id }),
    audits: () => [world.pA],
    check: (r) => {
      expect(r).toMatchObject({ patientId: world.pA, status: 'revoked' });
    },
  }),
  'consent.list': probe({
    call: (a) => a.client.consent.list.query({ status: 'active', limit: 1000 }),
    check: (r, a) => {
      const toC = r.items.filter((g) => g.id === world.consentGrant);
      if (a.name === 'patient' || a.name === 'consentDoctor') {
        expect(toC).toMatchObject([{ patientId: world.pA, doctorId: world.drC, status: 'active' }]);
      } else expect(toC).toEqual([]);
      if (a.name === 'patient') expect(r.items.every((g) => g.patientId === world.pA)).toBe(true);
      if (a.name === 'consentDoctor') expect(r.items.every((g) => g.doctorId === world.drC)).toBe(true);
      if (a.name.startsWith('unlinked')) expect(r.items).toEqual([]);
    },
  }),

  'serviceTokens.revoke': probe({
    // Issued by the admin's current session (a changePassword cell replaces it).
    prepare: async () => (await serviceToken(world.t, world.actors.admin.token!, ['doctors:read'])).id,
    call: (a, id) => a.client.serviceTokens.revoke.mutate({ id }),
    check: (r) => {
      expect(r.status).toBe('revoked');
    },
  }),
};

/** Calls that name one patient, to compare P_A with a patient that does not exist. */
const TARGETED: Record<string, (client: Client, patientId: number) => Promise<unknown>> = {
  'patients.get': (c, id) => c.patients.get.query({ id }),
  'patients.update': (c, id) => c.patients.update.mutate({ id, age: 30 }),
  'patients.updateAsync': (c, id) => c.patients.updateAsync.mutate({ id, age: 30 }),
  'patients.export': (c, id) => c.patients.export.mutate({ patientId: id }),
  'patients.history': (c, id) => c.patients.history.query({ patientId: id }),
  'checkHistory.create': (c, id) => c.checkHistory.create.mutate({ patientId: id }),
  'checkHistory.create (batch)': (c, id) => c.checkHistory.createMany.mutate([{ patientId: id }]),
  'checkHistory.list': (c, id) => c.checkHistory.list.query({ patientId: id }),
  'notes.create': (c, id) => c.notes.create.mutate({ patientId: id, body: 'CLINICAL-PA probe' }),
  'notes.list': (c, id) => c.notes.list.query({ patientId: id }),
};

/**
 * What a refused call must leave untouched: P_A's record, and the counts and states every
 * procedure of the matrix could change.
 */
async function snapshot() {
  const { Patient, Doctor, Note, CheckHistory, PatientRevision, User, ServiceToken, Job, MfaFactor } =
    world.t.db.models;
  const { ConsentGrant, EmergencyAccess } = world.t.db.models;
  const notNull = { [Op.ne]: null };
  return {
    patientA: await Patient.findByPk(world.pA, { raw: true }),
    registerDoctor: await Doctor.findByPk(world.registerDoctor, { raw: true }),
    doctors: await Doctor.count(),
    patients: await Patient.count(),
    notes: await Note.count(),
    checks: await CheckHistory.count(),
    revisions: await PatientRevision.count(),
    users: await User.count(),
    linkedUsers: await User.count({ where: { [Op.or]: [{ doctorId: notNull }, { patientId: notNull }] } }),
    disabledUsers: await User.count({ where: { disabledAt: notNull } }),
    serviceTokens: await ServiceToken.count(),
    mfaFactors: await MfaFactor.count(),
    mfaEnabled: await MfaFactor.count({ where: { enabledAt: notNull } }),
    unusedRecoveryCodes: await world.t.db.models.MfaRecoveryCode.count({ where: { usedAt: null } }),
    revokedTokens: await ServiceToken.count({ where: { revokedAt: notNull } }),
    // Jobs anyone asked for (the server's own recurring jobs come and go by themselves).
    jobs: await Job.count({ where: { createdByType: { [Op.ne]: 'system' } } }),
    consentGrants: await ConsentGrant.count(),
    revokedGrants: await ConsentGrant.count({ where: { revokedAt: notNull } }),
    emergencyAccesses: await EmergencyAccess.count(),
    endedEmergencyAccesses: await EmergencyAccess.count({ where: { endedAt: notNull } }),
  };
}

/** Calls `path` as `who` and holds the answer to the matrix and the probe's checks. */
async function runCell(path: ProcedurePath, who: ActorName): Promise<void> {
  const expected = MATRIX[path][who];
  const probe = PROBES[path];
  const actor = world.actors[who];
  const input = probe.prepare ? await probe.prepare(actor) : undefined;
  const before = expected === 'OK' ? null : await snapshot();
  const since = await lastAuditId(world.t);

  let answer: unknown;
  const { code, message } = await outcome(
    probe.call(actor, input).then((result) => {
      answer = result;
    }),
  );
  if (code !== 'OK') answer = message;
  expect(code, `${path} as ${who}`).toBe(expected);

  const text = JSON.stringify(answer) ?? '';
  for (const marker of hiddenMarkers(who)) {
    expect(text, `${path} as ${who} must not carry ${marker} clinical text`).not.toContain(marker);
  }

  if (expected !== 'OK') {
    expect(await snapshot(), `a refused ${path} changes nothing`).toEqual(before);
    return;
  }
  await probe.check?.(answer, actor);
  const audited = probe.audits?.(answer) ?? [];
  if (audited.length) {
    const rows = await world.t.db.models.AuditEvent.findAll({
      where: { id: { [Op.gt]: since }, ...actor.auditAs },
    });
    const patients = rows.map((r) => r.patientId);
    for (const patientId of audited) {
      expect(patients, `${path} as ${who} audits patient ${patientId}`).toContain(patientId);
    }
  }
}

describe('access matrix', () => {
  beforeAll(async () => {
    const t = await startTestServer();
    world.t = t;
    const adminRow = await t.db.models.User.findOne({ where: { usernameKey: ADMIN.username } });
    world.adminId = adminRow!.id;
    const admin = trpcClient(t.url, await adminToken(t));

    const [drA, drB, register, drC, drE] = await admin.doctors.createMany.mutate([
      { name: 'Dr. Alpha', specialization: 'Cardiology' },
      { name: 'Dr. Beta', specialization: 'Neurology' },
      { name: 'Dr. Register', specialization: 'General medicine' },
      { name: 'Dr. Gamma', specialization: 'Second opinions' },
      { name: 'Dr. Epsilon', specialization: 'Emergency medicine' },
    ]);
    const [pA, pB] = await admin.patients.createMany.mutate([
      { name: 'Alice Matrix', age: 40, gender: 'F', doctorId: drA!.id, roomNumber: '101', bedNumber: 1 },
      { name: 'Bob Matrix', age: 55, gender: 'M', doctorId: drB!.id, roomNumber: '202', bedNumber: 2 },
    ]);
    Object.assign(world, {
      drA: drA!.id,
      drB: drB!.id,
      registerDoctor: register!.id,
      drC: drC!.id,
      drE: drE!.id,
      pA: pA!.id,
      pB: pB!.id,
    });

    const doctorA = await signedInUser(t, 'doctor', { doctorId: world.drA });
    const doctorB = await signedInUser(t, 'doctor', { doctorId: world.drB });
    const patientA = await signedInUser(t, 'patient', { patientId: world.pA });
    const patientB = await signedInUser(t, 'patient', { patientId: world.pB });
    const consentDoctor = await signedInUser(t, 'doctor', { doctorId: world.drC });
    const emergencyDoctor = await signedInUser(t, 'doctor', { doctorId: world.drE });
    const unlinkedDoctor = await signedInUser(t, 'doctor');
    const unlinkedPatient = await signedInUser(t, 'patient');
    const spare = await signedInUser(t, 'patient');
    world.spare = { username: spare.username, password: spare.password };

    // Clinical content enters through the doctors' own updates and notes, so it has revisions.
    for (const [doctor, patientId, values] of [
      [doctorA, world.pA, PA],
      [doctorB, world.pB, PB],
    ] as const) {
      const client = trpcClient(t.url, doctor.token);
      await client.patients.update.mutate({
        id: patientId,
        diagnosis: values.diagnosis,
        prescribedMedicine: values.medicine,
      });
      await client.notes.create.mutate({ patientId, body: values.note });
      await client.checkHistory.create.mutate({ patientId });
    }

    // The two other ways in: P_A's consent to doctor C, doctor E's emergency access.
    const grant = await trpcClient(t.url, patientA.token).consent.grant.mutate({ doctorId: world.drC });
    world.consentGrant = grant.id;
    await trpcClient(t.url, emergencyDoctor.token).access.emergency.mutate({
      patientId: world.pA,
      reason: REASON,
    });

    const { jobId } = await trpcClient(t.url, doctorA.token).patients.export.mutate({ patientId: world.pA });
    world.exportJob = (await waitForJob(t.db, jobId, ['succeeded'])).id;

    const service = await admin.serviceTokens.create.mutate({
      name: 'matrix-all-scopes',
      scopes: [...SCOPES],
    });

    const person = (
      name: ActorName,
      user: { id: number; username: string; password: string; token: string },
    ) =>
      ({
        name,
        client: trpcClient(t.url, user.token),
        token: user.token,
        auditAs: { actorType: 'user', actorId: user.id },
        credentials: { username: user.username, password: user.password },
      }) satisfies Actor;
    world.actors = {
      admin: person('admin', { id: world.adminId, ...ADMIN, token: await adminToken(t) }),
      doctor: person('doctor', doctorA),
      otherDoctor: person('otherDoctor', doctorB),
      patient: person('patient', patientA),
      otherPatient: person('otherPatient', patientB),
      unlinkedDoctor: person('unlinkedDoctor', unlinkedDoctor),
      unlinkedPatient: person('unlinkedPatient', unlinkedPatient),
      anonymous: {
        name: 'anonymous',
        client: trpcClient(t.url),
        token: null,
        auditAs: null,
        credentials: null,
      },
      service: {
        name: 'service',
        client: trpcClient(t.url, service.token),
        token: service.token,
        auditAs: { actorType: 'service', actorId: service.serviceToken.id },
        credentials: null,
      },
      consentDoctor: person('consentDoctor', consentDoctor),
      emergencyDoctor: person('emergencyDoctor', emergencyDoctor),
    };
  });

  afterAll(async () => {
    await world.t?.close();
  });

  const procedures = Object.keys(appRouter._def.procedures);

  it('covers every procedure of appRouter, and nothing else', () => {
    expect(Object.keys(MATRIX).sort()).toEqual([...procedures].sort());
    expect(Object.keys(PROBES).sort()).toEqual([...procedures].sort());
  });

  const outsiders: ActorName[] = ['otherDoctor', 'otherPatient', 'unlinkedDoctor', 'unlinkedPatient'];
  it.each(Object.keys(TARGETED))(
    '%s: P_A answers callers outside its care exactly as a patient that does not exist',
    async (name) => {
      const absent = world.pA + world.pB + 10_000;
      for (const who of outsiders) {
        const { client } = world.actors[who];
        const before = await snapshot();
        const forPA = await outcome(TARGETED[name]!(client, world.pA));
        expect(forPA.code, `${name} as ${who}`).not.toBe('OK');
        expect(forPA, `${name} as ${who}`).toEqual(await outcome(TARGETED[name]!(client, absent)));
        expect(await snapshot()).toEqual(before);
      }
    },
  );

  describe.each(procedures)('%s', (path) => {
    if (!(path in MATRIX)) {
      it('has a row in the access matrix', () => {
        expect.fail(`${path} is not in the access matrix: add its row and probe`);
      });
      return;
    }
    const cells = MATRIX[path as ProcedurePath];
    it.each(ACTORS.map((who) => [who, cells[who]] as const))('%s → %s', async (who) => {
      await runCell(path as ProcedurePath, who);
    });
  });
});
