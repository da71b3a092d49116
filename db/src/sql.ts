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

/** Per Sequelize instance on MySQL: whether its server answers `INSERT … RETURNING` (MariaDB 10.5+). */
const returning = new WeakMap<Sequelize, Promise<boolean>>();

/** True when the server is MariaDB 10.5 or later (asked once per instance; a failed ask is asked again). */
function supportsReturning(sequelize: Sequelize): Promise<boolean> {
  let known = returning.get(sequelize);
  if (!known) {
    known = (async () => {
      const [row] = (await sequelize.query('SELECT VERSION() AS version', {
        type: QueryTypes.SELECT,
        raw: true,
      })) as { version: string }[];
      const match = /^(\d+)\.(\d+).*mariadb/i.exec(String(row?.version));
      return match !== null && Number(match[1]) * 100 + Number(match[2]) >= 1005;
    })();
    returning.set(sequelize, known);
    known.catch(() => returning.delete(sequelize));
  }
  return known;
}

/**
 * One multi-row INSERT; the ids its rows were stored under, in row order. MySQL hands a multi-row
 * INSERT of known size one block of ids, but spaced by the session's `auto_increment_increment`
 * (Galera sets it to the cluster size: ids 4, 7, 10, not 4, 5, 6). So on MariaDB the statement
 * says `RETURNING id`; on MySQL 8 the insert id and the increment are read on the same connection
 * (in the caller's transaction, or in one of their own); SQLite writes alone, increment 1, and
 * reports the last id.
 */
async function insertStatement(
  target: SqlTarget,
  table: string,
  columns: readonly string[],
  rows: readonly (readonly unknown[])[],
  transaction?: Transaction | null,
): Promise<number[]> {
  const head = `INSERT INTO ${quoteName(table)} (${columns.map(quoteName).join(',')}) VALUES `;
  if (target.dialect === 'mysql') {
    const tuples = rows.map(
      (row) =>
        `(${row.map((value) => escapeMysql(value as Parameters<typeof escapeMysql>[0], false, 'Z')).join(',')})`,
    );
    const sql = head + tuples.join(',');
    const { sequelize } = target;
    if (await supportsReturning(sequelize)) {
      const stored = (await sequelize.query(`${sql} RETURNING id`, {
        type: QueryTypes.SELECT,
        transaction: transaction ?? null,
        raw: true,
      })) as { id: number | string }[];
      return stored.map((row) => Number(row.id));
    }
    const insert = async (tx: Transaction): Promise<number[]> => {
      const [first] = await sequelize.query(sql, { type: QueryTypes.INSERT, transaction: tx, raw: true });
      const [step] = (await sequelize.query('SELECT @@session.auto_increment_increment AS step', {
        type: QueryTypes.SELECT,
        transaction: tx,
        raw: true,
      })) as { step: number | string }[];
      const increment = Number(step?.step ?? 1);
      return Array.from({ length: rows.length }, (_, i) => Number(first) + i * increment);
    };
    return transaction ? insert(transaction) : sequelize.transaction(insert);
  }
  const tuple = `(${columns.map(() => '?').join(',')})`;
  const sql = head + rows.map(() => tuple).join(',');
  const [reported] = await target.sequelize.query(sql, {
    type: QueryTypes.INSERT,
    transaction: transaction ?? null,
    raw: true,
    bind: [new PositionalValues(rows.flatMap((row) => row.map(sqliteValue)))],
  });
  // SQLite reports the last id of the statement, which wrote alone: the ids before it are consecutive.
  const last = Number(reported);
  return Array.from({ length: rows.length }, (_, i) => last - rows.length + 1 + i);
}
