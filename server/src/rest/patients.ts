import type { Hono } from 'hono';
import type { AppEnv } from '../context';
import type { PatientView } from '../patients/view';
import { readListQuery } from './listQuery';
import { callerFor, readJson, rest, toCamel } from './util';

const created = (p: PatientView) => ({ id: p.id, name: p.name });
const listed = (p: PatientView) => ({
  id: p.id,
  name: p.name,
  age: p.age,
  gender: p.gender,
  doctor_id: p.doctorId,
});

/** `POST /patients` (one or an array) and `GET /patients` (the caller's scope). */
export function patientsRoutes(app: Hono<AppEnv>): void {
  app.post(
    '/patients',
    rest(async (c) => {
      const result = await callerFor(c).patients.create(toCamel(await readJson(c)) as never);
      return c.json(Array.isArray(result) ? result.map(created) : created(result), 201);
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
