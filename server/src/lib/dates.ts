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
 * An ISO 8601 date or date-time from REST JSON as a Date: a date alone is midnight UTC, and a
 * time without a zone is UTC. Null when the text is not such a date or names a day, time or
 * offset that does not exist (Feb 30, 25:00, +24:00).
 */
export function parseIsoInstant(text: string): Date | null {
  const match = ISO_8601.exec(text.trim());
  if (!match) return null;
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '0', zone] = match;
  const parts = [Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)] as const;
  const utc = new Date(Date.UTC(...parts, Math.floor(Number(`0.${frac}`) * 1000)));
  utc.setUTCFullYear(parts[0]);
  const exists =
    utc.getUTCFullYear() === parts[0] &&
    utc.getUTCMonth() === parts[1] &&
    utc.getUTCDate() === parts[2] &&
    utc.getUTCHours() === parts[3] &&
    utc.getUTCMinutes() === parts[4] &&
    utc.getUTCSeconds() === parts[5];
  const offset = offsetMinutes(zone);
  if (!exists || Number.isNaN(offset)) return null;
  return new Date(utc.getTime() - offset * 60_000);
}
