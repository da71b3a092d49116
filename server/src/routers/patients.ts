import { z } from 'zod';
import { findPatientInScope } from '../access';
import { recordAudit } from '../audit';
import { createPatients } from '../patients/create';
import { patientChangesSchema, patientCreateItem } from '../patients/fields';
import { listPatientsQuery, patientListInput } from '../patients/list';
import { updatePatient } from '../patients/update';
import { patientView, revisionView } from '../patients/view';
import { authedProcedure, roleProcedure } from '../procedures/index';
import { router } from '../trpc';
import { idBefore, idSchema, oneOrMany, page } from '../validation';

const historyInput = z
  .object({
    patientId: idSchema,
    limit: z.number().int().min(1).max(1000).default(50),
    cursor: idSchema.nullish(),
  })
  .strict();

/**
 * Patients' records. Every query carries the caller's scope; every read and write is audited.
 * Admins and services see and change admission data only; the patient's doctor also sees and
 * changes clinical content; a patient sees their own record.
 */
export const patientsRouter = router({
  create: roleProcedure('admin', 'doctor')
    .meta({
      description:
        'Admit one patient or an array of patients (admin, or a doctor for their own patients). An array is all-or-nothing.',
      scope: 'patients:write',
    })
    .input(oneOrMany(patientCreateItem))
    .mutation(async ({ ctx, input }) => {
      const batch = Array.isArray(input);
      const patients = await createPatients(ctx, batch ? input : [input], batch);
      return batch ? patients : patients[0]!;
    }),

  list: authedProcedure
    .meta({
      description:
        'Patients in your scope by id, a page at a time (cursor = the last id seen). Filters: `doctorId`; `search` matches the name, ignoring case.',
      scope: 'patients:read',
    })
    .input(patientListInput.default({}))
    .query(async ({ ctx, input }) => {
      const query = listPatientsQuery(ctx.actor, input);
      if (query === null) return page([], input.limit);
      const rows = await ctx.db.models.Patient.findAll(query);
      const result = page(
        rows.map((p) => patientView(ctx.actor, p)),
        input.limit,
      );
      if (result.items.length) {
        await recordAudit(ctx, { action: 'read', patientIds: result.items.map((p) => p.id) });
      }
      return result;
    }),

  get: authedProcedure
    .meta({ description: "One patient's record, as your role may see it.", scope: 'patients:read' })
    .input(z.object({ id: idSchema }).strict())
    .query(async ({ ctx, input }) => {
      const patient = await findPatientInScope(ctx.db.models, ctx.actor, input.id);
      await recordAudit(ctx, { action: 'read', patientIds: [patient.id] });
      return patientView(ctx.actor, patient);
    }),

  update: roleProcedure('admin', 'doctor')
    .meta({
      description:
        "Change a patient's record. Admins: name, age, gender, doctorId, roomNumber, bedNumber. The patient's doctor: name, age, gender, diagnosis, prescribedMedicine. Each change is kept as a revision.",
      scope: 'patients:write',
    })
    .input(patientChangesSchema.extend({ id: idSchema }))
    .mutation(async ({ ctx, input }) => {
      const { id, ...changes } = input;
      const result = await updatePatient(ctx.db, ctx.actor, id, changes, {
        requestId: ctx.requestId,
        ip: ctx.ip,
        procedure: ctx.procedure,
      });
      return result.patient;
    }),

  history: authedProcedure
    .meta({
      description:
        "Revisions of a patient's record, newest first (cursor = the last id seen). Clinical values are withheld from admins and services.",
      scope: 'patients:read',
    })
    .input(historyInput)
    .query(async ({ ctx, input }) => {
      const patient = await findPatientInScope(ctx.db.models, ctx.actor, input.patientId);
      const rows = await ctx.db.models.PatientRevision.findAll({
        where: { patientId: patient.id, ...idBefore(input.cursor) },
        order: [['id', 'DESC']],
        limit: input.limit + 1,
      });
      await recordAudit(ctx, { action: 'read', patientIds: [patient.id] });
      return page(
        rows.map((r) => revisionView(ctx.actor, r)),
        input.limit,
      );
    }),
});
