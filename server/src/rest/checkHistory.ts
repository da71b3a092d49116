import type { Hono } from 'hono';
import type { AppEnv } from '../context';
import { parseIsoInstant } from '../lib/dates';
import { checkInput, checksInput } from '../routers/checkHistory';
import { callerFor, parseBody, readJson, rest, toCamel } from './util';

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

/**
 * `POST /check_history` and its alias `POST /check-history`: one `{patient_id, check_time?}` or
 * an array of them (check_time in ISO 8601; without a zone it is UTC) -> 201 `{id}` or an array.
 */
export function checkHistoryRoutes(app: Hono<AppEnv>): void {
  const create = rest(async (c) => {
    const body = toCamel(await readJson(c));
    const caller = callerFor(c).checkHistory;
    if (Array.isArray(body)) {
      const rows = await caller.createMany(parseBody(checksInput, body.map(withDates)));
      return c.json(
        rows.map((row) => ({ id: row.id })),
        201,
      );
    }
    const row = await caller.create(parseBody(checkInput, withDates(body)));
    return c.json({ id: row.id }, 201);
  });
  app.post('/check_history', create);
  app.post('/check-history', create);
}
