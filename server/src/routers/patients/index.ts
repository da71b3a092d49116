import { findPatientInScope, patientScope, readablePatientFields } from '../../access/index';
import { emptyPage, listPage } from '../../lib/pagination';
import { containsText } from '../../lib/search';
import { authedProcedure, rejectArray, roleOrServiceProcedure } from '../../procedures/index';
import { router } from '../../trpc';
import { recordAudit } from '../audit/record';
import { createPatients } from './create';
import {
  patientCreateInput,
  patientGetInput,
  patientHistoryInput,
  patientListInput,
  patientsCreateInput,
  patientUpdateInput,
} from './schemas';
import { updatePatient } from './update';
import { type PatientView, patientView, revisionView } from './views';

/**
 * Patients' records. Every query carries the caller's scope; every read and write is audited.
 * Admins and services see and change admission data only; the patient's doctor also sees and
 * changes clinical content; a patient sees their own record.
 */
export const patientsRouter = router({
  create: roleOrServiceProcedure('admin', 'doctor')
    .meta({
      description:
        'Admit one patient (admin, or a doctor for their own patients). For several at once, use createMany.',
      scope: 'patients:write',
    })
    .use(rejectArray('patients.createMany'))
    .input(patientCreateInput)
    .mutation(async ({ ctx, input }) => (await createPatients(ctx, [input], false))[0]!),

  createMany: roleOrServiceProcedure('admin', 'doctor')
    .meta({
      description:
        "Admit an array of patients (admin, or a doctor for their own patients), all or nothing: one bad item rejects the batch, naming the item's index.",
      scope: 'patients:write',
    })
    .input(patientsCreateInput)
    .mutation(({ ctx, input }) => createPatients(ctx, input, true)),

  list: authedProcedure
    .meta({
      description:
        'Patients in your scope by id, a page at a time (cursor = the last id seen). Filters: `doctorId`; `search` matches the name, ignoring case.',
      scope: 'patients:read',
    })
    .input(patientListInput.default({}))
    .query(async ({ ctx, input }) => {
      const scope = patientScope(ctx.actor, 'patients:read');
      if (scope === null) return emptyPage<PatientView>();
      const result = await listPage(
        ctx.db.models.Patient,
        input,
        {
          attributes: readablePatientFields(ctx.actor),
          where: [
            scope,
            input.doctorId === undefined ? {} : { doctorId: input.doctorId },
            input.search ? containsText(['name'], input.search) : {},
          ],
        },
        (p) => patientView(ctx.actor, p),
      );
      if (result.items.length) {
        await recordAudit(ctx, { action: 'read', patientIds: result.items.map((p) => p.id) });
      }
      return result;
    }),

  get: authedProcedure
    .meta({ description: "One patient's record, as your role may see it.", scope: 'patients:read' })
    .input(patientGetInput)
    .query(async ({ ctx, input }) => {
      const patient = await findPatientInScope(ctx.db.models, ctx.actor, input.id, {
        attributes: readablePatientFields(ctx.actor),
      });
      await recordAudit(ctx, { action: 'read', patientIds: [patient.id] });
      return patientView(ctx.actor, patient);
    }),

  update: roleOrServiceProcedure('admin', 'doctor')
    .meta({
      description:
        "Change a patient's record. Admins: name, age, gender, doctorId, roomNumber, bedNumber. The patient's doctor: name, age, gender, diagnosis, prescribedMedicine. Each change is kept as a revision.",
      scope: 'patients:write',
    })
    .input(patientUpdateInput)
    .mutation(async ({ ctx, input }) => {
      const { id, ...changes } = input;
      const result = await updatePatient(ctx.db, ctx.actor, id, changes, ctx);
      return result.patient;
    }),

  history: authedProcedure
    .meta({
      description:
        "Revisions of a patient's record, newest first (cursor = the last id seen). Clinical values are withheld from admins and services.",
      scope: 'patients:read',
    })
    .input(patientHistoryInput)
    .query(async ({ ctx, input }) => {
      const patient = await findPatientInScope(ctx.db.models, ctx.actor, input.patientId, {
        attributes: ['id'],
      });
      const result = await listPage(
        ctx.db.models.PatientRevision,
        input,
        { where: [{ patientId: patient.id }], direction: 'desc' },
        (r) => revisionView(ctx.actor, r),
      );
      await recordAudit(ctx, { action: 'read', patientIds: [patient.id] });
      return result;
    }),
});
