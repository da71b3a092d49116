import { Op, QueryTypes } from 'sequelize';
import type { Database } from '../connection';
import type { ThrottleKind } from '../models/ThrottleCounter';
import { findPlain } from '../plain';
import type { WriteOptions } from './tx';

/**
 * The counters of the sign-in and registration throttle (`throttle_counters`; the rules are the
 * server's `auth/throttle.ts`). Each attempt is taken with one conditional `UPDATE` whose
 * affected-row count decides, atomic on SQLite and on MySQL whatever the number of server
 * instances. Times are given in epoch milliseconds and written as the database stores `DATE(3)`
 * values, so that a time written twice compares equal.
 */

/** Who a counter belongs to. */
export interface CounterIdentity {
  /** The SHA-256 hex digest of what is counted. */
  key: string;
  kind: ThrottleKind;
  userId: number | null;
  address: string | null;
}

/** A counter as stored. */
export interface CounterRow extends CounterIdentity {
  count: number;
  blockedUntil: Date | null;
  expiresAt: Date;
}

/**
 * A pair's growing wait: `waits[k]` (epoch ms) is when the pair may try again after `free + k`
 * failures; the last one holds for any number beyond.
 */
export interface WaitLadder {
  free: number;
  waits: readonly number[];
}

const TABLE = '`throttle_counters`';

/** A time as the database stores `DATE(3)` values (UTC, to the millisecond). */
function at(db: Database, ms: number): string {
  const text = new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
  return db.dialect === 'sqlite' ? `${text} +00:00` : text;
}

/** The ladder as SQL over an expression `n` (NULL while the pair has failures to spare), and its replacements. */
function ladderSql(
  db: Database,
  ladder: WaitLadder,
): { sql: (n: string) => string; replacements: Record<string, string> } {
  const { free, waits } = ladder;
  const replacements: Record<string, string> = {};
  waits.forEach((ms, k) => {
    replacements[`wait${k}`] = at(db, ms);
  });
  const steps: string[] = [];
  for (let k = 0; k < waits.length - 1; k++) steps.push(`WHEN (N) - ${free} = ${k} THEN :wait${k}`);
  const last = `:wait${waits.length - 1}`;
  return {
    sql: (n) =>
      `(CASE WHEN (${n}) < ${free} THEN NULL ${steps.join(' ').replaceAll('(N)', `(${n})`)} ELSE ${last} END)`,
    replacements,
  };
}

/** Runs an `UPDATE`; true when it changed a row. */
async function update(db: Database, sql: string, replacements: Record<string, unknown>): Promise<boolean> {
  const [, changed] = (await db.sequelize.query(sql, { replacements, type: QueryTypes.UPDATE })) as [
    unknown,
    number,
  ];
  return changed > 0;
}

/** The counter with this key, or null. */
export async function findCounter(db: Database, key: string): Promise<CounterRow | null> {
  const [row] = await findPlain(db.models.ThrottleCounter, { where: { key }, limit: 1 });
  return row
    ? {
        key: row.key,
        kind: row.kind,
        userId: row.userId ?? null,
        address: row.address ?? null,
        count: row.count,
        blockedUntil: row.blockedUntil ?? null,
        expiresAt: row.expiresAt,
      }
    : null;
}

/**
 * Creates a counter at zero whose window is long over (so that whichever take comes first starts
 * a fresh one), unless one with its key exists.
 */
export async function insertIfAbsent(db: Database, identity: CounterIdentity): Promise<void> {
  await db.models.ThrottleCounter.bulkCreate(
    [{ ...identity, count: 0, blockedUntil: null, expiresAt: new Date(0) }],
    { ignoreDuplicates: true },
  );
}

/**
 * Takes one attempt from a window counter: counts it in the window in force, or starts a new
 * window ending at `windowEnd` when that one is over. False when the window holds `max` already.
 */
export function takeWindow(
  db: Database,
  take: { key: string; now: number; windowEnd: number; max: number },
): Promise<boolean> {
  // MySQL assigns left to right (a later expression sees earlier new values): `count` is
  // assigned before `expires_at`, which both read, and neither reads `count` afterwards.
  return update(
    db,
    `UPDATE ${TABLE}
        SET \`count\` = CASE WHEN \`expires_at\` <= :now THEN 1 ELSE \`count\` + 1 END,
            \`expires_at\` = CASE WHEN \`expires_at\` <= :now THEN :windowEnd ELSE \`expires_at\` END
      WHERE \`key\` = :key AND (\`expires_at\` <= :now OR \`count\` < :max)`,
    { key: take.key, now: at(db, take.now), windowEnd: at(db, take.windowEnd), max: take.max },
  );
}

/**
 * Takes one attempt from a pair's counter, setting its wait by `ladder` for the count it reaches,
 * and keeping the counter until `memoryEnd`. False while the pair must wait.
 */
export function takePair(
  db: Database,
  take: { key: string; now: number; memoryEnd: number; ladder: WaitLadder },
): Promise<boolean> {
  const ladder = ladderSql(db, take.ladder);
  return update(
    db,
    `UPDATE ${TABLE}
        SET \`blocked_until\` = CASE WHEN \`expires_at\` <= :now THEN ${ladder.sql('1')}
                                     ELSE ${ladder.sql('`count` + 1')} END,
            \`count\` = CASE WHEN \`expires_at\` <= :now THEN 1 ELSE \`count\` + 1 END,
            \`expires_at\` = :memoryEnd
      WHERE \`key\` = :key
        AND (\`expires_at\` <= :now OR \`count\` < :free
             OR \`blocked_until\` IS NULL OR \`blocked_until\` <= :now)`,
    {
      ...ladder.replacements,
      key: take.key,
      now: at(db, take.now),
      memoryEnd: at(db, take.memoryEnd),
      free: take.ladder.free,
    },
  );
}

/** After a failed attempt: the pair's wait by `ladder` for its count, never shorter than it already is. */
export async function holdPairWait(db: Database, key: string, ladder: WaitLadder): Promise<void> {
  const sql = ladderSql(db, ladder);
  await update(
    db,
    `UPDATE ${TABLE} SET \`blocked_until\` = ${sql.sql('`count`')}
      WHERE \`key\` = :key AND \`count\` >= :free
        AND (\`blocked_until\` IS NULL OR \`blocked_until\` < ${sql.sql('`count`')})`,
    { ...sql.replacements, key, free: ladder.free },
  );
}

/** Gives back one attempt of a window counter, if its window is still the one that ends by `windowEnd`. */
export async function giveBackWindow(db: Database, key: string, windowEnd: number): Promise<void> {
  await update(
    db,
    `UPDATE ${TABLE} SET \`count\` = \`count\` - 1
      WHERE \`key\` = :key AND \`count\` > 0 AND \`expires_at\` <= :windowEnd`,
    { key, windowEnd: at(db, windowEnd) },
  );
}

/** Gives back one attempt of a pair's counter, lifting its wait if it is one of `waits` (epoch ms). */
export async function giveBackPair(db: Database, key: string, waits: readonly number[]): Promise<void> {
  await update(
    db,
    `UPDATE ${TABLE}
        SET \`blocked_until\` = CASE WHEN \`blocked_until\` IN (:waits) THEN NULL ELSE \`blocked_until\` END,
            \`count\` = \`count\` - 1
      WHERE \`key\` = :key AND \`count\` > 0`,
    { key, waits: waits.length ? waits.map((ms) => at(db, ms)) : [''] },
  );
}

/** Deletes every counter of an account (its own and those of its pairs with client addresses). */
export async function deleteByUser(db: Database, userId: number, options: WriteOptions = {}): Promise<void> {
  await db.models.ThrottleCounter.destroy({ where: { userId }, transaction: options.tx });
}

/** Deletes counters whose window and wait both ended before `before`. */
export async function purgeEnded(db: Database, before: Date): Promise<void> {
  await db.models.ThrottleCounter.destroy({
    where: {
      expiresAt: { [Op.lt]: before },
      [Op.or]: [{ blockedUntil: null }, { blockedUntil: { [Op.lt]: before } }],
    },
  });
}
