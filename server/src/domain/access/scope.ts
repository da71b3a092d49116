import { accessRepo, type Database, NO_PATIENTS, type PatientScope, type Tx } from '@hdms/db';
import type { Actor } from '../actor';
import type { Scope } from './tokenScopes';

/**
 * The one rule of which patients a caller reaches, as a value computed once per request (or job
 * run, or subscription check) from the actor and its access facts, and applied by every repository
 * read of patient data (`PatientScope`): a query cannot forget it.
 *
 * - admins: every patient;
 * - a doctor: the patients assigned to their linked Doctor record, the patients whose consent
 *   grant to that record is in force, and the patients that record holds an open emergency access
 *   to (assigned ∪ consented ∪ emergency);
 * - a patient: their own record;
 * - an account linked to no record: none;
 * - a service token: every patient for the scopes it holds, none for the others.
 */

/** Why a doctor reaches a patient: assigned to them, through the patient's consent, or by emergency access. */
export type PatientAccess = 'assigned' | 'consent' | 'emergency';

/** An open emergency access, as the scope carries it (its reads and writes are audited with the reason). */
export interface EmergencyFact {
  id: number;
  patientId: number;
  reason: string;
  expiresAt: Date;
}

/**
 * What the scope is computed from beyond the actor's role: the links (doctor and patient records,
 * read with the account by the session lookup), and for a linked doctor the consents in force and
 * the open emergency accesses of their Doctor record (`loadAccessFacts`: one query).
 */
export interface AccessFacts {
  doctorId: number | null;
  patientId: number | null;
  /** Patients whose consent grant to the doctor is in force. */
  consentedPatientIds: readonly number[];
  /** The doctor's open emergency accesses. */
  emergencies: readonly EmergencyFact[];
  /** When the first of these grants ends by itself (then the facts are stale); null if none will. */
  changesAt: Date | null;
}

/** What a doctor's scope holds beyond their assigned patients. */
export interface DoctorGrants {
  /** Their Doctor record (the assigned patients are this record's). */
  doctorId: number;
  consented: ReadonlySet<number>;
  /** Open emergency accesses by patient id. */
  emergency: ReadonlyMap<number, EmergencyFact>;
}

/** A caller's reach, for one request or one job run. */
export interface AccessScope {
  /** Patients a person reaches (for services: see `tokenScopes`). */
  readonly patients: PatientScope;
  /** A service token's scopes; null for persons. */
  readonly tokenScopes: readonly Scope[] | null;
  /** A linked doctor's consents and emergency accesses; null for everyone else. */
  readonly grants: DoctorGrants | null;
  /** When this scope must be computed again (a consent or emergency access ends), in ms; null: never by itself. */
  readonly validUntil: number | null;
}

/**
 * The facts that need no query: the actor's links, no grants. Right for everyone but a linked
 * doctor, whose grants `loadAccessFacts` reads.
 */
export function linkFactsOf(actor: Actor): AccessFacts {
  return actor.type === 'user'
    ? {
        doctorId: actor.doctorId,
        patientId: actor.patientId,
        consentedPatientIds: [],
        emergencies: [],
        changesAt: null,
      }
    : { doctorId: null, patientId: null, consentedPatientIds: [], emergencies: [], changesAt: null };
}

/**
 * The actor's access facts as they stand at `now`: for a linked doctor one query
 * (`accessRepo.openGrantsOf`, the consents in force and open emergency accesses of their Doctor
 * record), for anyone else none.
 */
export async function loadAccessFacts(
  db: Database,
  actor: Actor,
  options: { tx?: Tx; now?: Date } = {},
): Promise<AccessFacts> {
  const facts = linkFactsOf(actor);
  if (actor.type !== 'user' || actor.role !== 'doctor' || facts.doctorId === null) return facts;
  const now = options.now ?? new Date();
  const grants = await accessRepo.openGrantsOf(db, facts.doctorId, now, options.tx);
  const consented: number[] = [];
  const emergencies: EmergencyFact[] = [];
  let changesAt: number | null = null;
  for (const grant of grants) {
    if (grant.kind === 'consent') consented.push(grant.patientId);
    else {
      emergencies.push({
        id: grant.id,
        patientId: grant.patientId,
        reason: grant.reason ?? '',
        expiresAt: grant.expiresAt!,
      });
    }
    const ends = grant.expiresAt?.getTime();
    if (ends !== undefined && (changesAt === null || ends < changesAt)) changesAt = ends;
  }
  return {
    ...facts,
    consentedPatientIds: consented,
    emergencies,
    changesAt: changesAt === null ? null : new Date(changesAt),
  };
}

/** The caller's scope, from the actor and its facts: pure, the rule stated once. */
export function scopeOf(actor: Actor, facts: AccessFacts): AccessScope {
  if (actor.type === 'service') {
    return { patients: NO_PATIENTS, tokenScopes: actor.scopes, grants: null, validUntil: null };
  }
  switch (actor.role) {
    case 'admin':
      return { patients: 'all', tokenScopes: null, grants: null, validUntil: null };
    case 'doctor': {
      if (facts.doctorId === null)
        return { patients: NO_PATIENTS, tokenScopes: null, grants: null, validUntil: null };
      const emergency = new Map(facts.emergencies.map((e) => [e.patientId, e]));
      const consented = new Set(facts.consentedPatientIds);
      return {
        patients: {
          doctorIds: [facts.doctorId],
          patientIds: [...new Set([...consented, ...emergency.keys()])],
        },
        tokenScopes: null,
        grants: { doctorId: facts.doctorId, consented, emergency },
        validUntil: facts.changesAt?.getTime() ?? null,
      };
    }
    case 'patient':
      return {
        patients: facts.patientId === null ? NO_PATIENTS : { doctorIds: [], patientIds: [facts.patientId] },
        tokenScopes: null,
        grants: null,
        validUntil: null,
      };
  }
}

/** The actor's scope as it stands now: `loadAccessFacts` (one query for a linked doctor) and `scopeOf`. */
export async function loadScope(
  db: Database,
  actor: Actor,
  options: { tx?: Tx; now?: Date } = {},
): Promise<AccessScope> {
  return scopeOf(actor, await loadAccessFacts(db, actor, options));
}

/**
 * Why a doctor's scope reaches a patient (`id`, assigned `doctorId`): `assigned`, `consent` or
 * `emergency` (assignment first, then consent); null for a scope of anyone but a linked doctor, or
 * a patient it does not reach.
 */
export function accessOf(
  scope: AccessScope,
  patient: { id: number; doctorId: number | null },
): PatientAccess | null {
  const grants = scope.grants;
  if (!grants) return null;
  if (patient.doctorId !== null && patient.doctorId === grants.doctorId) return 'assigned';
  if (grants.consented.has(patient.id)) return 'consent';
  if (grants.emergency.has(patient.id)) return 'emergency';
  return null;
}

/** The open emergency access `scope` reaches patient `patientId` by, if any (its reads are audited with it). */
export function emergencyFor(scope: AccessScope | undefined, patientId: number): EmergencyFact | undefined {
  return scope?.grants?.emergency.get(patientId);
}

/**
 * A key that two scopes share exactly when they reach the same patients the same ways (for
 * deciding event delivery once per distinct scope).
 */
export function scopeKeyPart(scope: AccessScope): string {
  const grants = scope.grants;
  if (!grants) return '';
  const consented = [...grants.consented].sort((a, b) => a - b).join(',');
  const emergency = [...grants.emergency.keys()].sort((a, b) => a - b).join(',');
  return `c${consented}:e${emergency}`;
}

/**
 * The patients `scope` reaches for a call that needs `need` of a service token (`patients:read`
 * by default): persons reach their patients whatever the call; a service every patient when its
 * token holds `need`, none otherwise.
 */
export function patientsReached(scope: AccessScope, need: Scope = 'patients:read'): PatientScope {
  if (scope.tokenScopes) return scope.tokenScopes.includes(need) ? 'all' : NO_PATIENTS;
  return scope.patients;
}
