import { NO_PATIENTS, type PatientScope } from '@hdms/db';
import type { Actor } from '../actor';
import type { Scope } from './tokenScopes';

/**
 * The one rule of which patients a caller reaches, as a value computed once per request (or job
 * run) from the actor and its access facts, and applied by every repository read of patient data
 * (`PatientScope`): a query cannot forget it.
 *
 * - admins: every patient;
 * - a doctor: the patients assigned to their linked Doctor record (consented and emergency
 *   patients join here as `patientIds` when those facts exist);
 * - a patient: their own record;
 * - an account linked to no record: none;
 * - a service token: every patient for the scopes it holds, none for the others.
 */

/**
 * What the scope is computed from beyond the actor's role. Today the links (doctor and patient
 * records), which the session lookup reads with the account (no query of their own). Grants that
 * open more records (consent, emergency access) are added here and loaded in one query per request.
 */
export interface AccessFacts {
  doctorId: number | null;
  patientId: number | null;
}

/** A caller's reach, for one request or one job run. */
export interface AccessScope {
  /** Patients a person reaches (for services: see `tokenScopes`). */
  readonly patients: PatientScope;
  /** A service token's scopes; null for persons. */
  readonly tokenScopes: readonly Scope[] | null;
}

/** The access facts of an actor: for now read with the actor itself. */
export function accessFactsOf(actor: Actor): AccessFacts {
  return actor.type === 'user'
    ? { doctorId: actor.doctorId, patientId: actor.patientId }
    : { doctorId: null, patientId: null };
}

/** The caller's scope, from the actor and its facts: pure, the rule stated once. */
export function scopeOf(actor: Actor, facts: AccessFacts = accessFactsOf(actor)): AccessScope {
  if (actor.type === 'service') return { patients: NO_PATIENTS, tokenScopes: actor.scopes };
  switch (actor.role) {
    case 'admin':
      return { patients: 'all', tokenScopes: null };
    case 'doctor':
      return {
        patients: facts.doctorId === null ? NO_PATIENTS : { doctorIds: [facts.doctorId], patientIds: [] },
        tokenScopes: null,
      };
    case 'patient':
      return {
        patients: facts.patientId === null ? NO_PATIENTS : { doctorIds: [], patientIds: [facts.patientId] },
        tokenScopes: null,
      };
  }
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
