import { escape as escapeMysql, format as formatMysql } from 'mysql2';
import { QueryTypes, type Sequelize, type Transaction } from 'sequelize';
import { PositionalValues } from './drivers/sqlite';

/**
 * Statements written by hand for the hot paths (a session lookup, a page of patients, audit
 * rows), run through Sequelize's connection (so its pool, transactions, deadlines and error
 * mapping apply) but without its query building, which costs more than the statement itself.
 * Values are never spliced in as text by us: on MySQL mysql2 escapes them (`format`, the text
 * protocol: no prepared statement per distinct text on the server), on SQLite they are bound.
 * Write `?` for each value.
 */

type Dialect = 'mysql' | 'sqlite';

/** Where statements run: the database's Sequelize and its dialect. */
export interface SqlTarget {
  sequelize: Sequelize;
  dialect: Dialect;
}

/** A Date as each dialect's DATETIME text, in UTC (Sequelize's own stored form on SQLite). */
function sqliteValue(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString().replace('T', ' ').replace('Z', ' +00:00');
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'bigint') return value.toString();
  return value;
}

function run(
  target: SqlTarget,
  text: string,
  values: readonly unknown[],
  type: QueryTypes,
  transaction?: Transaction | null,
): Promise<unknown> {
  if (target.dialect === 'mysql') {
    // 'Z': Dates as UTC, as the connection's time_zone (+00:00) reads them.
    const sql = formatMysql(text, values as Parameters<typeof formatMysql>[1], false, 'Z');
    return target.sequelize.query(sql, { type, transaction: transaction ?? null, raw: true });
  }
  // `?` placeholders, bound by position by our driver (`PositionalValues` in drivers/sqlite.ts).
  return target.sequelize.query(text, {
    type,
    transaction: transaction ?? null,
    raw: true,
    bind: values.length ? [new PositionalValues(values.map(sqliteValue))] : undefined,
    // Sequelize would read the column types of any table named after FROM first, for every
    // statement; the callers convert the values themselves.
    tableNames: [],
  } as object);
}

/** Runs a SELECT; its rows as the driver gives them (MySQL DATETIMEs as Dates, SQLite's as text). */
export async function selectRows<Row>(
  target: SqlTarget,
  text: string,
  values: readonly unknown[],
  transaction?: Transaction | null,
): Promise<Row[]> {
  return (await run(target, text, values, QueryTypes.SELECT, transaction)) as Row[];
}

/** An identifier in backticks (both dialects read them). */
export const quoteName = (name: string) => `\`${name.replace(/`/g, '``')}\``;

/**
 * Inserts rows (each an array of values in `columns`' order) with multi-row INSERTs (one, unless
 * there are more values than a statement may carry) into a table with an auto-increment `id`; the
 * ids, in row order. On MySQL each value is escaped by mysql2 as
 * the text is written (no placeholder scan); on SQLite they are bound.
 */
export async function insertRows(
  target: SqlTarget,
  table: string,
  columns: readonly string[],
  rows: readonly (readonly unknown[])[],
  transaction?: Transaction | null,
): Promise<number[]> {
  const perStatement = Math.max(1, Math.floor(MAX_VALUES_PER_STATEMENT / columns.length));
  const ids: number[] = [];
  for (let start = 0; start < rows.length; start += perStatement) {
    ids.push(
      ...(await insertStatement(
        target,
        table,
        columns,
        rows.slice(start, start + perStatement),
        transaction,
      )),
    );
  }
  return ids;
}

/**
 * The most values one INSERT carries: SQLite refuses a statement with more than 32,766 of them,
 * so larger inserts (a big group of audit rows) are split into several statements.
 */
const MAX_VALUES_PER_STATEMENT = 30_000;

async function insertStatement(
  target: SqlTarget,
  table: string,
  columns: readonly string[],
  rows: readonly (readonly unknown[])[],
  transaction?: Transaction | null,
): Promise<number[]> {
  const head = `INSERT INTO ${quoteName(table)} (${columns.map(quoteName).join(',')}) VALUES `;
  let reported: number;
  if (target.dialect === 'mysql') {
    const tuples = rows.map(
      (row) =>
        `(${row.map((value) => escapeMysql(value as Parameters<typeof escapeMysql>[0], false, 'Z')).join(',')})`,
    );
    const sql = head + tuples.join(',');
    [reported] = await target.sequelize.query(sql, {
      type: QueryTypes.INSERT,
      transaction: transaction ?? null,
      raw: true,
    });
  } else {
    const tuple = `(${columns.map(() => '?').join(',')})`;
    const sql = head + rows.map(() => tuple).join(',');
    [reported] = await target.sequelize.query(sql, {
      type: QueryTypes.INSERT,
      transaction: transaction ?? null,
      raw: true,
      bind: [new PositionalValues(rows.flatMap((row) => row.map(sqliteValue)))],
    });
  }
  // One multi-row INSERT gets consecutive ids (it writes alone on SQLite; MySQL hands out a block
  // to a simple insert in every lock mode, as bulkCreate assumes): MySQL reports the first, SQLite the last.
  const first = target.dialect === 'mysql' ? Number(reported) : Number(reported) - rows.length + 1;
  return Array.from({ length: rows.length }, (_, i) => first + i);
}
