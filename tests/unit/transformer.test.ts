import superjson from 'superjson';
import { describe, expect, it } from 'vitest';
import { serialize } from '../../server/src/lib/transformer';

/**
 * A value, and what superjson makes of it: the fast serializer must write the same, and it must
 * read back the same. With `identities: false`, superjson's notes that two places held one value
 * are set aside (it notes a NaN met twice, or a Date object; the fast path writes such values twice).
 */
function agrees(value: unknown, { identities = true } = {}): void {
  // What goes on the wire: the serialized answer as JSON text, read back.
  const fast = JSON.parse(JSON.stringify(serialize(value)));
  const reference = superjson.serialize(value);
  if (!identities && reference.meta) {
    delete reference.meta.referentialEqualities;
    if (Object.keys(reference.meta).length === 1) delete (reference as { meta?: unknown }).meta;
  }
  expect(fast).toEqual(reference);
  expect(superjson.deserialize(fast)).toEqual(superjson.deserialize(superjson.serialize(value)));
}

/** A random tree of what procedures answer, `depth` levels deep. */
function randomTree(depth: number, random: () => number): unknown {
  const leaves = [
    () => null,
    () => undefined,
    () => random() > 0.5,
    () => Math.floor(random() * 1e6) - 5e5,
    () => random() * 10,
    () => [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY][Math.floor(random() * 3)],
    () => new Date(Math.floor(random() * 4e12)),
    () => ['', 'plain', 'dot.ted', 'back\\slash', 'ünïcødé', '\u0000nul'][Math.floor(random() * 6)],
    () => BigInt(Math.floor(random() * 1e9)),
  ];
  if (depth === 0 || random() < 0.3) return leaves[Math.floor(random() * leaves.length)]!();
  const size = Math.floor(random() * 4);
  if (random() < 0.5) return Array.from({ length: size }, () => randomTree(depth - 1, random));
  const keys = ['id', 'a.b', 'c\\d', 'createdAt', '0', 'items', 'x.y.z', 'ünï'];
  return Object.fromEntries(
    Array.from({ length: size }, (_, i) => [
      keys[(i * 3 + size) % keys.length]!,
      randomTree(depth - 1, random),
    ]),
  );
}

describe('the tRPC transformer (superjson, serialized faster)', () => {
  it('writes exactly what superjson writes for what procedures answer', () => {
    const now = new Date('2026-11-30T05:00:00.123Z');
    agrees({ items: [{ id: 1, name: 'A', createdAt: now, note: undefined }], nextCursor: null });
    agrees({ items: [], nextCursor: 7 });
    agrees([{ id: 1 }, { id: 2, at: new Date(0) }]);
    for (const leaf of [
      undefined,
      null,
      0,
      -1.5,
      'text',
      true,
      Number.NaN,
      Number.NEGATIVE_INFINITY,
      10n,
      new Date(1),
    ]) {
      agrees(leaf);
    }
    agrees({ 'a.b': { 'c\\d': new Date(2) }, '': 1, nested: [[undefined, [new Date(3)]]] });
    agrees(Object.assign(Object.create(null), { bare: new Date(4) }));
  });

  it('agrees with superjson on a thousand random trees', () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let i = 0; i < 1000; i++) agrees(randomTree(5, random), { identities: false });
  });

  it('hands anything else to superjson itself: Maps, Sets, class instances, shared objects, bad Dates', () => {
    class Point {
      constructor(readonly x: number) {}
    }
    const shared = { id: 1 };
    for (const value of [
      { m: new Map([[1, 'a']]) },
      { s: new Set([1]) },
      { r: /x/g },
      { e: new Error('boom') },
      { p: new Point(1) },
      { a: shared, b: shared },
      { d: new Date(Number.NaN) },
    ]) {
      expect(JSON.stringify(serialize(value))).toEqual(JSON.stringify(superjson.serialize(value)));
    }
  });

  it('writes a Date object met twice twice (superjson would add it was one object), read back equal', () => {
    const at = new Date('2026-01-01T00:00:00Z');
    const value = { a: at, b: [at] };
    const fast = JSON.parse(JSON.stringify(serialize(value)));
    expect(fast.meta?.referentialEqualities).toBeUndefined();
    expect(superjson.deserialize(fast)).toEqual(value);
  });

  it('shares what JSON writes as superjson would, copies the rest, and never changes the answer', () => {
    const plain = { items: [{ id: 1, name: 'A' }], nextCursor: null };
    expect(serialize(plain).json).toBe(plain);
    const at = new Date(5);
    const answer = { items: [{ id: 1, at }, { id: 2 }], nextCursor: null, note: undefined };
    const json = serialize(answer).json as typeof answer;
    expect(json).not.toBe(answer);
    expect(json.items[1]).toBe(answer.items[1]);
    expect(json.items[0]).toEqual({ id: 1, at: at.toISOString() });
    expect(answer.items[0]!.at).toBe(at);
    expect(answer).toHaveProperty('note', undefined);
  });
});
