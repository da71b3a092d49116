import { TRPCError } from '@trpc/server';
import { Op, type WhereOptions } from 'sequelize';
import { ZodError, ZodIssueCode } from 'zod';

/**
 * A batch item (or input field) that is well-formed but names something that is not there or
 * not reachable: BAD_REQUEST with one issue at `path`, reported exactly like a validation
 * failure, so the message and `issues` name the item's index.
 */
export function badItem(path: (string | number)[], message: string): TRPCError {
  return new TRPCError({
    code: 'BAD_REQUEST',
    message,
    cause: new ZodError([{ code: ZodIssueCode.custom, path, message }]),
  });
}

/**
 * The keyset condition for the page after a row, in `(field DESC, id DESC)` order: rows whose
 * `field` is earlier, or equal with a smaller id.
 */
export function keysetBefore<T>(field: string, value: unknown, id: number): WhereOptions<T> {
  return {
    [Op.or]: [{ [field]: { [Op.lt]: value } }, { [field]: value, id: { [Op.lt]: id } }],
  } as WhereOptions<T>;
}
