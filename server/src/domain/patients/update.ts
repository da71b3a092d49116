import {
  doctorsRepo,
  type FieldChanges,
  type PatientRow,
  patientsRepo,
  positionsRepo,
  type Tx,
} from '@hdms/db';
import {
  assertMayChangePatientFields,
  assertMayChangeReachedPatient,
  type PatientField,
} from '../access/policy';
import { accessOf } from '../access/scope';
import { actorName } from '../actor';
import { recordAudit } from '../audit/record';
import type { DomainContext } from '../context';
import { badInput } from '../errors';
import { recordEvent } from '../events/record';
import { findPatient } from './lookup';
import type { PatientChanges } from './schemas';
import { type PatientView, patientView } from './views';

/** What an update did: the record as the actor may now see it, and the fields that changed. */
export interface UpdateResult {
  patient: PatientView;
  changedFields: PatientField[];
}

/** Who updates: the caller, their scope and where the call came from (for the audit row). */
export type Updater = Pick<DomainContext, 'db' | 'actor' | 'scope' | 'requestId' | 'ip' | 'procedure'>;

/** The fields `changes` names (an absent or undefined value names nothing). */
export function namedFields(changes: PatientChanges): PatientField[] {
  return (Object.keys(changes) as PatientField[]).filter((field) => changes[field] !== undefined);
}

/**
 * The checks of an update that need no write: the actor may change every field named
 * (FORBIDDEN otherwise, before anything is read), the patient is in their write scope (NOT_FOUND;
 * locked for update in `tx`), a doctor who reaches the patient through consent or emergency
 * access changes clinical fields only (FORBIDDEN), and a new doctor exists (bad input at
 * `doctorId`). `updatePatient` and the queued update (`acceptPatientUpdate`) both run them, once
 * each.
 */
export async function checkPatientUpdate(
  ctx: Updater,
  id: number,
  changes: PatientChanges,
  tx: Tx,
): Promise<PatientRow> {
  assertMayChangePatientFields(ctx.actor, namedFields(changes));
  const patient = await findPatient(ctx, id, { tx, lock: 'update', need: 'patients:write' });
  assertMayChangeReachedPatient(ctx.actor, accessOf(ctx.scope, patient), namedFields(changes));
  if (typeof changes.doctorId === 'number') {
    const known = await doctorsRepo.existingIds(ctx.db, [changes.doctorId], tx);
    if (!known.has(changes.doctorId)) throw badInput(['doctorId'], 'Doctor not found');
  }
  return patient;
}

/**
 * Changes one patient's record: the one way any caller (the `patients.update` procedure, a
 * background job) changes a patient. Runs `checkPatientUpdate`, then writes the change, its
 * revision ({ field: { old, new } }) and its audit row in one transaction, with a
 * `patient.updated` event. A change that alters no value writes no revision and is audited as a
 * read, since the record is still returned.
 *
 * Pass `tx` to join a transaction the caller already holds (e.g. a job marking itself done in
 * the same commit); otherwise the update opens its own.
 */
export async function updatePatient(
  ctx: Updater,
  id: number,
  changes: PatientChanges,
  tx?: Tx,
): Promise<UpdateResult> {
  // FORBIDDEN for a field the actor may not change comes before any read.
  assertMayChangePatientFields(ctx.actor, namedFields(changes));
  const work = async (tx: Tx): Promise<UpdateResult> => {
    const patient = await checkPatientUpdate(ctx, id, changes, tx);
    const diff: FieldChanges = {};
    for (const field of namedFields(changes)) {
      const old = patient[field] ?? null;
      if (old !== changes[field]) diff[field] = { old, new: changes[field] };
    }
    const changedFields = Object.keys(diff) as PatientField[];
    if (changedFields.length === 0) {
      // Nothing to change or revise, but the answer still shows the record: audit it as a read.
      await recordAudit(ctx, { action: 'read', patientIds: [patient.id] }, tx);
      return { patient: patientView(ctx.actor, patient, accessOf(ctx.scope, patient)), changedFields };
    }
    const values = Object.fromEntries(changedFields.map((f) => [f, diff[f]!.new]));
    const updatedAt = await patientsRepo.update(ctx.db, patient.id, values, tx);
    await patientsRepo.insertRevision(
      ctx.db,
      {
        patientId: patient.id,
        actorType: ctx.actor.type,
        actorId: ctx.actor.id,
        actorName: actorName(ctx.actor),
        changes: diff,
      },
      tx,
    );
    await recordAudit(ctx, { action: 'update', patientIds: [patient.id] }, tx);
    await recordEvent(ctx.db, tx, {
      type: 'patient.updated',
      entityId: patient.id,
      patientId: patient.id,
      fields: changedFields,
    });
    if (diff.doctorId) {
      // A changed assignment is a scope fact: replica reads wait for it (read replicas only), so
      // the doctor it was taken from stops reading the patient at once, even on a lagging replica.
      tx.afterCommit(() => positionsRepo.record(ctx.db, positionsRepo.SCOPE_OWNER).catch(() => undefined));
    }
    const view = patientView(ctx.actor, { ...patient, ...values, updatedAt }, accessOf(ctx.scope, patient));
    return { patient: view, changedFields };
  };
  return tx ? work(tx) : ctx.db.transaction(work);
}
