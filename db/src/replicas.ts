import { createDatabase, type Database, parseDatabaseUrl } from './connection';
import { covers, type Position, parsePosition } from './positions';
import { type Flavour, flavourOf, primaryPositionSql } from './repositories/positions';
import { selectRows } from './sql';

/**
 * Read replicas (`DATABASE_READ_URLS`): which database serves a request's reads. A replica serves
 * them when it answers, lags no more than `maxLagMs`, and has applied the position the request
 * needs (read-your-writes: the account's last commit, the last assignment change, the event
 * position the client sent); it is given `waitMs` to reach that position (`MASTER_GTID_WAIT` on
 * MariaDB, `WAIT_FOR_EXECUTED_GTID_SET` on MySQL 8), else the primary serves them.
 *
 * Lag is measured with what a SELECT-only user may read: each choice asks the replica for its
 * applied position (`@@gtid_slave_pos` / `@@gtid_executed`, one round trip to the replica, never
 * the primary) and compares it with samples of the primary's position (`@@gtid_binlog_pos` /
 * `@@gtid_executed`), taken at most once a second and only while requests choose: the lag is
 * the age of the oldest sample the replica has not applied (0 when it has them all), exact to the
 * sampling interval. No timer runs: an idle server asks nothing.
 */

/** The label of the primary in choices and metrics. */
export const PRIMARY = 'primary';

/** How often, at most, the primary's position is sampled for lag (only while reads choose). */
export const PRIMARY_SAMPLE_MS = 1_000;

/** How long a replica that failed to answer is skipped before it is tried again. */
export const REPLICA_RETRY_MS = 5_000;

/** The longest read-your-writes wait for a replica, by default (then the primary serves the reads). */
export const DEFAULT_WAIT_MS = 250;

/**
 * How long a replica may take to answer the choice's own statements (its position, beyond the
 * wait) before it counts as not answering: a stalled replica delays a request by this, once in
 * `REPLICA_RETRY_MS`.
 */
export const REPLICA_ANSWER_MS = 1_000;

/** `work`, or a rejection once `ms` have passed (the statement itself is left to finish). */
function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  work.catch(() => undefined);
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/** Options of `ReadReplicas.open`. */
export interface ReadReplicaOptions {
  /** A replica lagging more is skipped (`DATABASE_READ_MAX_LAG_MS`). */
  maxLagMs: number;
  /** The read-your-writes wait on a replica (default `DEFAULT_WAIT_MS`). */
  waitMs?: number;
  /** Told when a replica stops answering (it is skipped for `REPLICA_RETRY_MS`). */
  onDown?: (target: string, error: unknown) => void;
  /** The clock (tests). */
  now?: () => number;
}

/** Where a request's reads go. */
export interface ReadChoice {
  /** The database to read: a replica's, or the primary. */
  db: Database;
  /** `primary`, or the replica's `host:port`. */
  target: string;
  /**
   * How long the choice waited for a replica to reach the needed position, in ms (0 without a
   * wait; the whole wait when it ran out and the primary was chosen).
   */
  waitedMs: number;
}

interface Replica {
  target: string;
  db: Database;
  downUntil: number;
  /** The last lag measured, in ms; null before the first measure or while down. */
  lagMs: number | null;
}

/** The replicas of a primary, and the rule that picks where reads go (see the top of this file). */
export class ReadReplicas {
  private readonly replicas: Replica[];
  private readonly samples: { at: number; position: Position }[] = [];
  private sampling: Promise<void> | null = null;
  private lastSampleAt = Number.NEGATIVE_INFINITY;
  private next = 0;
  private readonly counts = new Map<string, number>();
  private readonly now: () => number;
  /** Told of every choice, and whether the request needed a position (metrics: the read-your-writes wait). */
  onChoice: ((choice: ReadChoice, needed: boolean) => void) | null = null;

  private constructor(
    private readonly primary: Database,
    replicas: Replica[],
    private readonly flavour: Flavour,
    private readonly options: ReadReplicaOptions,
  ) {
    this.replicas = replicas;
    this.now = options.now ?? Date.now;
    this.counts.set(PRIMARY, 0);
    for (const r of replicas) this.counts.set(r.target, 0);
  }

  /**
   * Opens `urls` as read-only databases (no connection is made until a read; `CREATE DATABASE` and
   * migrations never run on them). Null for no URL or a SQLite primary.
   */
  static async open(
    primary: Database,
    urls: readonly string[],
    options: ReadReplicaOptions,
  ): Promise<ReadReplicas | null> {
    if (urls.length === 0 || primary.dialect !== 'mysql') return null;
    const waitMs = options.waitMs ?? DEFAULT_WAIT_MS;
    const replicas = await Promise.all(
      urls.map(async (url) => {
        const target = parseDatabaseUrl(url);
        if (target.dialect !== 'mysql') throw new Error('a read replica must be a mysql:// URL');
        const db = await createDatabase(url, {
          readOnly: true,
          connectTimeoutMs: 1_000,
          acquireTimeoutMs: 1_000,
          queryTimeoutMs: waitMs + 10_000,
        });
        return {
          target: `${target.url.hostname}:${target.url.port || '3306'}`,
          db,
          downUntil: 0,
          lagMs: null,
        };
      }),
    );
    return new ReadReplicas(primary, replicas, await flavourOf(primary), { ...options, waitMs });
  }

  /** The replicas' labels (`host:port`), in the order configured. */
  get targets(): string[] {
    return this.replicas.map((r) => r.target);
  }

  /** Choices made so far per target (`primary` and each replica): the `hdms_db_reads_total` counter. */
  readCounts(): ReadonlyMap<string, number> {
    return this.counts;
  }

  /** Each replica's last measured lag in seconds (null before a measure, or while it is down). */
  lagSeconds(): { target: string; seconds: number | null }[] {
    return this.replicas.map((r) => ({
      target: r.target,
      seconds: r.lagMs === null ? null : r.lagMs / 1000,
    }));
  }

  /**
   * Where the reads of a request that needs position `need` (or none) go: the next replica, in
   * turn, that answers, lags no more than the maximum and has (or reaches within the wait) `need`;
   * else the primary. At most one wait per choice.
   */
  async choose(need: string | null): Promise<ReadChoice> {
    const needed = parsePosition(need);
    await this.samplePrimary();
    if (!covers(this.latestPrimary() ?? needed, needed)) {
      // Newer than the last sample: ask the primary now. A position the primary has not reached
      // was never written there (a client sent one made up, or of another database): its reads
      // go to the primary at once, rather than hold a replica connection through the wait.
      await this.samplePrimary(true);
      if (!covers(this.latestPrimary() ?? needed, needed)) return this.chosen(PRIMARY, this.primary, 0, true);
    }
    const start = this.next++ % this.replicas.length;
    let waited = false;
    let waitedMs = 0;
    for (let i = 0; i < this.replicas.length; i++) {
      const replica = this.replicas[(start + i) % this.replicas.length]!;
      if (replica.downUntil > this.now()) continue;
      let applied: Position;
      try {
        applied = await this.appliedOf(replica);
      } catch (error) {
        this.markDown(replica, error);
        continue;
      }
      replica.lagMs = this.lagOf(applied);
      if (replica.lagMs > this.options.maxLagMs) continue;
      if (covers(applied, needed)) return this.chosen(replica.target, replica.db, 0, need !== null);
      if (waited) continue;
      waited = true;
      const began = this.now();
      let reached = false;
      try {
        reached = await this.waitFor(replica, need!);
      } catch (error) {
        this.markDown(replica, error);
        continue;
      }
      waitedMs = this.now() - began;
      if (reached) return this.chosen(replica.target, replica.db, waitedMs, true);
    }
    return this.chosen(PRIMARY, this.primary, waitedMs, need !== null);
  }

  /** Closes the replicas' connections. */
  async close(): Promise<void> {
    await Promise.all(this.replicas.map((r) => r.db.close().catch(() => undefined)));
  }

  private chosen(target: string, db: Database, waitedMs: number, needed: boolean): ReadChoice {
    this.counts.set(target, (this.counts.get(target) ?? 0) + 1);
    const choice = { db, target, waitedMs };
    this.onChoice?.(choice, needed);
    return choice;
  }

  private markDown(replica: Replica, error: unknown): void {
    replica.downUntil = this.now() + REPLICA_RETRY_MS;
    replica.lagMs = null;
    this.options.onDown?.(replica.target, error);
  }

  /** What the replica has applied (its own position variable: no privilege needed). */
  private async appliedOf(replica: Replica): Promise<Position> {
    const variable = this.flavour === 'mariadb' ? '@@gtid_slave_pos' : '@@gtid_executed';
    const [row] = await within(
      selectRows<{ pos: string | null }>(replica.db, `SELECT ${variable} AS pos`, []),
      REPLICA_ANSWER_MS,
      `read replica ${replica.target}`,
    );
    return parsePosition(row?.pos);
  }

  /** Waits up to `waitMs` for the replica to apply `need`: true once it has. */
  private async waitFor(replica: Replica, need: string): Promise<boolean> {
    const seconds = (this.options.waitMs ?? DEFAULT_WAIT_MS) / 1000;
    const sql =
      this.flavour === 'mariadb'
        ? 'SELECT MASTER_GTID_WAIT(?, ?) AS r'
        : 'SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?) AS r';
    const [row] = await within(
      selectRows<{ r: number | string | null }>(replica.db, sql, [need, seconds]),
      seconds * 1000 + REPLICA_ANSWER_MS,
      `read replica ${replica.target}`,
    );
    return Number(row?.r) === 0;
  }

  /** The primary's position at the last sample (undefined before one succeeded). */
  private latestPrimary(): Position | undefined {
    return this.samples.at(-1)?.position;
  }

  /**
   * Samples the primary's position, at most once per `PRIMARY_SAMPLE_MS` unless `now` (concurrent
   * callers share one).
   */
  private async samplePrimary(now = false): Promise<void> {
    if (!now && this.now() - this.lastSampleAt < PRIMARY_SAMPLE_MS) return;
    this.sampling ??= (async () => {
      try {
        const at = this.now();
        const [row] = await selectRows<{ pos: string | null }>(
          this.primary,
          `SELECT ${primaryPositionSql(this.flavour)} AS pos`,
          [],
        );
        this.lastSampleAt = at;
        this.samples.push({ at, position: parsePosition(row?.pos) });
        // Older samples than the longest lag that matters (and a margin) decide nothing any more.
        const horizon = at - Math.max(10_000, 2 * this.options.maxLagMs + PRIMARY_SAMPLE_MS);
        while (this.samples.length > 1 && this.samples[0]!.at < horizon) this.samples.shift();
      } catch {
        // The primary did not answer: its own reads will say so; the lag keeps its last samples.
      } finally {
        this.sampling = null;
      }
    })();
    await this.sampling;
  }

  /** The replica's lag in ms: the age of the oldest primary sample it has not applied (0 if none). */
  private lagOf(applied: Position): number {
    for (const sample of this.samples) {
      if (!covers(applied, sample.position)) return Math.max(0, this.now() - sample.at);
    }
    return 0;
  }
}
