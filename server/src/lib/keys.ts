/** REST's snake_case and the procedures' camelCase, key by key (each key converted once, then remembered). */

const snakeKeys = new Map<string, string>();
const camelKeys = new Map<string, string>();

function remembered(cache: Map<string, string>, key: string, convert: (key: string) => string): string {
  let converted = cache.get(key);
  if (converted === undefined) {
    converted = convert(key);
    if (cache.size < 10_000) cache.set(key, converted);
  }
  return converted;
}

/** `doctorId` → `doctor_id`. */
export const snake = (key: string): string =>
  remembered(snakeKeys, key, (k) => k.replace(/[A-Z]/g, (ch) => `_${ch.toLowerCase()}`));

/** `doctor_id` → `doctorId`. */
export const camel = (key: string): string =>
  remembered(camelKeys, key, (k) => k.replace(/_([a-z0-9])/g, (_, ch: string) => ch.toUpperCase()));
