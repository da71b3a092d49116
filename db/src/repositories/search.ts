import { col, fn, Op, type WhereOptions, where } from 'sequelize';

/**
 * A case-insensitive substring match of `text` against any of `columns` (database column names),
 * written the same way on SQLite and MySQL. `instr` needs no escaping of `%` or `_`, so the text
 * is matched literally.
 */
export function containsText(columns: string[], text: string): WhereOptions {
  const needle = text.toLowerCase();
  return {
    [Op.or]: columns.map((column) => where(fn('instr', fn('lower', col(column)), needle), Op.gt, 0)),
  };
}
