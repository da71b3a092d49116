import type { FieldChanges, PatientRow, RevisionRow } from '@hdms/db';
import { canReadClinical, isClinicalField } from '../access/policy';
import type { PatientAccess } from '../access/scope';
import type { Actor } from '../actor';

/**
 * A patient's record as clients see it. `diagnosis` and `prescribedMedicine` are present only for
 * the patient's doctors and the patient; for admins and services the keys are absent altogether.
 * `access` tells a doctor why the record is visible to them (assigned, consent, emergency); it is
 * absent for everyone else.
 */
export interface PatientView {
  id: number;
  name: string;
  age: number;
  gender: string;
  doctorId: number | null;
  roomNumber: string | null;
  bedNumber: string | null;
  diagnosis?: string | null;
  prescribedMedicine?: string | null;
  access?: PatientAccess;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * Maps a `Patient` row to the view this actor may see, with an explicit field list; `access` (a
 * doctor's reason to see it, `accessOf`) when given.
 */
export function patientView(actor: Actor, patient: PatientRow, access?: PatientAccess | null): PatientView {
  const view: PatientView = {
    id: patient.id,
    name: patient.name,
    age: patient.age,
    gender: patient.gender,
    doctorId: patient.doctorId ?? null,
    roomNumber: patient.roomNumber ?? null,
    bedNumber: patient.bedNumber ?? null,
    createdAt: patient.createdAt,
    updatedAt: patient.updatedAt,
  };
  if (canReadClinical(actor)) {
    view.diagnosis = patient.diagnosis ?? null;
    view.prescribedMedicine = patient.prescribedMedicine ?? null;
  }
  if (access) view.access = access;
  return view;
}

/** One field's change in a revision: old and new value, or only the fact it changed. */
export type FieldChangeView = { old: unknown; new: unknown } | { redacted: true };

/** One change to a patient's record as clients see it. */
export interface RevisionView {
  id: number;
  patientId: number;
  actorType: string;
  actorId: number | null;
  actorName: string;
  createdAt: Date;
  changes: Record<string, FieldChangeView>;
}

/**
 * Maps a revision to this actor's view. For admins and services a clinical field's old and new
 * values are replaced by `{ redacted: true }`: they see that it changed, when and by whom, never
 * what it said.
 */
export function revisionView(actor: Actor, revision: RevisionRow): RevisionView {
  const clinical = canReadClinical(actor);
  const changes: Record<string, FieldChangeView> = {};
  for (const [field, change] of Object.entries(revision.changes as FieldChanges)) {
    const redact = !clinical && isClinicalField(field);
    changes[field] = redact ? { redacted: true } : { old: change.old, new: change.new };
  }
  return {
    id: revision.id,
    patientId: revision.patientId,
    actorType: revision.actorType,
    actorId: revision.actorId ?? null,
    actorName: revision.actorName,
    createdAt: revision.createdAt,
    changes,
  };
}
