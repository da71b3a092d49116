import type { Hono } from 'hono';
import type { AppEnv } from '../context';
import { callerFor, readJson, rest, toCamel } from './util';

/** `YYYY-MM-DD`, optionally `THH:MM[:SS[.fff]]` and a zone; captures each part. */
const ISO_8601 =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?([Zz]|[+-]\d{2}:?\d{2})?)?$/;

/** Minutes east of UTC of `Z`, `+hh:mm` or `+hhmm` (none: UTC); NaN for an impossible offset. */
function offsetMinutes(zone: string | undefined): number {
  if (!zone || zone.toUpperCase() === 'Z') return 0;
  const digits = zone.slice(1).replace(':', '');
  const hours = Number(digits.slice(0, 2));
  const minutes = Number(digits.slice(2));
  if (hours > 23 || minutes > 59) return Number.NaN;
  return (zone.startsWith('-') ? -1 : 1) * (hours * 60 + minutes);
}

/**
 * A JSON `check_time` string as a Date: ISO 8601, a date alone or a date and time, with a zone
 * offset or `Z` (no offset means UTC). A string that is not such a date, or names a day or time
 * that does not exist (Feb 30, 25:00), becomes an invalid Date, which the procedure's validation
 * rejects at the item's index (400). Other values pass through for the procedure to judge.
 */
export function parseCheckTime(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const match = ISO_8601.exec(value.trim());
  if (!match) return new Date(Number.NaN);
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '0', zone] = match;
  const parts = [Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)] as const;
  const local = new Date(Date.UTC(...parts, Math.floor(Number(`0.${frac}`) * 1000)));
  local.setUTCFullYear(parts[0]);
  const exists =
    local.getUTCFullYear() === parts[0] &&
    local.getUTCMonth() === parts[1] &&
    local.getUTCDate() === parts[2] &&
    local.getUTCHours() === parts[3] &&
    local.getUTCMinutes() === parts[4] &&
    local.getUTCSeconds() === parts[5];
  if (!exists) return new Date(Number.NaN);
  return new Date(local.getTime() - offsetMinutes(zone) * 60_000);
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
    const input = Array.isArray(body) ? body.map(withDates) : withDates(body);
    const result = await callerFor(c).checkHistory.create(input as never);
    return c.json(Array.isArray(result) ? result.map((row) => ({ id: row.id })) : { id: result.id }, 201);
  });
  app.post('/check_history', create);
  app.post('/check-history', create);
}
