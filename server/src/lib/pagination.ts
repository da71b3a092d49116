import { findPlain, Op } from '@hdms/db';
import type { Attributes, Model, ModelStatic, Order, WhereOptions } from 'sequelize';
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

/** The keyset condition for the page after a row in `(field DESC, id DESC)` order. */
export function keysetBefore(field: string, value: unknown, id: number): WhereOptions {
  return { [Op.or]: [{ [field]: { [Op.lt]: value } }, { [field]: value, id: { [Op.lt]: id } }] };
}

/** How a page is read: conditions (and-ed) and the order, by id unless a keyset is given. */
interface PageQuery {
  where?: WhereOptions[];
  attributes?: string[];
  /** By id: `asc` (the register's lists) or `desc` (newest first). */
  direction?: 'asc' | 'desc';
  /** Another order, with the condition of the page after the cursor's row. */
  keyset?: { order: Order; after: WhereOptions | null };
}

/**
 * Reads one keyset page: asks for `limit + 1` rows to know whether there is a next page, maps the
 * page's rows with `view`, and returns the last id as the next cursor. Every list uses this. Rows
 * are read as plain attributes (no model instance per row): views only read fields.
 */
export async function listPage<Row extends Model & { id: number }, View>(
  model: ModelStatic<Row>,
  input: { limit: number; cursor?: number | null },
  query: PageQuery,
  view: (row: Attributes<Row>) => View,
): Promise<Page<View>> {
  const direction = query.direction ?? 'asc';
  const after = query.keyset
    ? query.keyset.after
    : input.cursor
      ? { id: { [direction === 'asc' ? Op.gt : Op.lt]: input.cursor } }
      : null;
  const rows = await findPlain(model, {
    attributes: query.attributes as FindAttributes<Row>,
    where: { [Op.and]: [...(query.where ?? []), ...(after ? [after] : [])] } as WhereOptions<Attributes<Row>>,
    order: query.keyset?.order ?? [['id', direction.toUpperCase()]],
    limit: input.limit + 1,
  });
  const items = rows.slice(0, input.limit);
  return {
    items: items.map(view),
    nextCursor:
      rows.length > input.limit ? ((items[items.length - 1]?.id as number | undefined) ?? null) : null,
  };
}

type FindAttributes<Row extends Model> = NonNullable<Parameters<typeof findPlain<Row>>[1]['attributes']>;

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
