import type { Hono } from 'hono';
import type { AppEnv } from '../context';
import { type DoctorView, doctorInput, doctorsInput } from '../routers/doctors';
import { readListQuery } from './listQuery';
import { callerFor, parseBody, readJson, rest, restView, toCamel } from './util';

const restDoctor = (d: DoctorView) => restView(d, ['id', 'name', 'specialization']);

/** `POST /doctors` (one or an array) and `GET /doctors`. */
export function doctorsRoutes(app: Hono<AppEnv>): void {
  app.post(
    '/doctors',
    rest(async (c) => {
      const body = toCamel(await readJson(c));
      const caller = callerFor(c).doctors;
      if (Array.isArray(body)) {
        const created = await caller.createMany(parseBody(doctorsInput, body));
        return c.json(created.map(restDoctor), 201);
      }
      return c.json(restDoctor(await caller.create(parseBody(doctorInput, body))), 201);
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
