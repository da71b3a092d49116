import { isIPv4, isIPv6 } from 'node:net';
import type { Database, ThrottleKind, Transaction } from '@hdms/db';
import { throttleRepo } from '@hdms/db';
import type { Config } from '../env';
import { tooManyRequests, type DomainError } from '../domain/errors';
import type { Logger } from '../logger';
import { sha256Hex } from './tokens';

/**
 * The sign-in and registration throttle (NIST SP 800-63B 5.2.2, OWASP ASVS 2.2.1). Guessing is
 * slowed per (account, client address) pair, so that an anonymous client cannot lock an owner
 * out: after `pairFreeFailures` failures a pair waits `pairDelaySeconds` before its next attempt,
 * twice as long after each further failure, at most `pairMaxDelaySeconds`. An account takes at
 * most `accountMaxFailures` failures per `accountWindowHours` from all addresses together; then it
 * is throttled for everyone until the window ends. One address takes at most
 * `addressMaxFailures` failures per `addressWindowMinutes` over all accounts, and
 * `registerPerHour` registrations per hour.
 *
 * Every attempt is reserved before its password is verified: the counters are rows of
 * `throttle_counters`, each taken with one conditional `UPDATE`, so that no batching, concurrency
 * or number of server instances lets more attempts through than the limits allow. A failure keeps
 * its reservation; a success gives it back, as does an attempt whose password went unchecked (the
 * server was too busy). A success does not erase earlier failures: a pair's are forgotten
 * `accountWindowHours` after its last attempt. Within one server, attempts of one name from one
 * address also run one after another, in the order they arrived.
 *
 * IPv6 clients are counted per /64 network, which one client typically holds whole.
 */

/** The throttle's limits (the LOGIN_* and REGISTER_PER_HOUR variables). */
export type SignInLimits = Config['signInLimits'];

/** The throttle key of a sign-in attempt: the account when it exists, else the name tried. */
export function loginSubject(userId: number | null, identifier: string): string {
  return userId === null ? `name:${identifier.trim().toLowerCase()}` : `user:${userId}`;
}

/**
 * The network a client address is counted as: an IPv4 address as is (also when IPv4-mapped), an
 * IPv6 address as its /64 (`2001:db8:0:1::/64`); null when the address is unknown.
 */
export function clientNetwork(ip: string | null): string | null {
  if (!ip) return null;
  let address = ip.trim().toLowerCase();
  const zone = address.indexOf('%');
  if (zone >= 0) address = address.slice(0, zone);
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(address);
  if (mapped?.[1] && isIPv4(mapped[1])) return mapped[1];
  if (isIPv4(address)) return address;
  if (isIPv6(address)) return `${ipv6Groups(address).slice(0, 4).join(':')}::/64`;
  return address.slice(0, 64);
}

/** The eight groups of a valid IPv6 address, without leading zeros. */
function ipv6Groups(address: string): string[] {
  const [head = '', tail] = address.split('::');
  const parts = (text: string) =>
    text === ''
      ? []
      : text.split(':').flatMap((part) => {
          if (!part.includes('.')) return [part];
          const [a = 0, b = 0, c = 0, d = 0] = part.split('.').map(Number);
          return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
        });
  const first = parts(head);
  const last = tail === undefined ? [] : parts(tail);
  const zeros = Array.from({ length: 8 - first.length - last.length }, () => '0');
  return [...first, ...zeros, ...last].map((group) => Number.parseInt(group, 16).toString(16));
}

/** How one counter limits: attempts per fixed window, or the pair's growing wait. */
type Rule = { type: 'window'; max: number; windowMs: number } | { type: 'pair' };

interface CounterSpec {
  key: string;
  kind: ThrottleKind;
  userId: number | null;
  address: string | null;
  rule: Rule;
}

/** One counter an attempt has taken, and what is needed to give it back exactly. */
interface Taken {
  spec: CounterSpec;
  /** A window counter: the latest its window (the one in force when it was taken) can end (epoch ms). */
  windowEnd?: number;
  /** A pair: every wait this reservation may have set (epoch ms). */
  waits?: readonly number[];
}

/** One reserved attempt: it counts until it is given back. */
export interface Reservation {
  /** The attempt failed: it keeps counting, and a pair's wait runs from now. */
  failed(): Promise<void>;
  /** The attempt succeeded: it stops counting, and its pair's wait is what it was before. */
  succeeded(): Promise<void>;
  /** The attempt was not made (e.g. the server was too busy): it stops counting. */
  cancel(): Promise<void>;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const PURGE_EVERY_MS = 10 * MINUTE;
/** Rounds of update-then-look before an undecided reservation is refused for a second. */
const MAX_ROUNDS = 5;

/** How many attempts of one key may wait for their turn on one server (see `oneAtATime`). */
const MAX_QUEUED = 100;

/** Per database: attempts running one after another by key, and when counters were last purged. */
// Keyed by `db.base`: a request's view of the database (read replicas' `recordingPositions`)
// shares its queues.
const queuesOf = new WeakMap<Database, Map<string, { tail: Promise<void>; length: number }>>();
const lastPurge = new WeakMap<Database, number>();

/** A wait as words: `20 seconds`, `15 minutes`, `3 hours`. */
function inWords(seconds: number): string {
  const [n, unit] =
    seconds < 60
      ? [seconds, 'second']
      : seconds < 2 * 3600
        ? [Math.ceil(seconds / 60), 'minute']
        : [Math.ceil(seconds / 3600), 'hour'];
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/** Too many failed sign-ins: the same answer for every limit, for login and changePassword. */
function tooManyFailures(waitMs: number): DomainError {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  return tooManyRequests(`Too many failed sign-in attempts; try again in ${inWords(seconds)}`, seconds);
}

/** Too many registrations from one address. */
function tooManyRegistrations(waitMs: number): DomainError {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  return tooManyRequests(
    `Too many registrations from this address; try again in ${inWords(seconds)}`,
    seconds,
  );
}

/**
 * The sign-in and registration throttle of one database (see the module comment). Each counter
 * is taken with one conditional `UPDATE` whose affected-row count decides, atomic on SQLite and
 * on MySQL whatever the number of server instances; an attempt takes its pair's counter, then the
 * account's, then the address's, and gives back those it took when a later one refuses.
 */
export class SignInThrottle {
  constructor(
    private readonly db: Database,
    private readonly limits: SignInLimits,
    private readonly logger?: Logger,
  ) {}

  /**
   * Runs `work` after every earlier `work` of the same `key` on this server has finished, in
   * arrival order: one tRPC batch of sign-ins is checked as if its calls came one by one. More
   * than `MAX_QUEUED` waiting for one key are refused at once (TOO_MANY_REQUESTS).
   */
  async oneAtATime<T>(key: string, work: () => Promise<T>): Promise<T> {
    let queues = queuesOf.get(this.db.base);
    if (!queues) {
      queues = new Map();
      queuesOf.set(this.db.base, queues);
    }
    const byKey = queues;
    const queue = byKey.get(key) ?? { tail: Promise.resolve(), length: 0 };
    if (queue.length >= MAX_QUEUED) {
      throw tooManyRequests('Too many attempts at once; try again in a moment', 1);
    }
    queue.length++;
    const run = queue.tail.then(work);
    queue.tail = run.then(
      () => undefined,
      () => undefined,
    );
    byKey.set(key, queue);
    void queue.tail.then(() => {
      queue.length--;
      if (queue.length === 0 && byKey.get(key) === queue) byKey.delete(key);
    });
    return run;
  }

  /**
   * Reserves one sign-in attempt on the account `subject` (see `loginSubject`) from `ip`, before
   * its password is checked. Throws TOO_MANY_REQUESTS, with how long to wait, when the pair must
   * wait or the account's or the address's limit is reached.
   */
  reserveSignIn(target: { subject: string; userId: number | null; ip: string | null }): Promise<Reservation> {
    const address = clientNetwork(target.ip);
    const { limits } = this;
    const specs: CounterSpec[] = [
      {
        key: sha256Hex(`pair\n${target.subject}\n${address ?? '-'}`),
        kind: 'pair',
        userId: target.userId,
        address,
        rule: { type: 'pair' },
      },
      {
        key: sha256Hex(`account\n${target.subject}`),
        kind: 'account',
        userId: target.userId,
        address: null,
        rule: { type: 'window', max: limits.accountMaxFailures, windowMs: limits.accountWindowHours * HOUR },
      },
    ];
    if (address !== null) {
      specs.push({
        key: sha256Hex(`address\n${address}`),
        kind: 'address',
        userId: null,
        address,
        rule: {
          type: 'window',
          max: limits.addressMaxFailures,
          windowMs: limits.addressWindowMinutes * MINUTE,
        },
      });
    }
    return this.reserve(specs, tooManyFailures);
  }

  /**
   * Reserves one registration from `ip`: TOO_MANY_REQUESTS once `registerPerHour` registrations
   * from the address fall in the hour's window. Unknown addresses are not limited (null).
   */
  async reserveRegistration(ip: string | null): Promise<Reservation | null> {
    const address = clientNetwork(ip);
    if (address === null) return null;
    const spec: CounterSpec = {
      key: sha256Hex(`register\n${address}`),
      kind: 'register',
      userId: null,
      address,
      rule: { type: 'window', max: this.limits.registerPerHour, windowMs: HOUR },
    };
    // One at a time per address: a batch of registrations holds one database connection, not all.
    return this.oneAtATime(`register\n${address}`, () => this.reserve([spec], tooManyRegistrations));
  }

  /**
   * Forgets every failed sign-in of an account (its own counter and those of its pairs with
   * client addresses), e.g. after an administrator has reset its password.
   */
  async forgetAccount(userId: number, transaction?: Transaction): Promise<void> {
    await throttleRepo.deleteByUser(this.db, userId, { tx: transaction });
  }

  private async reserve(specs: CounterSpec[], refuse: (waitMs: number) => DomainError): Promise<Reservation> {
    this.purgeNowAndThen();
    const taken: Taken[] = [];
    for (const spec of specs) {
      const outcome = await this.take(spec);
      if (typeof outcome === 'number') {
        await this.giveBack(taken);
        throw refuse(outcome);
      }
      taken.push(outcome);
    }
    return this.reservation(taken);
  }

  /** Takes one attempt from a counter, or returns how long to wait (ms) before one is free. */
  private async take(spec: CounterSpec): Promise<Taken | number> {
    for (let round = 1; round <= MAX_ROUNDS; round++) {
      const now = Date.now();
      const taken = await this.tryTake(spec, now);
      if (taken) return taken;
      const row = await throttleRepo.findCounter(this.db, spec.key);
      if (!row) {
        // Long expired, so that whichever update comes first starts a fresh window.
        await throttleRepo.insertIfAbsent(this.db, this.identity(spec));
        continue;
      }
      const expiresAt = row.expiresAt.getTime();
      const blockedUntil = row.blockedUntil?.getTime() ?? 0;
      const at = Date.now();
      if (expiresAt <= at) continue;
      if (spec.rule.type === 'window' && row.count >= spec.rule.max) return expiresAt - at;
      if (spec.rule.type === 'pair' && row.count >= this.limits.pairFreeFailures && blockedUntil > at) {
        return blockedUntil - at;
      }
      // Changed since the update looked at it (e.g. an attempt was given back): look again.
    }
    return 1000;
  }

  private identity(spec: CounterSpec) {
    return { key: spec.key, kind: spec.kind, userId: spec.userId, address: spec.address };
  }

  /** The conditional update that takes one attempt: affects one row exactly when allowed. */
  private async tryTake(spec: CounterSpec, now: number): Promise<Taken | null> {
    if (spec.rule.type === 'window') {
      const windowEnd = now + spec.rule.windowMs;
      const changed = await throttleRepo.takeWindow(this.db, {
        key: spec.key,
        now,
        windowEnd,
        max: spec.rule.max,
      });
      return changed ? { spec, windowEnd } : null;
    }
    const ladder = this.waitLadder(now);
    const changed = await throttleRepo.takePair(this.db, {
      key: spec.key,
      now,
      memoryEnd: now + this.pairMemoryMs,
      ladder,
    });
    return changed ? { spec, waits: ladder.waits } : null;
  }

  private reservation(taken: Taken[]): Reservation {
    let settled = false;
    const once = (work: () => Promise<void>) => async () => {
      if (settled) return;
      settled = true;
      await work();
    };
    return {
      failed: once(async () => {
        const pair = taken.find((t) => t.spec.rule.type === 'pair');
        if (!pair) return;
        // The wait runs from the end of the failed check, never shorter than it already is.
        await throttleRepo.holdPairWait(this.db, pair.spec.key, this.waitLadder(Date.now()));
      }),
      succeeded: once(() => this.giveBack(taken)),
      cancel: once(() => this.giveBack(taken)),
    };
  }

  /** Gives back what `taken` took: counts go down, and a pair's wait this attempt set is lifted. */
  private async giveBack(taken: Taken[]): Promise<void> {
    await Promise.all(
      taken.map(({ spec, windowEnd, waits }) =>
        spec.rule.type === 'window'
          ? throttleRepo.giveBackWindow(this.db, spec.key, windowEnd ?? 0)
          : throttleRepo.giveBackPair(this.db, spec.key, waits ?? []),
      ),
    );
  }

  /**
   * The pair's waits from `now`: `pairDelaySeconds` after `pairFreeFailures` failures, doubling
   * with each further one up to `pairMaxDelaySeconds` (the last wait holds beyond).
   */
  private waitLadder(now: number): throttleRepo.WaitLadder {
    const { pairFreeFailures: free, pairDelaySeconds: base, pairMaxDelaySeconds: max } = this.limits;
    const waits: number[] = [];
    for (let k = 0; ; k++) {
      const seconds = Math.min(max, base * 2 ** k);
      waits.push(now + seconds * 1000);
      if (seconds >= max) break;
    }
    return { free, waits };
  }

  /** How long a pair's counter is kept after its last attempt. */
  private get pairMemoryMs(): number {
    return Math.max(this.limits.accountWindowHours * HOUR, this.limits.pairMaxDelaySeconds * 1000);
  }

  /** Deletes counters whose windows and waits are over, at most every ten minutes per server. */
  private purgeNowAndThen(): void {
    const now = Date.now();
    if (now - (lastPurge.get(this.db.base) ?? 0) < PURGE_EVERY_MS) return;
    lastPurge.set(this.db.base, now);
    const before = new Date(now - MINUTE);
    throttleRepo.purgeEnded(this.db, before).catch((error: unknown) => {
      this.logger?.warn({ err: (error as Error).name }, 'purging old throttle counters failed');
    });
  }
}
