import { NO_PATIENTS, type PatientScope } from '@hdms/db';
import { hasRole, type Scope } from '../../domain/access/policy';
import type { Actor } from '../../domain/actor';
import { forbidden } from '../../domain/errors';
import { RESOURCE_TYPES, type ResourceType } from '../mapping';

/**
 * Who a FHIR Bulk Data export (`Patient/$export`) covers and which resource types it may hold,
 * as pure functions of the actor (the rules of issue 21, next to the rest of the bulk export):
 *
 * - a doctor: the patients assigned to their Doctor record (never those reached by consent or
 *   emergency access), every type;
 * - a patient: their own record, every type (what `patients.get`, `notes.list` and
 *   `checkHistory.list` already show them);
 * - an admin: every patient, without the clinical types (Condition, MedicationStatement,
 *   DocumentReference);
 * - a service token: every patient, the types its scopes read (Patient ← `patients:read`,
 *   Practitioner ← `doctors:read`, Encounter ← `checkHistory:read`), never the clinical ones.
 *
 * Types left out are named in the manifest's `error` file, with the reason.
 */

/** The clinical types: read by the patient's doctor and the patient only. */
export const CLINICAL_TYPES: readonly ResourceType[] = [
  'Condition',
  'MedicationStatement',
  'DocumentReference',
];

/** The service-token scope each non-clinical type needs. */
const SERVICE_SCOPE: Partial<Record<ResourceType, Scope>> = {
  Patient: 'patients:read',
  Practitioner: 'doctors:read',
  Encounter: 'checkHistory:read',
};

/** A type the caller asked for (or got by default) but may not read, and why. */
export interface OmittedType {
  type: ResourceType;
  reason: string;
}

/** The types an export of `actor` writes, of those asked for, and the ones it leaves out. */
export function exportTypesFor(
  actor: Actor,
  asked: readonly ResourceType[],
): { types: ResourceType[]; omitted: OmittedType[] } {
  const types: ResourceType[] = [];
  const omitted: OmittedType[] = [];
  for (const type of asked) {
    const refusal = typeRefusal(actor, type);
    if (refusal) omitted.push({ type, reason: refusal });
    else types.push(type);
  }
  return { types, omitted };
}

function typeRefusal(actor: Actor, type: ResourceType): string | null {
  const clinical = CLINICAL_TYPES.includes(type);
  if (actor.type === 'service') {
    if (clinical) return `${type} is clinical content, which service tokens never read`;
    const scope = SERVICE_SCOPE[type]!;
    return actor.scopes.includes(scope) ? null : `${type} needs the ${scope} scope, which this token lacks`;
  }
  if (clinical && hasRole(actor, 'admin')) {
    return `${type} is clinical content, read only by the patient's doctor and the patient`;
  }
  return null;
}

/**
 * The patients an export of `actor` covers, as a repository scope: a doctor's assigned patients
 * only, a patient's own record, every patient for admins and services. An account linked to no
 * record may not export (FORBIDDEN), nor a service token that reads no patient data.
 */
export function exportPatientsOf(actor: Actor, types: readonly ResourceType[]): PatientScope {
  if (actor.type === 'service' || actor.role === 'admin') {
    return types.some((t) => t !== 'Practitioner') ? 'all' : NO_PATIENTS;
  }
  if (actor.role === 'doctor') {
    if (actor.doctorId === null) {
      throw forbidden('Your account is not linked to a doctor record yet; ask an admin to link it');
    }
    return { doctorIds: [actor.doctorId], patientIds: [] };
  }
  if (actor.patientId === null) {
    throw forbidden('Your account is not linked to a patient record yet; ask an admin to link it');
  }
  return { doctorIds: [], patientIds: [actor.patientId] };
}

/** Every type an export may hold, in the order files are listed. */
export const BULK_TYPES: readonly ResourceType[] = RESOURCE_TYPES;
