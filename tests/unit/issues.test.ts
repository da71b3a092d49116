import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { describeIssues, flattenIssues } from '../../server/src/domain/errors';
import { batchOf } from '../../server/src/lib/schemas';

const item = z.object({ name: z.string().min(1), age: z.number().int() }).strict();
const issuesOf = (schema: z.ZodTypeAny, input: unknown) => {
  const parsed = schema.safeParse(input);
  if (parsed.success) throw new Error('expected a failure');
  return flattenIssues(parsed.error.issues);
};

describe('validation messages', () => {
  it('name a batch item by its index and the field inside it', () => {
    const issues = issuesOf(batchOf(item), [
      { name: 'a', age: 1 },
      { name: 'b', age: 'x' },
    ]);
    expect(issues).toEqual([{ path: [1, 'age'], message: 'Expected number, received string' }]);
    expect(describeIssues(issues)).toBe('Invalid input: item 1: age: Expected number, received string');
  });

  it('name the field of a single object without an item', () => {
    const issues = issuesOf(item, { name: '', age: 2 });
    expect(describeIssues(issues)).toBe('Invalid input: name: String must contain at least 1 character(s)');
  });

  it('count the further issues', () => {
    expect(describeIssues(issuesOf(item, { name: '', age: 'x' }))).toMatch(/ \(and 1 more\)$/);
  });

  it('open a union to the branch that matches the input', () => {
    const oneOrMany = z.union([item, z.array(item)]);
    expect(issuesOf(oneOrMany, [{ name: 'a', age: 'x' }])).toEqual([
      { path: [0, 'age'], message: 'Expected number, received string' },
    ]);
  });

  it('describe an input of the wrong shape altogether', () => {
    expect(describeIssues(issuesOf(item, 'text'))).toMatch(/^Invalid input: /);
    expect(describeIssues([])).toBe('Invalid input');
  });
});
