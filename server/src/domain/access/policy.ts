import { type PatientColumn, patientInScope, type Role } from '@hdms/db';
import type { Actor, UserActor } from '../actor';
import { forbidden } from '../errors';
import { entityOf, type EventType } from '../events/record';
import { type AccessScope, accessOf, type PatientAccess, patientsReached } from './scope';
import type { Scope } from './tokenScopes';

/**
 * The access policy of HDMS, in one place: every rule of who may see or do what is a pure
 * function here, of the actor and the record (no queries). Which patients a caller reaches is
 * `scope.ts`'s `scopeOf`, applied by the repositories to every read. The domain calls these;
 * procedure tiers (`trpc/procedures.ts`) use them to narrow the actor before a resolver runs.
 * Consent grants and emergency access are facts of the scope (`scope.ts`); what they allow is here.
 *
 * In short:
 * - admin: accounts, doctors, patients' admission data, check-up times, service tokens, the audit
 *   log; never clinical content (diagnosis, prescribed medicine, notes, clinical revisions);
 * - doctor: the full record of the patients assigned to their linked Doctor record, and the care
 *   team's clinical rights over patients who consented or that they opened by emergency access
 *   (admission data stays the admins'; no export under emergency access);
 * - patient: their own full record, notes, check-ups and who accessed it; writes nothing;
 * - an account not linked to a record: no patient at all;
 * - a service token: what its scopes name, with admin-level (never clinical) data.
 */

export { SCOPES, type Scope } from './tokenScopes';

/** Which roles a procedure tier admits, and whether services may call it with the procedure's scope. */
export interface TierRule {
  roles: readonly Role[] | 'any';
  services: boolean;
  /** Services pass holding any one of these (instead of the procedure's meta scope). */
  anyOfScopes?: readonly Scope[];
}

/**
 * Why `actor` may not call a procedure of this tier, or null when it may. A service passes only
 * where services are admitted and the procedure's meta names a scope the token holds; a person
 * only with one of the tier's roles.
 */
export function tierRefusal(actor: Actor, rule: TierRule, scope: Scope | undefined): string | null {
  if (actor.type === 'service') {
    const needed = rule.anyOfScopes ?? (scope ? [scope] : []);
    if (!rule.services || needed.length === 0) return 'Not available to service tokens';
    if (needed.some((s) => actor.scopes.includes(s))) return null;
    return needed.length === 1
      ? `This token lacks the ${needed[0]} scope`
      : `This token lacks a scope for this (one of ${needed.join(', ')})`;
  }
  if (rule.roles === 'any' || rule.roles.includes(actor.role)) return null;
  return `Only for ${rule.roles.join(' or ')} accounts`;
}

/**
 * Why `actor` may not make this call until it has enrolled in MFA, or null when it may: a person
 * of a role in `requiredRoles` (MFA_REQUIRED_ROLES) whose MFA is not on may only make the calls
 * that enrolling needs (`enrolling`: `auth.mfa.*`, `auth.me`, `auth.logout`). Decided on every
 * request from the account as it is now, so sessions opened before the rule applied are held to
 * it from their next request.
 */
export function mfaEnrollmentRefusal(
  actor: Actor,
  requiredRoles: readonly Role[],
  enrolling: boolean,
): string | null {
  if (actor.type !== 'user' || actor.mfaEnabled || enrolling || !requiredRoles.includes(actor.role)) {
    return null;
  }
  return (
    `MFA enrollment is required for ${actor.role} accounts: enroll an authenticator app ` +
    '(auth.mfa.enroll, then auth.mfa.confirm) before anything else'
  );
}

/** True for a person with one of `roles`: narrows the actor's type. */
export function hasRole<R extends Role>(actor: Actor, ...roles: R[]): actor is UserActor<R> {
  return actor.type === 'user' && (roles as Role[]).includes(actor.role);
}

// --- Admitting patients ----------------------------------------------------------------------

/**
 * The doctor a new patient is assigned to when `actor` admits them asking for `requested`:
 * admins and services assign any doctor or none; a doctor admits only patients of their own
 * (the default), and an unlinked doctor none. Throws FORBIDDEN naming the batch item (`at`).
 */
export function admittingDoctorId(
  actor: Actor,
  requested: number | null | undefined,
  at = '',
): number | null {
  if (!hasRole(actor, 'doctor')) return requested ?? null;
  if (actor.doctorId === null) {
    throw forbidden('Your account is not linked to a doctor record yet; ask an admin to link it');
  }
  if (requested !== undefined && requested !== null && requested !== actor.doctorId) {
    throw forbidden(
      `${at}doctors may only admit patients assigned to themselves (doctorId ${actor.doctorId})`,
    );
  }
  return actor.doctorId;
}

// --- Fields of a patient's record ------------------------------------------------------------

/** Fields set at admission and kept by admins: who the patient is, their doctor, room and bed. */
const ADMISSION_FIELDS = ['name', 'age', 'gender', 'doctorId', 'roomNumber', 'bedNumber'] as const;
/** Clinical content: only the patient's doctor writes it, only the doctor and the patient read it. */
const CLINICAL_FIELDS = ['diagnosis', 'prescribedMedicine'] as const;
/** Every field of a patient's record a client may change. */
export type PatientField = (typeof ADMISSION_FIELDS)[number] | (typeof CLINICAL_FIELDS)[number];
/** Demographics: admission fields the patient's doctor may correct as well. */
const DEMOGRAPHIC_FIELDS = ['name', 'age', 'gender'] as const;

/**
 * Clinical content (diagnosis, prescribed medicine, notes, clinical revisions) is read by the
 * patient's doctor and the patient only (their scope decides which patient): never admins,
 * never services.
 */
export function canReadClinical(actor: Actor): boolean {
  return hasRole(actor, 'doctor', 'patient');
}

/** True for a clinical field name. */
export function isClinicalField(field: string): boolean {
  return (CLINICAL_FIELDS as readonly string[]).includes(field);
}

/** The patient columns an actor reads: clinical columns are not even selected for others. */
export function readablePatientFields(actor: Actor): PatientColumn[] {
  const admission: PatientColumn[] = ['id', ...ADMISSION_FIELDS, 'createdAt', 'updatedAt'];
  return canReadClinical(actor) ? [...admission, ...CLINICAL_FIELDS] : admission;
}

/**
 * Which fields an actor may change on a patient in their scope: admins and services the
 * admission fields (never clinical content); the patient's doctor demographics and clinical
 * fields (not doctor, room or bed); patients nothing.
 */
function writablePatientFields(actor: Actor): readonly PatientField[] {
  if (actor.type === 'service' || actor.role === 'admin') return ADMISSION_FIELDS;
  if (actor.role === 'doctor') return [...DEMOGRAPHIC_FIELDS, ...CLINICAL_FIELDS];
  return [];
}

/**
 * Throws FORBIDDEN, naming the fields, if `fields` holds one a doctor may not change on a patient
 * they reach by `access`: through consent or emergency access only the clinical fields (name, age,
 * gender stay with the assigned doctor and admins, like doctor, room and bed). Checked once the
 * patient is found in scope, after `assertMayChangePatientFields`.
 */
export function assertMayChangeReachedPatient(
  actor: Actor,
  access: PatientAccess | null,
  fields: string[],
): void {
  if (!hasRole(actor, 'doctor') || access === null || access === 'assigned') return;
  const denied = fields.filter((field) => !isClinicalField(field));
  if (denied.length === 0) return;
  const how = access === 'consent' ? "through the patient's consent" : 'by emergency access';
  throw forbidden(
    `You may not change ${denied.join(', ')}: you reach this patient ${how}, which allows clinical changes (diagnosis, prescribedMedicine) only; admission data is changed by the assigned doctor or an admin`,
    [...denied, 'prescribedMedicine'],
  );
}

/** Throws FORBIDDEN, naming the fields, if `fields` holds one the actor may not change. */
export function assertMayChangePatientFields(actor: Actor, fields: string[]): void {
  const allowed: readonly string[] = writablePatientFields(actor);
  const denied = fields.filter((field) => !allowed.includes(field));
  if (denied.length === 0) return;
  const reason = hasRole(actor, 'patient')
    ? 'patients cannot change their record'
    : isClinicalField(denied[0]!)
      ? "clinical content is changed only by the patient's doctor"
      : 'doctor, room and bed assignments are changed only by an admin';
  throw forbidden(`You may not change ${denied.join(', ')}: ${reason}`, denied);
}

// --- Imports and exports (background jobs' files) -------------------------------------------

/**
 * Who may import patients from a CSV file: admins only. An import admits patients to any doctor,
 * as an admin's `patients.create` does; no clinical content can be imported.
 */
export function mayImportPatients(actor: Actor): actor is UserActor<'admin'> {
  return hasRole(actor, 'admin');
}

/**
 * Who may export a patient's full record (clinical content included), or download an export of
 * it: the patient's doctor and the patient themself, for a patient in their scope, checked again
 * at every download (whoever started the export). Admins and services never: for them it is
 * NOT_FOUND, exactly as if no such record existed.
 */
export function mayExportPatients(actor: Actor): boolean {
  return canReadClinical(actor);
}

/**
 * Throws FORBIDDEN when the caller reaches the patient only by emergency access: it opens the
 * record to read and treat, never to take away (no export, single or bulk). The care team and a
 * consented doctor may export.
 */
export function assertMayExportReached(access: PatientAccess | null): void {
  if (access === 'emergency') {
    throw forbidden(
      'Emergency access does not allow exports: it opens the record for reading and treatment only. Ask the patient for consent, or the assigned doctor, for an export',
    );
  }
}

// --- Background jobs -------------------------------------------------------------------------

/** Who started a job, as the jobs table records it. */
export interface JobStarter {
  createdByType: string;
  createdById: number;
}

/** True when `actor` started the job (the same person or the same service token). */
function startedJob(actor: Actor, job: JobStarter): boolean {
  return job.createdByType === actor.type && job.createdById === actor.id;
}

/**
 * Who may see a background job (`jobs.get`, `jobs.list`): the person or service that started it,
 * and admins (every job, the server's own recurring jobs included). To anyone else a job answers
 * as if it did not exist.
 */
export function mayReadJob(actor: Actor, job: JobStarter): boolean {
  return hasRole(actor, 'admin') || startedJob(actor, job);
}

/** The jobs an actor's job list covers, as a query condition: admins all, anyone else their own. */
export function jobScope(actor: Actor): Partial<JobStarter> {
  if (hasRole(actor, 'admin')) return {};
  return { createdByType: actor.type, createdById: actor.id };
}

/**
 * Whether the actor sees a job's result as stored: only whoever started it. Admins see another's
 * job with its type's admin view of the result (never clinical content), or with no result.
 */
export function mayReadJobResult(actor: Actor, job: JobStarter): boolean {
  return startedJob(actor, job);
}

// --- Change events ---------------------------------------------------------------------------

/** What deciding an event's delivery needs to know now, read afresh for each batch of events. */
export interface EventFacts {
  /** Each patient's current doctor (null: none); a patient absent here no longer exists. */
  patientDoctor: ReadonlyMap<number, number | null>;
  /** Who started each job. */
  jobStarter: ReadonlyMap<number, JobStarter>;
}

/** An event, as far as its delivery is concerned. */
export interface EventSubject {
  type: EventType;
  entityId: number;
  patientId: number | null;
}

/** The services' scopes that receive events at all (`events.onChange`). */
export const EVENT_SCOPES: readonly Scope[] = ['doctors:read', 'patients:read', 'checkHistory:read'];

/**
 * True when a caller with `scope` reaches the patient as the patient's current assignment stands
 * (`facts`): the same rule as every read (`scopeOf`, `patientInScope`), applied to the patient's row.
 */
function reachesPatient(
  scope: AccessScope,
  patientId: number | null,
  facts: EventFacts,
  need: Scope,
): boolean {
  if (patientId === null || !facts.patientDoctor.has(patientId)) return false;
  const doctorId = facts.patientDoctor.get(patientId) ?? null;
  return patientInScope(patientsReached(scope, need), { id: patientId, doctorId });
}

/**
 * Whether `actor` (with its current `scope`) may receive an event (`events.onChange`), decided for
 * each event against the current assignments: exactly who may read the record it is about. Doctor
 * events: every signed-in person, services with `doctors:read`. Patient events: the patient's
 * scope (`patients.get`: the care team, consented and emergency doctors included). Check-up
 * events: the patient's scope (`checkHistory.list`; services with `checkHistory:read`). Note
 * events: the patient's doctors and the patient only, as notes are read. Job events: whoever
 * started the job, and admins. `emergency.opened`: admins and the patient's assigned doctor.
 */
export function mayReceiveEvent(
  actor: Actor,
  scope: AccessScope,
  event: EventSubject,
  facts: EventFacts,
): boolean {
  switch (entityOf(event.type)) {
    case 'doctor':
      return actor.type === 'user' || actor.scopes.includes('doctors:read');
    case 'patient':
      return reachesPatient(scope, event.patientId, facts, 'patients:read');
    case 'checkHistory':
      return reachesPatient(scope, event.patientId, facts, 'checkHistory:read');
    case 'note':
      return canReadClinical(actor) && reachesPatient(scope, event.patientId, facts, 'patients:read');
    case 'emergency': {
      if (hasRole(actor, 'admin')) return true;
      if (event.patientId === null || !facts.patientDoctor.has(event.patientId)) return false;
      const doctorId = facts.patientDoctor.get(event.patientId) ?? null;
      return accessOf(scope, { id: event.patientId, doctorId }) === 'assigned';
    }
    case 'job': {
      const starter = facts.jobStarter.get(event.entityId);
      return starter !== undefined && mayReadJob(actor, starter);
    }
  }
}
