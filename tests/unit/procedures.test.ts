import { describe, expect, it } from 'vitest';
import { appRouter } from '../../server/src/trpc/appRouter';
import { SCOPES } from '../../server/src/domain/access/policy';

const procedures = Object.entries(appRouter._def.procedures as Record<string, unknown>) as [
  string,
  { _def: { meta?: { description?: string; scope?: string } } },
][];

describe('procedures', () => {
  it.each(procedures.map(([path, procedure]) => [path, procedure._def.meta] as const))(
    '%s carries a description for the panel and only a known scope',
    (_path, meta) => {
      expect(meta?.description?.trim().length ?? 0).toBeGreaterThan(10);
      if (meta?.scope !== undefined) expect(SCOPES).toContain(meta.scope);
    },
  );
});
