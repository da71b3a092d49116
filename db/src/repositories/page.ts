import type { Attributes, Model, ModelStatic, WhereOptions } from 'sequelize';
import { Op } from 'sequelize';
import { findPlain } from '../plain';
import { lockOf, type ReadOptions } from './tx';

/** Where a keyset page starts and how many rows it holds. */
export interface PageRequest {
  limit: number;
  /** The last id of the previous page (by id order), if any. */
  cursor?: number | null;
}

/**
 * One keyset page of a table as plain rows, ordered by id (`asc`, the register's lists, or
 * `desc`, newest first), after the cursor: `limit + 1` rows are asked for so the caller knows
 * whether a next page exists (see the server's `pageOf`). The repositories' one way to page.
 */
export function readPage<M extends Model & { id: number }>(
  model: ModelStatic<M>,
  page: PageRequest,
  conditions: WhereOptions[],
  options: { direction?: 'asc' | 'desc'; attributes?: string[] } = {},
): Promise<Attributes<M>[]> {
  const direction = options.direction ?? 'asc';
  const after = page.cursor ? [{ id: { [direction === 'asc' ? Op.gt : Op.lt]: page.cursor } }] : [];
  return findPlain(model, {
    attributes: options.attributes,
    where: { [Op.and]: [...conditions, ...after] } as WhereOptions<Attributes<M>>,
    order: [['id', direction.toUpperCase()]],
    limit: page.limit + 1,
  });
}

/** The first row of `model` matching `where` as plain attributes, or null; optionally locked in `tx`. */
export async function readOne<M extends Model>(
  model: ModelStatic<M>,
  where: WhereOptions<Attributes<M>>,
  options: ReadOptions = {},
): Promise<Attributes<M> | null> {
  const [row] = await findPlain(model, {
    where,
    limit: 1,
    transaction: options.tx,
    lock: lockOf(options.tx, options.lock),
  });
  return row ?? null;
}
