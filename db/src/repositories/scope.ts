import { Op, type WhereOptions } from 'sequelize';

/**
 * Which patients a caller reaches, as data: every patient, or those assigned to one of
 * `doctorIds` or named in `patientIds` (a patient's own record, and later consents and emergency
 * access). Computed once per request by the server's access module (`scopeOf`); every repository
 * read of patient data takes one and applies it in its query, and `patientInScope` applies the
 * same rule to a row already in memory (change events). Both interpreters sit here, side by side.
 */
export type PatientScope =
  | 'all'
  | { readonly doctorIds: readonly number[]; readonly patientIds: readonly number[] };

/** The scope that reaches no patient. */
export const NO_PATIENTS: PatientScope = Object.freeze({ doctorIds: [], patientIds: [] });

/** True when `scope` reaches no patient at all (no query needed). */
export function reachesNoPatient(scope: PatientScope): boolean {
  return scope !== 'all' && scope.doctorIds.length === 0 && scope.patientIds.length === 0;
}

/** True when the patient (`id`, assigned `doctorId`) is in `scope`. */
export function patientInScope(
  scope: PatientScope,
  patient: { id: number; doctorId: number | null },
): boolean {
  if (scope === 'all') return true;
  return (
    (patient.doctorId !== null && scope.doctorIds.includes(patient.doctorId)) ||
    scope.patientIds.includes(patient.id)
  );
}

/** The condition on the `patients` table (attribute names) for `scope`; callers check `reachesNoPatient` first. */
export function patientScopeWhere(scope: PatientScope): WhereOptions {
  if (scope === 'all') return {};
  const either: WhereOptions[] = [];
  if (scope.doctorIds.length) either.push({ doctorId: [...scope.doctorIds] });
  if (scope.patientIds.length) either.push({ id: [...scope.patientIds] });
  return either.length === 1 ? either[0]! : { [Op.or]: either };
}
