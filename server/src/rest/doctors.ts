import { z } from 'zod';
import { type DoctorView, doctorInput, doctorsInput } from '../domain/doctors/index';
import { listQuery, readListQuery } from './listQuery';
import { type RestRoute, restRoute } from './route';
import { callerFor, procedureInput, readJson, restView, toCamel } from './util';

const doctorSchema = z.object({ id: z.number().int(), name: z.string(), specialization: z.string() });
const restDoctor = (d: DoctorView) => restView(d, doctorSchema);

/** `POST /doctors` (one or an array) and `GET /doctors`. */
export const doctorsRoutes: RestRoute[] = [
  restRoute({
    method: 'post',
    path: '/doctors',
    summary: 'Add doctors to the register',
    description:
      'One doctor, or an array of up to 1000 (all or nothing: one bad item rejects the batch, naming its index).',
    access: 'admin',
    body: { json: z.union([doctorInput, doctorsInput]) },
    answers: {
      201: {
        description: 'The doctor, or the doctors in the order sent',
        schema: z.union([doctorSchema, z.array(doctorSchema)]),
      },
    },
    errors: [400, 401, 403],
    handler: async (c) => {
      const body = toCamel(await readJson(c));
      const caller = callerFor(c).doctors;
      if (Array.isArray(body)) {
        const created = await caller.createMany(procedureInput(doctorsInput, body));
        return c.json(created.map(restDoctor), 201);
      }
      return c.json(restDoctor(await caller.create(procedureInput(doctorInput, body))), 201);
    },
  }),
  restRoute({
    method: 'get',
    path: '/doctors',
    summary: 'List doctors',
    description: 'By id, a page at a time: pass the last id seen as `after`.',
    access: 'signed in',
    query: listQuery,
    answers: { 200: { description: 'A page of doctors', schema: z.array(doctorSchema) } },
    errors: [400, 401, 403],
    handler: async (c) => {
      const { items } = await callerFor(c).doctors.list(readListQuery(c));
      return c.json(items.map(restDoctor), 200);
    },
  }),
];
