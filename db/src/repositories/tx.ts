import type { Transaction } from 'sequelize';

/** A transaction of `Database.transaction`, as repositories take it: an opaque handle to server code. */
export type Tx = Transaction;

/** A row lock in a transaction: `update` before a write, `share` to keep a row while others name it. */
export type Lock = 'update' | 'share';

/** Sequelize's lock option for `lock`. */
export function lockOf(tx: Tx, lock: Lock | undefined) {
  if (!lock) return undefined;
  return lock === 'update' ? tx.LOCK.UPDATE : tx.LOCK.SHARE;
}
