import type { Hono } from 'hono';
import type { AppEnv } from '../context';
import { patientCreateInput, patientsCreateInput } from '../routers/patients/schemas';
import type { PatientView } from '../routers/patients/views';
import { readListQuery } from './listQuery';
import { callerFor, parseBody, readJson, rest, restView, toCamel } from './util';

const created = (p: PatientView) => restView(p, ['id', 'name']);
const listed = (p: PatientView) => restView(p, ['id', 'name', 'age', 'gender', 'doctorId']);

/** `POST /patients` (one or an array) and `GET /patients` (the caller's scope). */
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

  app.get(
    '/patients',
    rest(async (c) => {
      const { items } = await callerFor(c).patients.list(readListQuery(c));
      return c.json(items.map(listed), 200);
    }),
  );
}
