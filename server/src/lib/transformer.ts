import superjson from 'superjson';

/**
 * The tRPC transformer: superjson on the wire (the contract; clients deserialize with superjson),
 * with a faster serializer for what procedures answer. superjson checks every value against each
 * of its transformer rules and tracks every object's identity; procedures answer trees of plain
 * objects, arrays, strings, numbers, booleans, nulls, `undefined`s and `Date`s, which this walks
 * once, writing the same `{ json, meta: { values } }` superjson would. Anything else anywhere in
 * the answer (a Map, a class instance, an object or array met twice) hands the whole answer to
 * superjson itself, so the output is always one superjson reads back to the same value. The one
 * liberty: a `Date` object met twice is written twice, without superjson's note that it was one
 * object (the client gets two equal Dates).
 */

type Annotation = 'undefined' | 'Date' | 'number' | 'bigint';

/** Thrown inside the walk when a value needs superjson itself. */
const NEEDS_SUPERJSON = Symbol('needs superjson');

/** superjson's escaping of one path segment (`a.b` → `a\.b`). */
const escapeKey = (key: string) =>
  key.includes('.') || key.includes('\\') ? key.replace(/\\/g, '\\\\').replace(/\./g, '\\.') : key;

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

class Walk {
  readonly values: Record<string, [Annotation]> = {};
  annotated = false;
  private readonly seen = new Set<object>();

  /** The JSON form of `value` at `path` (already escaped), noting what JSON cannot hold. */
  value(value: unknown, path: string): unknown {
    switch (typeof value) {
      case 'string':
      case 'boolean':
        return value;
      case 'number':
        if (Number.isFinite(value)) return value;
        this.note(path, 'number');
        return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
      case 'undefined':
        this.note(path, 'undefined');
        return null;
      case 'bigint':
        this.note(path, 'bigint');
        return String(value);
      case 'object': {
        if (value === null) return null;
        if (value instanceof Date) {
          if (Number.isNaN(value.getTime())) throw NEEDS_SUPERJSON;
          this.note(path, 'Date');
          return value.toISOString();
        }
        if (this.seen.has(value)) throw NEEDS_SUPERJSON;
        this.seen.add(value);
        const prefix = path === '' ? '' : `${path}.`;
        if (Array.isArray(value)) {
          const out = new Array<unknown>(value.length);
          for (let i = 0; i < value.length; i++) out[i] = this.value(value[i], prefix + i);
          return out;
        }
        if (!isPlainObject(value)) throw NEEDS_SUPERJSON;
        const out: Record<string, unknown> = {};
        for (const key of Object.keys(value)) {
          out[key] = this.value((value as Record<string, unknown>)[key], prefix + escapeKey(key));
        }
        return out;
      }
      default:
        throw NEEDS_SUPERJSON;
    }
  }

  private note(path: string, annotation: Annotation): void {
    this.values[path] = [annotation];
    this.annotated = true;
  }
}

/** `superjson.serialize`, faster for trees of plain values (see above). */
export function serialize(value: unknown): ReturnType<typeof superjson.serialize> {
  const walk = new Walk();
  let json: unknown;
  try {
    json = walk.value(value, '');
  } catch (error) {
    if (error === NEEDS_SUPERJSON) return superjson.serialize(value);
    throw error;
  }
  if (!walk.annotated) return { json } as ReturnType<typeof superjson.serialize>;
  // superjson writes a top-level annotation as the bare array, not under the empty path.
  const values = '' in walk.values ? walk.values[''] : walk.values;
  return { json, meta: { values, v: 1 } } as unknown as ReturnType<typeof superjson.serialize>;
}

/** The transformer `initTRPC` uses: this serializer, and superjson's own deserializer. */
export const transformer = {
  serialize,
  deserialize: superjson.deserialize.bind(superjson) as typeof superjson.deserialize,
};
