import { z } from 'zod';
import { idSchema, lineText } from './schemas';

/** The input of every list procedure: a keyset page and an optional search. */
export const listInput = z
  .object({
    limit: z.number().int().min(1).max(1000).default(50),
    cursor: idSchema.nullish(),
    search: lineText(200, 0).optional(),
  })
  .strict();

/** A page input without a search. */
export const pageInput = listInput.omit({ search: true });

/** One page of a list: the items, and the cursor of the next page (null on the last). */
export interface Page<T> {
  items: T[];
  nextCursor: number | null;
}

/**
 * A page from `limit + 1` rows read after the cursor (the repositories' page reads): the first
 * `limit` mapped with `view`, and the last one's id as the next cursor when a row was left over.
 */
export function pageOf<Row extends { id: number }, View>(
  rows: Row[],
  limit: number,
  view: (row: Row) => View,
): Page<View> {
  const items = rows.slice(0, limit);
  return {
    items: items.map(view),
    nextCursor: rows.length > limit ? (items[items.length - 1]?.id ?? null) : null,
  };
}

/** An empty page, for an actor that reaches nothing. */
export function emptyPage<T>(): Page<T> {
  return { items: [], nextCursor: null };
}
