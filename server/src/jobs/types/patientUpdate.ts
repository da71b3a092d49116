import { z } from 'zod';
import { positionsRepo } from '@hdms/db';
import { assertMayChangePatientFields, type PatientField } from '../../domain/access/policy';
import { loadScope } from '../../domain/access/scope';
import type { DomainContext } from '../../domain/context';
import { badInput } from '../../domain/errors';
import { idSchema } from '../../lib/schemas';
import { type PatientChanges, patientChangesSchema } from '../../domain/patients/schemas';
import { checkPatientUpdate, namedFields, updatePatient } from '../../domain/patients/update';
import { actorOfJobOwner, jobOwnerOf } from '../actor';
import { enqueueJob } from '../queue';
import type { JobType } from '../types';

/** What a `patient.update` job stores: the patient and the validated changes. */
export const patientUpdatePayload = z.object({ patientId: idSchema, changes: patientChangesSchema }).strict();

/** A `patient.update` job's payload. */
export type PatientUpdatePayload = z.output<typeof patientUpdatePayload>;

/**
 * A `patient.update` job's result: which fields the update changed (names only, never values: the
 * record itself is read with `patients.get`, under the reader's own access rules). An update that
 * changed nothing lists none.
 */
export interface PatientUpdateResult {
  patientId: number;
  changedFields: PatientField[];
}

/**
 * `patient.update`: the asynchronous `patients.update` (`patients.updateAsync`,
 * `POST /update_patient/:id`). It runs as the user who asked, as they are now (see
 * `actorOfJobOwner`), through the one update path `updatePatient`, inside `complete`'s
 * transaction: same access check, revision and audit row (procedure `patient.update`, the
 * accepting request's id) as `patients.update`. Refused access fails the job at once.
 */
export const patientUpdateJob: JobType<PatientUpdatePayload, PatientUpdateResult> = {
  name: 'patient.update',
  payload: patientUpdatePayload,
  timeoutMs: 30_000,
  maxAttempts: 5,
  backoffMs: 1_000,
  run(ctx) {
    const { patientId, changes } = ctx.job.payload;
    return ctx.complete(async (tx) => {
      const actor = await actorOfJobOwner(ctx.db, ctx.job.owner, tx);
      const updater = {
        db: ctx.db,
        actor,
        scope: await loadScope(ctx.db, actor, { tx }),
        requestId: ctx.job.requestId,
        ip: ctx.job.ip,
        procedure: 'patient.update',
      };
      const { changedFields } = await updatePatient(updater, patientId, changes, tx);
      // Read-your-writes for the account that asked (read replicas only): its reads after the job
      // see the change, as after a direct update.
      if (actor.type === 'user') {
        tx.afterCommit(() => positionsRepo.record(ctx.db, actor.id).catch(() => undefined));
      }
      return { patientId, changedFields };
    });
  },
  adminResult: (result) => result,
};

/**
 * Accepts an update for the queue (`patients.updateAsync`): everything `patients.update` would
 * refuse up front is refused now, and nothing is queued: bad input (400), a field the caller may
 * not change (403), a patient outside their write scope (404), an unknown doctor (400). The job is
 * inserted while the patient's row is locked, so the updates of one patient are queued, and
 * therefore applied, in the order they were accepted.
 */
export async function acceptPatientUpdate(
  ctx: Pick<DomainContext, 'db' | 'actor' | 'scope' | 'requestId' | 'ip' | 'procedure'>,
  id: number,
  changes: PatientChanges,
): Promise<{ jobId: number }> {
  if (namedFields(changes).length === 0) throw badInput([], 'Name at least one field to change');
  assertMayChangePatientFields(ctx.actor, namedFields(changes));
  return ctx.db.transaction(async (tx) => {
    await checkPatientUpdate(ctx, id, changes, tx);
    const { id: jobId } = await enqueueJob(ctx.db, tx, {
      type: patientUpdateJob,
      payload: { patientId: id, changes },
      owner: jobOwnerOf(ctx.actor),
      requestId: ctx.requestId,
      ip: ctx.ip,
      serialKey: `patient:${id}`,
      patientId: id,
    });
    return { jobId };
  });
}
