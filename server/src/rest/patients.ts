import { z } from 'zod';
import { patientChangesSchema, patientCreateInput, patientsCreateInput } from '../domain/patients/schemas';
import type { PatientView } from '../domain/patients/views';
import { listQuery, readListQuery } from './listQuery';
import { acceptedAnswer, type RestRoute, restRoute } from './route';
import { accepted, callerFor, parseBody, procedureInput, pathId, readJson, restView, toCamel } from './util';

const createdSchema = z.object({ id: z.number().int(), name: z.string() });
const listedSchema = createdSchema.extend({
  age: z.number().int(),
  gender: z.string(),
  doctorId: z.number().int().nullable(),
});
const created = (p: PatientView) => restView(p, createdSchema);
const listed = (p: PatientView) => restView(p, listedSchema);

/**
 * `POST /patients` (one or an array), `GET /patients` (the caller's scope) and
 * `POST /update_patient/:id` (the fields of `patients.update`, applied in the background: 202
 * `{ message, job_id }`, and `Location: /jobs/<job_id>` to follow it), and
 * `POST /patients/:id/export` (`patients.export`, the same 202).
 */
export const patientsRoutes: RestRoute[] = [
  restRoute({
    method: 'post',
    path: '/patients',
    summary: 'Admit patients',
    description:
      'One patient, or an array of up to 1000 (all or nothing). Admins admit to any doctor; a doctor only to themself (`doctor_id` their own or left out).',
    access: 'admin, or a doctor for their own patients',
    body: { json: z.union([patientCreateInput, patientsCreateInput]) },
    answers: {
      201: {
        description: 'The patient, or the patients in the order sent',
        schema: z.union([createdSchema, z.array(createdSchema)]),
      },
    },
    errors: [400, 401, 403, 404],
    handler: async (c) => {
      const body = toCamel(await readJson(c));
      const caller = callerFor(c).patients;
      if (Array.isArray(body)) {
        return c.json((await caller.createMany(procedureInput(patientsCreateInput, body))).map(created), 201);
      }
      const patient = await caller.create(procedureInput(patientCreateInput, body));
      return c.json(created(patient), 201);
    },
  }),
  restRoute({
    method: 'post',
    path: '/update_patient/:id',
    summary: "Change a patient's record (in the background)",
    description:
      "The fields to change. Admins: name, age, gender, doctor_id, room_number, bed_number; the patient's doctor: name, age, gender, diagnosis, prescribed_medicine. Rights, scope and input are checked now; the change is applied as a job, in the order accepted.",
    access: "admin, or the patient's doctor",
    body: { json: patientChangesSchema },
    answers: {
      202: acceptedAnswer,
    },
    errors: [400, 401, 403, 404],
    handler: async (c) => {
      const id = pathId(c);
      const changes = parseBody(patientChangesSchema, toCamel(await readJson(c)));
      const { jobId } = await callerFor(c).patients.updateAsync({ id, ...changes });
      return accepted(c, jobId, `Update accepted; follow it at GET /jobs/${jobId}`);
    },
  }),
  restRoute({
    method: 'post',
    path: '/patients/:id/export',
    summary: "Export a patient's full record (in the background)",
    description:
      'Queues a `patient.export` job writing the record (patient, doctor, check history, notes, revisions) as one JSON document; download it from `GET /jobs/{job_id}/result` once the job has succeeded. A doctor who reaches the patient only by emergency access is refused (403). Asking again while your export of the patient is queued or running, or finished with no change to the record since, answers the same job. At most EXPORTS_PER_HOUR (default 10) new exports an hour per account, within the export storage quota (EXPORT_STORAGE_MAX_MB, an eighth of it per account): 429 with Retry-After beyond.',
    access: 'the patient, their doctors (assigned, or given consent)',
    answers: {
      202: acceptedAnswer,
    },
    errors: [400, 401, 403, 404, 429],
    handler: async (c) => {
      const { jobId } = await callerFor(c).patients.export({ patientId: pathId(c) });
      return accepted(
        c,
        jobId,
        `Export accepted; follow it at GET /jobs/${jobId}, then download GET /jobs/${jobId}/result`,
      );
    },
  }),
  restRoute({
    method: 'get',
    path: '/patients',
    summary: 'List patients in your scope',
    description:
      'By id, a page at a time (`after` = the last id seen). Admins see every patient; a doctor their own; a patient their own record; an unlinked account none. Each patient listed is audited as read.',
    access: 'signed in (scoped)',
    query: listQuery,
    answers: { 200: { description: 'A page of patients', schema: z.array(listedSchema) } },
    errors: [400, 401, 403],
    handler: async (c) => {
      const { items } = await callerFor(c).patients.list(readListQuery(c));
      return c.json(items.map(listed), 200);
    },
  }),
];
