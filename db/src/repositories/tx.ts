import type { Transaction } from 'sequelize';

/** A transaction of `Database.transaction`, as repositories take it: an opaque handle to server code. */
export type Tx = Transaction;

/** A row lock in a transaction: `update` before a write, `share` to keep a row while others name it. */
export type Lock = 'update' | 'share';

/** Options of a read: inside the caller's transaction, optionally locking the rows. */
export interface ReadOptions {
  tx?: Tx;
  lock?: Lock;
}

/** Options of a write that joins the caller's transaction. */
export interface WriteOptions {
  tx?: Tx;
}

/** Sequelize's lock option for `lock`. */
export function lockOf(tx: Tx | undefined, lock: Lock | undefined) {
  if (!tx || !lock) return undefined;
  return lock === 'update' ? tx.LOCK.UPDATE : tx.LOCK.SHARE;
}
