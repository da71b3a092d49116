import { createPatients } from '../domain/patients/create';
import { getPatient, listPatients, patientHistory } from '../domain/patients/queries';
import {
  patientCreateInput,
  patientExportInput,
  patientGetInput,
  patientHistoryInput,
  patientListInput,
  patientsCreateInput,
  patientsImportInput,
  patientUpdateInput,
} from '../domain/patients/schemas';
import { updatePatient } from '../domain/patients/update';
import { requestPatientExport } from '../domain/jobs/exports';
import { acceptPatientsImport } from '../domain/jobs/imports';
import { acceptPatientUpdate } from '../jobs/types/patientUpdate';
import { router } from './init';
import { authedProcedure, rejectArray, roleOrServiceProcedure, roleProcedure } from './procedures';

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
        'Patients in your scope by id, a page at a time (cursor = the last id seen); for a doctor each says why it is visible (`access`: assigned, consent, emergency). Filters: `doctorId`; `search` matches the name, ignoring case.',
      scope: 'patients:read',
    })
    .input(patientListInput.default({}))
    .query(({ ctx, input }) => listPatients(ctx, input)),

  get: authedProcedure
    .meta({
      description:
        "One patient's record, as your role may see it; for a doctor with `access` (assigned, consent, emergency).",
      scope: 'patients:read',
    })
    .input(patientGetInput)
    .query(({ ctx, input }) => getPatient(ctx, input.id)),

  update: roleOrServiceProcedure('admin', 'doctor')
    .meta({
      description:
        "Change a patient's record. Admins: name, age, gender, doctorId, roomNumber, bedNumber. The patient's assigned doctor: name, age, gender, diagnosis, prescribedMedicine; a doctor by consent or emergency access: diagnosis, prescribedMedicine. Each change is kept as a revision.",
      scope: 'patients:write',
    })
    .input(patientUpdateInput)
    .mutation(async ({ ctx, input }) => {
      const { id, ...changes } = input;
      return (await updatePatient(ctx, id, changes)).patient;
    }),

  updateAsync: roleOrServiceProcedure('admin', 'doctor')
    .meta({
      description:
        "Queue a change to a patient's record (the fields of `update`) and return `{ jobId }` at once; follow it with `jobs.get`. Input, field rights and scope are checked now (nothing is queued when they fail); the change is applied in the background as you, with the same revision and audit as `update`. Changes to one patient apply in the order they were accepted.",
      scope: 'patients:write',
    })
    .input(patientUpdateInput)
    .mutation(({ ctx, input }) => {
      const { id, ...changes } = input;
      return acceptPatientUpdate(ctx, id, changes);
    }),

  history: authedProcedure
    .meta({
      description:
        "Revisions of a patient's record, newest first (cursor = the last id seen). Clinical values are withheld from admins and services.",
      scope: 'patients:read',
    })
    .input(patientHistoryInput)
    .query(({ ctx, input }) => patientHistory(ctx, input)),

  import: roleProcedure('admin')
    .meta({
      description:
        'Import patients from CSV text (admin): a header row naming name, age, gender and optionally doctor_id, room_number, bed_number, then one row per patient. Returns { jobId } at once; the patients.import job checks every row as patients.create does, admits valid rows in batches and lists rejected rows with their line numbers (jobs.get). Files larger than a request allows go to POST /patients/import (text/csv).',
    })
    .input(patientsImportInput)
    .mutation(({ ctx, input }) =>
      acceptPatientsImport(ctx, [Buffer.from(input.csv, 'utf8')], ctx.config.importMaxBytes),
    ),

  export: roleProcedure('doctor', 'patient')
    .meta({
      description:
        "Export a patient's full record (patient, doctor, check history, notes, revisions) as one JSON document: the patient themself or their doctors (assigned, or given consent; never under emergency access: FORBIDDEN). Returns { jobId } at once; when jobs.get shows it succeeded, download it from GET /jobs/:id/result (kept EXPORT_RETENTION_HOURS, default 24). Asking again while your export of the patient is queued or running, or finished with no change to the record since, returns that job. At most EXPORTS_PER_HOUR (default 10) new exports an hour per account, within EXPORT_STORAGE_MAX_MB (an eighth of it per account): TOO_MANY_REQUESTS beyond.",
    })
    .input(patientExportInput)
    .mutation(async ({ ctx, input }) => ({
      jobId: (await requestPatientExport(ctx, input.patientId)).jobId,
    })),
});
