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
 * object (the client gets two equal Dates). Its `json` may hold the answer's own Dates (and be the
 * answer itself): JSON.stringify writes them as superjson would.
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

/**
 * One walk over an answer. With `copy` off it only notes the Dates: JSON.stringify writes a Date
 * as its ISO string, exactly superjson's JSON, so the answer itself can be the JSON and nothing is
 * copied. A value JSON would write differently (undefined, NaN, a bigint) stops that walk; the
 * walk with `copy` on then writes the JSON superjson would.
 */
class Walk {
  readonly values: Record<string, [Annotation]> = {};
  annotated = false;
  private readonly seen = new Set<object>();
  /** The path to the value being walked, as escaped segments: joined only when a value is noted. */
  private readonly path: string[] = [];

  constructor(private readonly copy: boolean) {}

  value(value: unknown): unknown {
    switch (typeof value) {
      case 'string':
      case 'boolean':
        return value;
      case 'number':
        if (Number.isFinite(value)) return value;
        this.special();
        this.note('number');
        return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
      case 'undefined':
        this.special();
        this.note('undefined');
        return null;
      case 'bigint':
        this.special();
        this.note('bigint');
        return String(value);
      case 'object': {
        if (value === null) return null;
        if (value instanceof Date) {
          if (Number.isNaN(value.getTime())) throw NEEDS_SUPERJSON;
          this.note('Date');
          return this.copy ? value.toISOString() : value;
        }
        if (this.seen.has(value)) throw NEEDS_SUPERJSON;
        this.seen.add(value);
        const path = this.path;
        if (Array.isArray(value)) {
          const out = this.copy ? new Array<unknown>(value.length) : value;
          for (let i = 0; i < value.length; i++) {
            path.push(String(i));
            const json = this.value(value[i]);
            if (this.copy) out[i] = json;
            path.pop();
          }
          return out;
        }
        if (!isPlainObject(value)) throw NEEDS_SUPERJSON;
        const out: Record<string, unknown> = this.copy ? {} : (value as Record<string, unknown>);
        for (const key of Object.keys(value)) {
          path.push(escapeKey(key));
          const json = this.value((value as Record<string, unknown>)[key]);
          if (this.copy) out[key] = json;
          path.pop();
        }
        return out;
      }
      default:
        throw NEEDS_SUPERJSON;
    }
  }

  /** A value JSON would not write as superjson does: the walk without copies cannot go on. */
  private special(): void {
    if (!this.copy) throw COPY_NEEDED;
  }

  private note(annotation: Annotation): void {
    this.values[this.path.join('.')] = [annotation];
    this.annotated = true;
  }
}

/** Thrown by the walk without copies when the answer holds a value JSON writes differently. */
const COPY_NEEDED = Symbol('copy needed');

/** `superjson.serialize`, faster for trees of plain values (see above). */
export function serialize(value: unknown): ReturnType<typeof superjson.serialize> {
  let walk = new Walk(false);
  let json: unknown;
  try {
    try {
      json = walk.value(value);
    } catch (error) {
      if (error !== COPY_NEEDED) throw error;
      walk = new Walk(true);
      json = walk.value(value);
    }
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
