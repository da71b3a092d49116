import { type AuditEvent, Op } from '@hdms/db';
import type { Scope } from '../../server/src/domain/access/policy';
import { callerFor } from './callers';
import { ADMIN, adminToken, signedInUser, type TestServer } from './server';

/** A signed-in account with its token. */
export interface Account {
  id: number;
  username: string;
  token: string;
}

/**
 * Two doctors, each with one patient, every person signed in and linked, plus the admin. Built
 * directly through the models so these suites do not depend on the doctors/patients procedures.
 */
export interface CareTeam {
  admin: Account;
  doctorA: Account & { doctorId: number; name: string };
  doctorB: Account & { doctorId: number; name: string };
  patientA: Account & { patientId: number };
  patientB: Account & { patientId: number };
}

let counter = 0;

/** Creates a Doctor row and a doctor account linked to it, signed in. */
export async function linkedDoctor(
  t: TestServer,
  name = `Dr. Test ${++counter}`,
): Promise<CareTeam['doctorA']> {
  const doctor = await t.db.models.Doctor.create({ name, specialization: 'General medicine' });
  const user = await signedInUser(t, 'doctor', { doctorId: doctor.id });
  return { id: user.id, username: user.username, token: user.token, doctorId: doctor.id, name };
}

/** Creates a Patient row assigned to `doctorId` (with clinical fields) and a linked patient account. */
export async function linkedPatient(t: TestServer, doctorId: number | null): Promise<CareTeam['patientA']> {
  const patient = await t.db.models.Patient.create({
    name: `Patient ${++counter}`,
    age: 40,
    gender: 'female',
    doctorId,
    roomNumber: '12',
    bedNumber: 'B',
    diagnosis: 'secret diagnosis',
    prescribedMedicine: 'secret medicine',
  });
  const user = await signedInUser(t, 'patient', { patientId: patient.id });
  return { id: user.id, username: user.username, token: user.token, patientId: patient.id };
}

/** `linkedDoctor` with a procedure caller of its own. */
export async function doctorWithCaller(t: TestServer) {
  const doctor = await linkedDoctor(t);
  return { ...doctor, caller: callerFor(t, doctor.token) };
}

/** `linkedPatient` of `doctorId` with a procedure caller of its own. */
export async function patientWithCaller(t: TestServer, doctorId: number | null) {
  const patient = await linkedPatient(t, doctorId);
  return { ...patient, caller: callerFor(t, patient.token) };
}

/** The standard cast: two doctors with one patient each, and the admin. */
export async function careTeam(t: TestServer): Promise<CareTeam> {
  const adminUser = await t.db.models.User.findOne({ where: { usernameKey: ADMIN.username } });
  const admin = { id: adminUser!.id, username: ADMIN.username, token: await adminToken(t) };
  const doctorA = await linkedDoctor(t);
  const doctorB = await linkedDoctor(t);
  const patientA = await linkedPatient(t, doctorA.doctorId);
  const patientB = await linkedPatient(t, doctorB.doctorId);
  return { admin, doctorA, doctorB, patientA, patientB };
}

/**
 * Issues a service token with `scopes` through the `serviceTokens.create` procedure, as the admin
 * signed in with `adminBearer`; returns the plain token and the token's id and name.
 */
export async function serviceToken(
  t: TestServer,
  adminBearer: string,
  scopes: Scope[],
): Promise<{ id: number; name: string; token: string }> {
  const name = `svc-${++counter}-${Math.random().toString(36).slice(2, 8)}`;
  const { token, serviceToken } = await callerFor(t, adminBearer).serviceTokens.create({ name, scopes });
  return { id: serviceToken.id, name, token };
}

/** The newest audit row's id (0 when there is none): rows after it were written since. */
export async function lastAuditId(t: TestServer): Promise<number> {
  return (await t.db.models.AuditEvent.max<number | null, AuditEvent>('id')) ?? 0;
}

/** The audit rows written after the row `afterId` (see `lastAuditId`), oldest first. */
export function auditSince(t: TestServer, afterId: number): Promise<AuditEvent[]> {
  return t.db.models.AuditEvent.findAll({ where: { id: { [Op.gt]: afterId } }, order: [['id', 'ASC']] });
}

/**
 * How many audit rows record acts that happened: every row but refused attempts (`denied`), so a
 * refused call can be checked to have written nothing else.
 */
export function auditedActs(t: TestServer): Promise<number> {
  return t.db.models.AuditEvent.count({ where: { action: { [Op.ne]: 'denied' } } });
}

/**
 * Runs `work` while no audit row can be written: the audit table is renamed away (a real failing
 * statement, on either database), and put back afterwards.
 */
export async function withAuditFailing<T>(t: TestServer, work: () => Promise<T>): Promise<T> {
  const qi = t.db.sequelize.getQueryInterface();
  await qi.renameTable('audit_events', 'audit_events_away');
  try {
    return await work();
  } finally {
    await qi.renameTable('audit_events_away', 'audit_events');
  }
}
