import mysql2 from 'mysql2';

/**
 * The `mysql2` module as HDMS hands it to Sequelize (its public `dialectModule` option): the driver
 * itself, with a `createConnection` whose connections have deadlines.
 * - Opening one, TCP connect to the end of the handshake, fails after `connectTimeoutMs` (mysql2's
 *   own `connectTimeout` is given too; this one also covers a server that accepts the connection
 *   and never finishes the handshake).
 * - Every statement (Sequelize's queries and prepared statements, and its `SET time_zone` at
 *   connect) fails after `queryTimeoutMs`, or `schemaChangeTimeoutMs` for DDL. mysql2's own
 *   `timeout` leaves the timed-out command waiting on the socket, so the next statement on that
 *   connection would queue behind it; here the socket is destroyed instead: the statement fails at
 *   once (ETIMEDOUT, which `isDatabaseUnavailable` recognises), Sequelize's `validate` evicts the
 *   connection, and later statements get fresh ones.
 * - Closing one is bounded: a stalled server never answers QUIT, so after a second (or at once,
 *   when the socket is gone) the socket is destroyed and the close completes.
 * Sequelize's own classes stay as they are.
 */

/** Deadlines of the connections of `mysqlDriver`, in milliseconds. */
export interface MysqlDeadlines {
  connectTimeoutMs: number;
  queryTimeoutMs: number;
  schemaChangeTimeoutMs: number;
}

/** Statements that change tables (not whole databases): they get `schemaChangeTimeoutMs`. */
const SCHEMA_CHANGE = /^\s*(ALTER|CREATE|DROP|RENAME|TRUNCATE|OPTIMIZE)\s+(?!DATABASE\b|SCHEMA\b)/i;

/** How long a close waits for the server to answer QUIT. */
const QUIT_TIMEOUT_MS = 1_000;

/** An error carrying the code `isDatabaseUnavailable` and Sequelize's error mapping know. */
export function timeoutError(message: string): Error & { code: string; errno: string; fatal: boolean } {
  return Object.assign(new Error(message), { code: 'ETIMEDOUT', errno: 'ETIMEDOUT', fatal: true });
}

/** The parts of a mysql2 connection (its public API) the deadlines use. */
interface DriverConnection {
  query(...args: unknown[]): unknown;
  execute(...args: unknown[]): unknown;
  end(callback?: (error?: Error | null) => void): unknown;
  once(event: 'connect' | 'error', listener: (...args: unknown[]) => void): unknown;
  stream: { destroyed: boolean; destroy(error?: Error): void };
}

/**
 * Gives `connection`'s `query` and `execute` a deadline each (see the top of this file); `busy`
 * tells whether a statement is in flight.
 */
function guardStatements(connection: DriverConnection, deadlines: MysqlDeadlines): { busy(): boolean } {
  let inFlight = 0;
  for (const method of ['query', 'execute'] as const) {
    const original = connection[method];
    connection[method] = (...args: unknown[]) => {
      const last = args.length - 1;
      const callback = args[last];
      if (typeof callback !== 'function') return original.apply(connection, args);
      const first = args[0];
      const sql = typeof first === 'string' ? first : (first as { sql?: unknown } | null)?.sql;
      const timeoutMs =
        typeof sql === 'string' && SCHEMA_CHANGE.test(sql)
          ? deadlines.schemaChangeTimeoutMs
          : deadlines.queryTimeoutMs;
      let settled = false;
      const settle = (...results: unknown[]) => {
        if (settled) return;
        settled = true;
        inFlight -= 1;
        clearTimeout(timer);
        callback(...results);
      };
      const timer = setTimeout(() => {
        const error = timeoutError(`the database did not answer within ${timeoutMs} ms`);
        connection.stream.destroy(error);
        // mysql2 reports the destroyed socket to the command; this covers a socket closed already.
        setImmediate(() => settle(error));
      }, timeoutMs);
      timer.unref();
      args[last] = settle;
      inFlight += 1;
      try {
        return original.apply(connection, args);
      } catch (error) {
        settled = true;
        inFlight -= 1;
        clearTimeout(timer);
        throw error;
      }
    };
  }
  return { busy: () => inFlight > 0 };
}

/** Fails the handshake of `connection` when it has not completed within `ms`. */
function connectDeadline(connection: DriverConnection, ms: number): void {
  const timer = setTimeout(() => {
    connection.stream.destroy(timeoutError(`connect ETIMEDOUT (no answer within ${ms} ms)`));
  }, ms);
  timer.unref();
  const done = () => clearTimeout(timer);
  connection.once('connect', done);
  connection.once('error', done);
}

/**
 * Makes `end` complete within `QUIT_TIMEOUT_MS`, destroying the socket if QUIT is not answered, and
 * at once when the socket is gone or a statement is still in flight (QUIT would wait behind it).
 */
function boundedEnd(connection: DriverConnection, busy: () => boolean): void {
  const end = connection.end;
  connection.end = (callback) => {
    if (connection.stream.destroyed || busy()) {
      connection.stream.destroy();
      callback?.();
      return;
    }
    let finished = false;
    const finish = (error?: Error | null) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (error) connection.stream.destroy();
      callback?.();
    };
    const timer = setTimeout(() => finish(timeoutError('QUIT was not answered')), QUIT_TIMEOUT_MS);
    timer.unref();
    try {
      end.call(connection, finish);
    } catch (error) {
      finish(error as Error);
    }
  };
}

/** A `mysql2` module whose connections have `deadlines` (see the top of this file). */
export function mysqlDriver(deadlines: MysqlDeadlines): typeof mysql2 {
  const createConnection = (config: unknown) => {
    // mysql2 types no `stream` (the socket, which Sequelize's own `validate` reads too): our narrow view.
    const connection = mysql2.createConnection(
      config as mysql2.ConnectionOptions,
    ) as unknown as DriverConnection;
    connectDeadline(connection, deadlines.connectTimeoutMs);
    const statements = guardStatements(connection, deadlines);
    boundedEnd(connection, statements.busy);
    return connection;
  };
  return Object.assign(Object.create(mysql2) as typeof mysql2, { createConnection });
}
