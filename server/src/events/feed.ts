import { type CommitWatch, type Database, eventsRepo, jobsRepo, positionsRepo } from '@hdms/db';
import type { EventFacts } from '../domain/access/policy';
import { safeError, tooManyRequests } from '../domain/errors';
import { Waker } from '../lib/waker';
import type { Logger } from '../logger';
import {
  type EventType,
  INTERNAL_EVENT_TYPES,
  type InternalEventType,
  onEventsCommitted,
} from '../domain/events/record';

/**
 * Following the `change_events` table: each server process has one `EventFeed`, which reads the
 * events committed after the last one it read, on any instance, and hands each page to the
 * subscriptions of this process. It reads at once when this process commits events (in its main
 * thread or a worker thread), and polls for those of other instances: every `minPollMs` after it
 * found events, doubling while it finds none, never past `maxPollMs` (250 ms). It reads nothing
 * while no one is subscribed or following (`follow`: the job dispatcher hears of other instances'
 * jobs this way, so an instance has one poll of the shared tables, not two). It also holds the
 * subscription caps (`Admission`).
 *
 * On a SQLite file the operating system tells of every write to it (`Database.watchCommits`), so
 * the feed need not poll to notice other processes' commits: after `NOTIFIED_WINDOW_MS` without a
 * write it backs off past 250 ms, up to `WATCHED_POLL_MS` (a safety net), and the next write wakes
 * it at once and puts it back on the 250 ms bound (a write can come before its commit is visible).
 */

/** One committed event as read from the table. */
export interface StoredEvent {
  id: number;
  type: EventType | InternalEventType;
  entityId: number;
  patientId: number | null;
  fields: string[];
  createdAt: Date;
}

/** A page of committed events, in id order, and what deciding their delivery needs. */
export interface EventPage {
  events: StoredEvent[];
  facts: EventFacts;
  /**
   * With read replicas: the primary's position read just after the page (so it includes every
   * event of the page's commit), which each event carries to its subscribers; null otherwise.
   */
  position?: string | null;
}

/** Events a read returns at most. */
export const EVENT_PAGE_SIZE = 500;

const INTERNAL: ReadonlySet<string> = new Set(INTERNAL_EVENT_TYPES);

/** True for the server's own events (never delivered). */
export function isInternal(event: StoredEvent): event is StoredEvent & { type: InternalEventType } {
  return INTERNAL.has(event.type);
}

/** The newest event id (0 when there is none). */
export async function newestEventId(db: Database): Promise<number> {
  return eventsRepo.newestId(db);
}

/** The highest event id the retention job has deleted: a resume from below it has missed events. */
export async function prunedThrough(db: Database): Promise<number> {
  return eventsRepo.prunedThrough(db);
}

/** The current assignments the delivery of `events` depends on: patients' doctors, jobs' starters. */
export async function loadFacts(db: Database, events: readonly StoredEvent[]): Promise<EventFacts> {
  const patientIds = new Set<number>();
  const jobIds = new Set<number>();
  for (const event of events) {
    if (event.type.startsWith('job.')) jobIds.add(event.entityId);
    else if (event.patientId !== null) patientIds.add(event.patientId);
  }
  const [patients, jobs] = await Promise.all([
    eventsRepo.patientDoctors(db, [...patientIds]),
    jobsRepo.startersOf(db, [...jobIds]),
  ]);
  return {
    patientDoctor: new Map(patients.map((p) => [p.id, p.doctorId])),
    jobStarter: new Map(
      jobs.map((j) => [j.id, { createdByType: j.createdByType, createdById: j.createdById }]),
    ),
  };
}

/**
 * Up to `limit` events after id `after`, oldest first, with their facts. With `patientId`, only
 * that patient's events (and the internal ones, which subscriptions need to see).
 */
export async function readEvents(
  db: Database,
  after: number,
  options: { limit?: number; patientId?: number; facts?: boolean } = {},
): Promise<EventPage> {
  const rows = await eventsRepo.listAfter(db, after, {
    limit: options.limit ?? EVENT_PAGE_SIZE,
    patientId: options.patientId,
    alsoTypes: INTERNAL_EVENT_TYPES,
  });
  const events = rows.map(
    (row): StoredEvent => ({
      id: row.id,
      type: row.type as StoredEvent['type'],
      entityId: row.entityId,
      patientId: row.patientId ?? null,
      fields: row.fields ? (JSON.parse(row.fields) as string[]) : [],
      createdAt: row.createdAt instanceof Date ? row.createdAt : new Date(row.createdAt),
    }),
  );
  const facts = events.length && options.facts !== false ? await loadFacts(db, events) : EMPTY_FACTS;
  // Read after the events (one statement per page, only while replicas are on): every event the
  // page holds had committed before, so this position includes it.
  const position = events.length ? await positionsRepo.current(db) : null;
  return { events, facts, position };
}

const EMPTY_FACTS: EventFacts = { patientDoctor: new Map(), jobStarter: new Map() };

/** A subscription of this process, as the feed sees it. */
export interface FeedListener {
  /** A page of events committed after the last page (called in order, never concurrently). */
  page(page: EventPage): void;
  /** The feed is stopping (the server shuts down): the subscription must end. */
  end(): void;
}

/** Options of a feed. */
export interface EventFeedOptions {
  /** The poll interval right after events were found (default 25 ms). */
  minPollMs?: number;
  /** The longest poll interval when idle (default and upper bound 250 ms). */
  maxPollMs?: number;
  /** SQLite file, watched: the longest poll interval once the file is quiet (default `WATCHED_POLL_MS`). */
  watchedPollMs?: number;
}

/** Who a subscription counts against, and the caps (EVENTS_MAX_PER_ACCOUNT, EVENTS_MAX_SUBSCRIPTIONS). */
export interface Admission {
  /** The account: `user:<id>` or `service:<id>`. */
  account: string;
  maxPerAccount: number;
  maxTotal: number;
}

/** The longest a subscriber waits for another instance's events (README). */
export const MAX_POLL_MS = 250;

/**
 * The longest poll interval while no one subscribes and only followers (the job dispatcher) need
 * other instances' events: an idle instance takes a job another one queued within a second.
 */
export const FOLLOW_POLL_MS = 1_000;

/**
 * SQLite file, watched: the longest poll interval once the file has not been written for
 * `NOTIFIED_WINDOW_MS` (a safety net: a write to the file wakes the feed at once).
 */
export const WATCHED_POLL_MS = 5_000;

/** SQLite file, watched: how long after the file's last write the feed keeps its 250 ms bound. */
export const NOTIFIED_WINDOW_MS = 2_000;

/** The event feed of one server process (see the top of this file). */
export class EventFeed {
  private readonly db: Database;
  private readonly logger: Logger;
  private readonly minPollMs: number;
  private readonly maxPollMs: number;
  private readonly watchedPollMs: number;
  private pollMs: number;
  private readonly listeners = new Set<FeedListener>();
  /** In-process followers (`follow`): told of event types, not subscriptions. */
  private readonly followers = new Set<(events: readonly StoredEvent[]) => void>();
  /** Open subscriptions per account (only those admitted with an `Admission`). */
  private readonly accounts = new Map<string, number>();
  /** The last event id read. */
  private cursor = 0;
  /** Resolves once the cursor is set for the current run of the loop; null while idle. */
  private ready: Promise<void> | null = null;
  private loopDone: Promise<void> = Promise.resolve();
  private readonly waker = new Waker();
  private stopped = false;
  private unsubscribe: () => void = () => undefined;
  private lastFailureLog = 0;
  /** The watch on a SQLite file while the loop runs (null: none, poll). */
  private watch: CommitWatch | null = null;
  /** When the watched file was last written (the start of the loop, until it is). */
  private writtenAt = 0;
  /** True while the loop sleeps longer than `maxPollMs` (a write to the file then wakes it). */
  private sleepingLong = false;
  /** Told, for each page read, how long after its newest event's commit it was read (metrics). */
  onLag: ((seconds: number) => void) | null = null;

  constructor(db: Database, logger: Logger, options: EventFeedOptions = {}) {
    this.db = db;
    this.logger = logger.child({ component: 'events' });
    this.maxPollMs = Math.min(MAX_POLL_MS, options.maxPollMs ?? MAX_POLL_MS);
    this.minPollMs = Math.min(this.maxPollMs, options.minPollMs ?? 25);
    this.watchedPollMs = Math.max(this.maxPollMs, options.watchedPollMs ?? WATCHED_POLL_MS);
    this.pollMs = this.minPollMs;
  }

  /** Open subscriptions of `account` on this process. */
  subscriptionsOf(account: string): number {
    return this.accounts.get(account) ?? 0;
  }

  /** How many subscriptions this process serves. */
  get subscribers(): number {
    return this.listeners.size;
  }

  /**
   * Adds a subscription. Resolves with `from`: the listener is handed every event committed after
   * that id (it may be handed some at or before it too: it skips those by id). Rejects when the
   * feed has stopped, or when the database cannot be read to start following it; with
   * `admission`, refuses (TOO_MANY_REQUESTS, naming the cap) one over either cap. The slot is
   * freed by `unsubscribe`, at once.
   */
  async subscribe(
    listener: FeedListener,
    admission?: Admission,
  ): Promise<{ from: number; unsubscribe(): void }> {
    if (this.stopped) throw new Error('the event feed has stopped');
    if (admission) {
      if (this.listeners.size >= admission.maxTotal) {
        throw tooManyRequests(
          `This server has its maximum of ${admission.maxTotal} open subscriptions (EVENTS_MAX_SUBSCRIPTIONS); retry shortly`,
          5,
        );
      }
      if (this.subscriptionsOf(admission.account) >= admission.maxPerAccount) {
        throw tooManyRequests(
          `This account has its maximum of ${admission.maxPerAccount} open subscriptions (EVENTS_MAX_PER_ACCOUNT); close one first`,
          5,
        );
      }
      this.accounts.set(admission.account, this.subscriptionsOf(admission.account) + 1);
    }
    this.listeners.add(listener);
    // The feed may be sleeping a follower's longer interval: subscribers get the 250 ms one.
    if (this.listeners.size === 1 && this.pollMs > this.maxPollMs) this.wake();
    let subscribed = true;
    const unsubscribe = () => {
      if (!subscribed) return;
      subscribed = false;
      this.listeners.delete(listener);
      if (admission) {
        const left = this.subscriptionsOf(admission.account) - 1;
        if (left > 0) this.accounts.set(admission.account, left);
        else this.accounts.delete(admission.account);
      }
    };
    try {
      await this.reading();
    } catch (error) {
      unsubscribe();
      throw error;
    }
    return { from: this.cursor, unsubscribe };
  }

  /** Starts the loop if it is not running: from the newest event on. */
  private reading(): Promise<void> {
    if (!this.ready) {
      const ready = newestEventId(this.db).then((newest) => {
        this.cursor = newest;
        this.loopDone = this.loop();
      });
      this.ready = ready;
      ready.catch(() => {
        if (this.ready === ready) this.ready = null;
      });
    }
    return this.ready;
  }

  /**
   * Calls `wake` whenever the feed reads an event of `type`, from any instance, until the returned
   * function is called or the feed stops. Not a subscription (no cap, not counted): it keeps the
   * feed reading, and starts it again after a failed start (the database was unreachable).
   */
  follow(type: EventType | InternalEventType, wake: () => void): () => void {
    const follower = (events: readonly StoredEvent[]) => {
      if (events.some((event) => event.type === type)) wake();
    };
    this.followers.add(follower);
    let retry: NodeJS.Timeout | undefined;
    const start = () => {
      if (this.stopped || !this.followers.has(follower)) return;
      this.reading().catch(() => {
        retry = setTimeout(start, 1_000);
        retry.unref();
      });
    };
    start();
    return () => {
      clearTimeout(retry);
      this.followers.delete(follower);
    };
  }

  /** Makes the feed read now rather than at the next poll. */
  wake(): void {
    this.waker.wake();
  }

  /** Starts listening for this process's commits. */
  start(): void {
    this.unsubscribe = onEventsCommitted(() => this.wake());
  }

  /** Ends every subscription of this process and stops reading (shutdown). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe();
    for (const listener of [...this.listeners]) listener.end();
    this.listeners.clear();
    this.followers.clear();
    this.accounts.clear();
    this.wake();
    await this.loopDone;
  }

  /** A write to the watched SQLite file: back on the 250 ms bound, and awake if sleeping past it. */
  private written(): void {
    this.writtenAt = Date.now();
    if (this.sleepingLong) {
      this.pollMs = this.minPollMs;
      this.wake();
    }
  }

  /** The longest sleep after a read that found nothing. */
  private longestPoll(): number {
    if (this.watch?.active && Date.now() - this.writtenAt > NOTIFIED_WINDOW_MS) return this.watchedPollMs;
    return this.listeners.size > 0 ? this.maxPollMs : Math.max(this.maxPollMs, FOLLOW_POLL_MS);
  }

  private async loop(): Promise<void> {
    this.writtenAt = Date.now();
    this.watch = this.db.base.watchCommits(() => this.written());
    try {
      while (!this.stopped && (this.listeners.size > 0 || this.followers.size > 0)) {
        this.waker.reset();
        let count = 0;
        try {
          // Followers need the events only; the delivery facts are for subscriptions.
          const facts = this.listeners.size > 0;
          const page = await readEvents(this.db, this.cursor, { limit: EVENT_PAGE_SIZE, facts });
          count = page.events.length;
          // A subscription that began while this page was read without facts needs them (and the
          // cursor moves only once they are loaded: a failure reads the page again).
          if (count > 0 && !facts && this.listeners.size > 0)
            page.facts = await loadFacts(this.db, page.events);
          if (count > 0 && !this.stopped) {
            const newest = page.events[count - 1]!;
            this.cursor = newest.id;
            this.onLag?.(Math.max(0, Date.now() - newest.createdAt.getTime()) / 1000);
            for (const follower of [...this.followers]) follower(page.events);
            for (const listener of [...this.listeners]) listener.page(page);
          }
        } catch (error) {
          // The database is unreachable: subscriptions wait (their clients see no events) and
          // the feed tries again; the log says so at most once a minute.
          if (Date.now() - this.lastFailureLog > 60_000) {
            this.lastFailureLog = Date.now();
            this.logger.warn({ err: safeError(error) }, 'could not read change events; retrying');
          }
          await this.waker.sleep(1000);
          continue;
        }
        if (count === EVENT_PAGE_SIZE) continue;
        // Idle: back off (an own commit, and the first subscription, wake the feed at once).
        this.pollMs = count > 0 ? this.minPollMs : Math.min(this.longestPoll(), this.pollMs * 2);
        this.sleepingLong = this.pollMs > this.maxPollMs;
        await this.waker.sleep(this.pollMs);
        this.sleepingLong = false;
      }
    } finally {
      this.watch?.close();
      this.watch = null;
      this.ready = null;
    }
  }
}
