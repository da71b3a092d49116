import type { Patient, Transaction } from '@hdms/db';
import { Op, type WhereOptions } from 'sequelize';
import type { Actor } from './context';
import { notFound } from './errors';
import type { Scope } from './scopes';

/**
 * Which patients an actor may reach, written once and used by every query:
 * - admin: every patient (admission data only, see `canReadClinical`);
 * - doctor: the patients assigned to their linked Doctor record;
 * - patient: their own linked Patient record;
 * - an unlinked account: none;
 * - a service: every patient, if it holds `scope` (the procedure's meta scope).
 * Returns null when the actor reaches no patient at all.
 */
export function patientScope(actor: Actor, scope: Scope = 'patients:read'): WhereOptions<Patient> | null {
  if (actor.type === 'service') return actor.scopes.includes(scope) ? {} : null;
  switch (actor.role) {
    case 'admin':
      return {};
    case 'doctor':
      return actor.doctorId === null ? null : { doctorId: actor.doctorId };
    case 'patient':
      return actor.patientId === null ? null : { id: actor.patientId };
  }
}

/** The same rule for one known record: may this actor see patient `patient`? */
export function mayAccessPatient(
  actor: Actor,
  patient: { id: number; doctorId: number | null },
  scope: Scope = 'patients:read',
): boolean {
  if (actor.type === 'service') return actor.scopes.includes(scope);
  switch (actor.role) {
    case 'admin':
      return true;
    case 'doctor':
      return actor.doctorId !== null && patient.doctorId === actor.doctorId;
    case 'patient':
      return actor.patientId !== null && patient.id === actor.patientId;
  }
}

/**
 * Clinical content (diagnosis, prescribed medicine, notes, clinical revisions) is for the
 * patient's doctor and the patient only: never admins, never services.
 */
export function canReadClinical(actor: Actor): boolean {
  return actor.type === 'user' && (actor.role === 'doctor' || actor.role === 'patient');
}

/**
 * Loads one patient the actor may reach, with the scope in the query itself; anything else is
 * NOT_FOUND, exactly as if it did not exist.
 */
export async function findPatientInScope(
  models: { Patient: typeof Patient },
  actor: Actor,
  id: number,
  options: { transaction?: Transaction; lock?: boolean; scope?: Scope } = {},
): Promise<Patient> {
  const where = patientScope(actor, options.scope);
  if (where === null) throw notFound('Patient');
  const patient = await models.Patient.findOne({
    // Both conditions, never a spread: a patient's scope is itself an `id` condition.
    where: { [Op.and]: [where, { id }] } as WhereOptions<Patient>,
    transaction: options.transaction,
    lock: options.lock && options.transaction ? options.transaction.LOCK.UPDATE : undefined,
  });
  if (!patient) throw notFound('Patient');
  return patient;
}
