import { initTRPC } from '@trpc/server';
import superjson from 'superjson';
import { ZodError, type ZodIssue } from 'zod';
import type { Context } from './context';
import type { Scope } from './scopes';

/** What a procedure says about itself: a description for the panel, the scope a service needs. */
export interface Meta {
  description?: string;
  scope?: Scope;
}

/** One validation problem, as clients see it. */
export interface Issue {
  path: (string | number)[];
  message: string;
}

/**
 * Zod's issues, with unions opened up: for "one object or an array of them", the branch that
 * matches the input's shape is the one whose issues are worth showing (e.g. `[3].name`).
 */
export function flattenIssues(issues: ZodIssue[]): Issue[] {
  return issues.flatMap((issue): Issue[] => {
    if (issue.code === 'invalid_union') {
      const samePath = (i: ZodIssue) => i.path.join('.') === issue.path.join('.');
      const relevant = issue.unionErrors.filter(
        (e) => !e.issues.every((i) => i.code === 'invalid_type' && samePath(i)),
      );
      if (relevant.length === 1) return flattenIssues(relevant[0]!.issues);
    }
    return [{ path: issue.path, message: issue.message }];
  });
}

/** The readable message of a failed validation; a batch item is named by its index. */
export function describeIssues(issues: Issue[]): string {
  const first = issues[0];
  if (!first) return 'Invalid input';
  const [head, ...rest] = first.path;
  const item = typeof head === 'number' ? `item ${head}: ` : '';
  const fieldPath = typeof head === 'number' ? rest : first.path;
  const where = fieldPath
    .map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`))
    .join('')
    .replace(/^\./, '');
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  return `Invalid input: ${item}${where ? `${where}: ` : ''}${first.message}${more}`;
}

const t = initTRPC
  .context<Context>()
  .meta<Meta>()
  .create({
    transformer: superjson,
    isDev: false,
    errorFormatter({ shape, error }) {
      const issues = error.cause instanceof ZodError ? flattenIssues(error.cause.issues) : undefined;
      const message =
        error.code === 'INTERNAL_SERVER_ERROR'
          ? 'Internal server error'
          : issues
            ? describeIssues(issues)
            : shape.message;
      return { ...shape, message, data: { ...shape.data, issues } };
    },
  });

/** Builders for routers and middleware; procedures come from `procedures/`. */
export const router = t.router;
export const middleware = t.middleware;
export const mergeRouters = t.mergeRouters;
export const createCallerFactory = t.createCallerFactory;
export const baseProcedure = t.procedure;
