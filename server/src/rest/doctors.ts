import type { Hono } from 'hono';
import type { AppEnv } from '../context';
import type { DoctorView } from '../routers/doctors';
import { readListQuery } from './listQuery';
import { callerFor, readJson, rest, toCamel } from './util';

const restDoctor = (d: DoctorView) => ({ id: d.id, name: d.name, specialization: d.specialization });

/** `POST /doctors` (one or an array) and `GET /doctors`. */
export function doctorsRoutes(app: Hono<AppEnv>): void {
  app.post(
    '/doctors',
    rest(async (c) => {
      const created = await callerFor(c).doctors.create(toCamel(await readJson(c)) as never);
      return c.json(Array.isArray(created) ? created.map(restDoctor) : restDoctor(created), 201);
    }),
  );

  app.get(
    '/doctors',
    rest(async (c) => {
      const { items } = await callerFor(c).doctors.list(readListQuery(c));
      return c.json(items.map(restDoctor), 200);
    }),
  );
}
