import { z } from 'zod';
import { parseIsoInstant } from '../lib/dates';
import { batchOf } from '../lib/schemas';
import { checkInput, checksInput } from '../domain/checkHistory/index';
import { type RestRoute, restRoute } from './route';
import { callerFor, procedureInput, readJson, restView, toCamel } from './util';

/**
 * A JSON `check_time` string as a Date (see `parseIsoInstant`). A string that is no real instant
 * becomes an invalid Date, which the procedure's validation rejects at the item's index (400).
 * Other values pass through for the procedure to judge.
 */
function parseCheckTime(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  return parseIsoInstant(value) ?? new Date(Number.NaN);
}

function withDates(item: unknown): unknown {
  if (item === null || typeof item !== 'object' || Array.isArray(item) || !('checkTime' in item)) return item;
  return { ...item, checkTime: parseCheckTime(item.checkTime) };
}

/** A check-up as JSON carries it: `check_time` is the procedure's Date written as ISO 8601 text. */
const checkOnTheWire = checkInput.extend({
  checkTime: z.string().nullish().openapi({
    format: 'date-time',
    description: 'ISO 8601 (without a zone it is UTC); not before 1900 nor in the future; default now',
  }),
});
const createdSchema = z.object({ id: z.number().int() });

const create = restRoute({
  method: 'post',
  path: '/check_history',
  aliases: ['/check-history'],
  summary: 'Record check-ups',
  description: 'One `{patient_id, check_time?}` or an array of up to 1000 (all or nothing).',
  access: "admin, or the patient's doctor",
  body: { json: z.union([checkOnTheWire, batchOf(checkOnTheWire)]) },
  answers: {
    201: {
      description: 'The check-up, or the check-ups in the order sent',
      schema: z.union([createdSchema, z.array(createdSchema)]),
    },
  },
  errors: [400, 401, 403, 404],
  handler: async (c) => {
    const body = toCamel(await readJson(c));
    const caller = callerFor(c).checkHistory;
    if (Array.isArray(body)) {
      const rows = await caller.createMany(procedureInput(checksInput, body.map(withDates)));
      return c.json(
        rows.map((row) => restView(row, createdSchema)),
        201,
      );
    }
    const row = await caller.create(procedureInput(checkInput, withDates(body)));
    return c.json(restView(row, createdSchema), 201);
  },
});

/** `POST /check_history` and its alias `POST /check-history`. */
export const checkHistoryRoutes: RestRoute[] = [create];
