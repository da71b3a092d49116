import type { Database, FieldChanges, Transaction } from '@hdms/db';
import { assertMayChangePatientFields, findPatientInScope, type PatientField } from '../access/policy';
import { type Actor, actorName } from '../../context';
import { badInput } from '../errors';
import { recordEvent } from '../events/record';
import { recordAudit } from '../audit/record';
import type { PatientChanges } from './schemas';
import { type PatientView, patientView } from './views';

/** Where an update comes from, for its audit row. */
export interface UpdateMeta {
  requestId: string;
  ip: string | null;
  /** The procedure (or job type) that asked for the update. */
  procedure: string;
}

/** What an update did: the record as the actor may now see it, and the fields that changed. */
export interface UpdateResult {
  patient: PatientView;
  changedFields: PatientField[];
}

/**
 * Changes one patient's record: the one way any caller (the `patients.update` procedure, a
 * background job) changes a patient. Checks the actor may change every field named (FORBIDDEN
 * otherwise, before anything is read), locks the record in the actor's write scope (NOT_FOUND if
 * outside it), and writes the change, its `PatientRevision` ({ field: { old, new } }) and its
 * audit row in one transaction. A change that alters no value writes no revision and is audited
 * as a read, since the record is still returned.
 *
 * Pass `transaction` to join a transaction the caller already holds (e.g. a job marking itself
 * done in the same commit); otherwise the update opens its own.
 */
export async function updatePatient(
  db: Database,
  actor: Actor,
  id: number,
  changes: PatientChanges,
  meta: UpdateMeta,
  transaction?: Transaction,
): Promise<UpdateResult> {
  const named = Object.keys(changes).filter((field) => changes[field as PatientField] !== undefined);
  assertMayChangePatientFields(actor, named);
  const work = async (tx: Transaction): Promise<UpdateResult> => {
    const patient = await findPatientInScope(db.models, actor, id, {
      transaction: tx,
      lock: 'update',
      scope: 'patients:write',
    });
    const diff: FieldChanges = {};
    for (const [field, value] of Object.entries(changes) as [PatientField, unknown][]) {
      if (value === undefined) continue;
      const old = patient[field] ?? null;
      if (old !== value) diff[field] = { old, new: value };
    }
    const changedFields = Object.keys(diff) as PatientField[];
    if (changedFields.length === 0) {
      // Nothing to change or revise, but the answer still shows the record: audit it as a read.
      await recordAudit({ db, actor, ...meta }, { action: 'read', patientIds: [patient.id] }, tx);
      return { patient: patientView(actor, patient), changedFields };
    }

    const doctorId = diff.doctorId?.new;
    if (typeof doctorId === 'number') {
      const doctor = await db.models.Doctor.findByPk(doctorId, { transaction: tx, attributes: ['id'] });
      if (!doctor) throw badInput(['doctorId'], 'Doctor not found');
    }
    await patient.update(Object.fromEntries(changedFields.map((f) => [f, diff[f]!.new])), {
      transaction: tx,
    });
    await db.models.PatientRevision.create(
      {
        patientId: patient.id,
        actorType: actor.type,
        actorId: actor.id,
        actorName: actorName(actor),
        changes: diff,
      },
      { transaction: tx },
    );
    await recordAudit({ db, actor, ...meta }, { action: 'update', patientIds: [patient.id] }, tx);
    await recordEvent(tx, {
      type: 'patient.updated',
      entityId: patient.id,
      patientId: patient.id,
      fields: changedFields,
    });
    return { patient: patientView(actor, patient), changedFields };
  };
  return transaction ? work(transaction) : db.transaction(work);
}
