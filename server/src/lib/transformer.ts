import superjson from 'superjson';
import { badRequest } from '../domain/errors';

/**
 * The tRPC transformer: superjson on the wire (the contract; clients deserialize with superjson),
 * with a faster serializer for what procedures answer. superjson checks every value against each
 * of its transformer rules and tracks every object's identity; procedures answer trees of plain
 * objects, arrays, strings, numbers, booleans, nulls, `undefined`s and `Date`s, which this walks
 * once, writing the same `{ json, meta: { values } }` superjson would. Anything else anywhere in
 * the answer (a Map, a class instance, an object or array met twice) hands the whole answer to
 * superjson itself, so the output is always one superjson reads back to the same value. The one
 * liberty: a `Date` object met twice is written twice, without superjson's note that it was one
 * object (the client gets two equal Dates). Parts of the answer without such values are shared
 * with the `json` it returns, not copied.
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
 * One walk over an answer, copying only what JSON would write differently from superjson: an
 * object or array is kept as it is unless something inside it changes (a Date becomes its ISO
 * string, which JSON.stringify writes several times faster than it calls a Date's toJSON;
 * `undefined` becomes null), and then it is copied once, by spreading (the same shape).
 */
class Walk {
  readonly values: Record<string, [Annotation]> = {};
  annotated = false;
  private readonly seen = new Set<object>();
  /** The path to the value being walked, as escaped segments: joined only when a value is noted. */
  private readonly path: string[] = [];

  value(value: unknown): unknown {
    switch (typeof value) {
      case 'string':
      case 'boolean':
        return value;
      case 'number':
        if (Number.isFinite(value)) return value;
        this.note('number');
        return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
      case 'undefined':
        this.note('undefined');
        return null;
      case 'bigint':
        this.note('bigint');
        return String(value);
      case 'object': {
        if (value === null) return null;
        if (value instanceof Date) {
          if (Number.isNaN(value.getTime())) throw NEEDS_SUPERJSON;
          this.note('Date');
          return value.toISOString();
        }
        if (this.seen.has(value)) throw NEEDS_SUPERJSON;
        this.seen.add(value);
        const path = this.path;
        if (Array.isArray(value)) {
          let out: unknown[] | null = null;
          for (let i = 0; i < value.length; i++) {
            path.push(String(i));
            const item = value[i];
            const json = this.value(item);
            if (json !== item) {
              out ??= value.slice();
              out[i] = json;
            }
            path.pop();
          }
          return out ?? value;
        }
        if (!isPlainObject(value)) throw NEEDS_SUPERJSON;
        let out: Record<string, unknown> | null = null;
        for (const key of Object.keys(value)) {
          path.push(escapeKey(key));
          const item = (value as Record<string, unknown>)[key];
          const json = this.value(item);
          if (json !== item) {
            out ??= { ...(value as Record<string, unknown>) };
            out[key] = json;
          }
          path.pop();
        }
        return out ?? value;
      }
      default:
        throw NEEDS_SUPERJSON;
    }
  }

  private note(annotation: Annotation): void {
    this.values[this.path.join('.')] = [annotation];
    this.annotated = true;
  }
}

/** `superjson.serialize`, faster for trees of plain values (see above). */
export function serialize(value: unknown): ReturnType<typeof superjson.serialize> {
  const walk = new Walk();
  let json: unknown;
  try {
    json = walk.value(value);
  } catch (error) {
    if (error === NEEDS_SUPERJSON) return superjson.serialize(value);
    throw error;
  }
  if (!walk.annotated) return { json } as ReturnType<typeof superjson.serialize>;
  // superjson writes a top-level annotation as the bare array, not under the empty path.
  const values = '' in walk.values ? walk.values[''] : walk.values;
  return { json, meta: { values, v: 1 } } as unknown as ReturnType<typeof superjson.serialize>;
}

/**
 * The message for an input sent without superjson's wrapper (`{"username": ...}` instead of
 * `{"json": {"username": ...}}`): the commonest mistake of a hand-written tRPC call.
 */
export const MISSING_WRAPPER =
  'tRPC input must be wrapped for superjson: send {"json": <input>}, e.g. {"json":{"id":1}} ' +
  '(as a POST body, or as ?input= of a GET); the SDK and @trpc/client with superjson do this for you';

/**
 * superjson's deserializer, refusing an input that is not superjson's `{ json, meta? }` with a
 * BAD_REQUEST that says how to send it (superjson itself would read such an input as no input,
 * answered with a puzzling "Required"). An empty object still means no input.
 */
export function deserialize(payload: unknown): unknown {
  const wrapped =
    payload !== null &&
    typeof payload === 'object' &&
    !Array.isArray(payload) &&
    Object.hasOwn(payload, 'json');
  if (!wrapped) {
    const empty =
      payload !== null &&
      typeof payload === 'object' &&
      !Array.isArray(payload) &&
      Object.keys(payload).length === 0;
    if (empty) return undefined;
    throw badRequest(MISSING_WRAPPER);
  }
  return superjson.deserialize(payload as Parameters<typeof superjson.deserialize>[0]);
}

/** The transformer `initTRPC` uses: this serializer, and superjson's deserializer checking the wrapper. */
export const transformer = {
  serialize,
  deserialize: deserialize as typeof superjson.deserialize,
};
