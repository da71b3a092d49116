import type { Hono } from 'hono';
import type { AppEnv } from '../context';
import { patientChangesSchema, patientCreateInput, patientsCreateInput } from '../routers/patients/schemas';
import type { PatientView } from '../routers/patients/views';
import { readListQuery } from './listQuery';
import { callerFor, parseBody, pathId, readJson, rest, restView, toCamel } from './util';

const created = (p: PatientView) => restView(p, ['id', 'name']);
const listed = (p: PatientView) => restView(p, ['id', 'name', 'age', 'gender', 'doctorId']);

/**
 * `POST /patients` (one or an array), `GET /patients` (the caller's scope) and
 * `POST /update_patient/:id` (the fields of `patients.update`, applied in the background: 202
 * `{ message, job_id }`, and `Location: /jobs/<job_id>` to follow it).
 */
export function patientsRoutes(app: Hono<AppEnv>): void {
  app.post(
    '/patients',
    rest(async (c) => {
      const body = toCamel(await readJson(c));
      const caller = callerFor(c).patients;
      if (Array.isArray(body)) {
        return c.json((await caller.createMany(parseBody(patientsCreateInput, body))).map(created), 201);
      }
      const patient = await caller.create(parseBody(patientCreateInput, body));
      return c.json(created(patient), 201);
    }),
  );

  app.post(
    '/update_patient/:id',
    rest(async (c) => {
      const id = pathId(c);
      const changes = parseBody(patientChangesSchema, toCamel(await readJson(c)));
      const { jobId } = await callerFor(c).patients.updateAsync({ id, ...changes });
      c.header('Location', `/jobs/${jobId}`);
      return c.json({ message: `Update accepted; follow it at GET /jobs/${jobId}`, job_id: jobId }, 202);
    }),
  );

  app.get(
    '/patients',
    rest(async (c) => {
      const { items } = await callerFor(c).patients.list(readListQuery(c));
      return c.json(items.map(listed), 200);
    }),
  );
}
