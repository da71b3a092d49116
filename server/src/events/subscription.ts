import { type TrackedEnvelope, tracked } from '@trpc/server';
import type { Database } from '@hdms/db';
import { recheckCaller } from '../auth/index';
import type { Actor, AppServices } from '../context';
import { mfaEnrollmentRefusal } from '../domain/access/policy';
import { type AccessScope, loadScope } from '../domain/access/scope';
import { badRequest, DomainError, forbidden, unauthorized, unavailable } from '../domain/errors';
import type { EventType } from '../domain/events/record';
import { type ChangeEventView, mayDeliver, scopeKeyOf, viewOf } from './delivery';
import {
  type Admission,
  EVENT_PAGE_SIZE,
  type EventPage,
  isInternal,
  newestEventId,
  prunedThrough,
  readEvents,
  type StoredEvent,
} from './feed';

export type { ChangeEventView } from './delivery';

/** What a subscription needs of the server. */
export type SubscriptionServices = Pick<AppServices, 'db' | 'sessions' | 'events' | 'config'>;

/** What a subscription asks for. */
export interface SubscriptionFilter {
  types?: readonly EventType[];
  patientId?: number;
  /** Resume after this event (tRPC sends the last id the client received when it reconnects). */
  lastEventId?: number;
}

/** How often an open subscription's credentials are checked again (and a session kept alive). */
export const RECHECK_MS = 60_000;

/**
 * Events a subscription may have waiting before it is told to reconnect and resume (the pages
 * are shared by every subscription: this bounds how long a slow one keeps old pages alive).
 */
export const MAX_WAITING_EVENTS = 20_000;

/** What a subscription counts against (EVENTS_MAX_PER_ACCOUNT, EVENTS_MAX_SUBSCRIPTIONS). */
export function admissionOf(actor: Actor, config: SubscriptionServices['config']): Admission {
  return {
    account: `${actor.type}:${actor.id}`,
    maxPerAccount: config.events.maxPerAccount,
    maxTotal: config.events.maxSubscriptions,
  };
}

/** Refuses a `lastEventId` older than the retention (PRECONDITION_FAILED) or newer than any event. */
export async function checkResumePoint(db: Database, lastEventId: number | undefined): Promise<void> {
  if (lastEventId === undefined) return;
  const through = await prunedThrough(db);
  if (lastEventId < through) throw eventsPruned(lastEventId, through);
  const newest = await newestEventId(db);
  if (lastEventId > newest) {
    throw badRequest(
      `lastEventId ${lastEventId} is ahead of the newest event (${newest}): subscribe without it`,
    );
  }
}

/**
 * True when an internal event says the subscriber's own standing or reach changed (check it and
 * load its scope again): its account or token, or the consents and emergency accesses of its
 * Doctor record.
 */
export function concernsSubscriber(actor: Actor, event: StoredEvent): boolean {
  return (
    (event.type === 'account.changed' && actor.type === 'user' && event.entityId === actor.id) ||
    (event.type === 'serviceToken.changed' && actor.type === 'service' && event.entityId === actor.id) ||
    (event.type === 'access.changed' && actor.type === 'user' && event.entityId === actor.doctorId)
  );
}

/** What a recheck found: the subscriber as they stand now, their scope, their credentials' end. */
export interface Rechecked {
  actor: Actor;
  scope: AccessScope;
  expiresAt: Date | undefined;
}

/**
 * The periodic rechecks in flight, per database and credential (a session or a service token):
 * the subscriptions of one credential fall due in the same tick (a dashboard's streams, opened
 * together, recheck together every minute) and share one check rather than each making its own.
 */
const inFlight = new WeakMap<object, Map<string, Promise<Rechecked>>>();

/** The key of the credential `actor` acts with. */
function credentialOf(actor: Actor): string {
  return actor.type === 'service' ? `service:${actor.id}` : `session:${actor.sessionToken}`;
}

/**
 * The subscriber as they stand now, and their scope: credentials checked again (`recheckCaller`)
 * and the scope loaded again (`loadScope`: a consent revoked, an emergency access ended or
 * expired). UNAUTHORIZED when they may no longer act; FORBIDDEN while their account must still
 * enroll in MFA (`MFA_REQUIRED_ROLES`).
 *
 * A periodic recheck (`fresh` false) joins one of the same credential already in flight, which
 * started at most moments earlier. A recheck that an event about the subscriber's standing asked
 * for (`fresh`) never joins one: it must see the change that event announced, so it reads anew
 * (and later periodic ones may join it).
 */
export function recheckSubscriber(
  services: SubscriptionServices,
  actor: Actor,
  options: { fresh?: boolean } = {},
): Promise<Rechecked> {
  // Keyed on the database itself, not the request's view of it (read replicas give each request one).
  let running = inFlight.get(services.db.base);
  if (!running) {
    running = new Map();
    inFlight.set(services.db.base, running);
  }
  const key = credentialOf(actor);
  const joined = options.fresh ? undefined : running.get(key);
  if (joined) return joined;
  const check = checkSubscriber(services, actor);
  running.set(key, check);
  const forget = () => {
    if (running.get(key) === check) running.delete(key);
  };
  check.then(forget, forget);
  return check;
}

async function checkSubscriber(services: SubscriptionServices, actor: Actor): Promise<Rechecked> {
  const caller = await recheckCaller(services, actor);
  if (!caller.actor) throw unauthorized(caller.refusal ?? 'Your session has ended; sign in again');
  const mfaRefusal = mfaEnrollmentRefusal(caller.actor, services.config.mfaRequiredRoles, false);
  if (mfaRefusal) throw forbidden(mfaRefusal);
  return {
    actor: caller.actor,
    scope: await loadScope(services.db, caller.actor),
    expiresAt: caller.expiresAt,
  };
}

/**
 * Whether a subscription must check its subscriber again before delivering anything more: a
 * minute since the last check, its session's idle deadline passed, or one of its consents or
 * emergency accesses has ended by itself (`scope.validUntil`).
 */
export function recheckIsDue(
  checkedAt: number,
  expiresAt: Date | undefined,
  scope: AccessScope,
  now = Date.now(),
): boolean {
  return (
    now - checkedAt >= RECHECK_MS ||
    (expiresAt !== undefined && expiresAt.getTime() <= now) ||
    (scope.validUntil !== null && scope.validUntil <= now)
  );
}

/** Whether a subscription's own filters (`types`, `patientId`) keep an event. */
export function passesFilter(
  event: StoredEvent,
  types: ReadonlySet<string> | null,
  patientId: number | undefined,
): boolean {
  return (!types || types.has(event.type)) && (patientId === undefined || event.patientId === patientId);
}

/** A resume point older than the retention: the client must refetch, then subscribe afresh. */
export function eventsPruned(lastEventId: number, through: number): DomainError {
  return new DomainError(
    'PRECONDITION_FAILED',
    `Events after ${lastEventId} are no longer kept (events through ${through} were pruned): refetch the records you show, then subscribe without lastEventId`,
  );
}

/** The subscription's end when the server stops or the client fell behind: it reconnects and resumes. */
export function resumeLater(message: string): DomainError {
  return unavailable(message);
}

/**
 * One subscription of `events.onChange`: first the events after `lastEventId` read from the table
 * (a resume), then the live events the feed hands over, in id order, each once. Every event is
 * checked against the subscriber's scope and the current assignments (`mayReceiveEvent`) before
 * it is sent, and the subscriber's own standing (session, account, links, token) and scope
 * (consents, emergency accesses) are checked again when they change, when its session would
 * expire or a grant ends, and every minute: a subscriber who may no longer act gets UNAUTHORIZED
 * and the subscription ends.
 */
export async function* followEvents(
  services: SubscriptionServices,
  subscriber: Actor,
  subscriberScope: AccessScope,
  filter: SubscriptionFilter,
  signal: AbortSignal | undefined,
): AsyncGenerator<TrackedEnvelope<ChangeEventView>> {
  const { db } = services;
  let actor = subscriber;
  let scope = subscriberScope;
  let expiresAt: Date | undefined;
  let checkedAt = 0;
  const types = filter.types?.length ? new Set<string>(filter.types) : null;

  await checkResumePoint(db, filter.lastEventId);

  // Live pages wait here while the subscription is busy (a resume, a slow client).
  const waiting: EventPage[] = [];
  let waitingEvents = 0;
  let overflow = false;
  let ended = false;
  let notify: (() => void) | null = null;
  const wake = () => {
    notify?.();
    notify = null;
  };
  const feed = await services.events
    .subscribe(
      {
        page(page) {
          if (overflow) return;
          waitingEvents += page.events.length;
          if (waitingEvents > MAX_WAITING_EVENTS) {
            overflow = true;
            waiting.length = 0;
          } else waiting.push(page);
          wake();
        },
        end() {
          ended = true;
          wake();
        },
      },
      admissionOf(subscriber, services.config),
    )
    .catch((error: unknown) => {
      if (error instanceof DomainError) throw error;
      throw resumeLater(`Events are unavailable right now (${(error as Error).message}); retry shortly`);
    });
  const onAbort = () => wake();
  signal?.addEventListener('abort', onAbort, { once: true });

  /** Checks the subscriber's credentials and scope again; ends the subscription if they no longer hold. */
  const recheck = async (fresh = false) => {
    ({ actor, scope, expiresAt } = await recheckSubscriber(services, actor, { fresh }));
    checkedAt = Date.now();
  };

  let last = filter.lastEventId ?? feed.from;
  /** The page's events this subscriber receives, in order; rechecks the subscriber where needed. */
  async function* deliver(page: EventPage) {
    if (recheckIsDue(checkedAt, expiresAt, scope)) await recheck();
    for (let i = 0; i < page.events.length; i++) {
      const stored = page.events[i]!;
      if (stored.id <= last) continue;
      last = stored.id;
      if (isInternal(stored)) {
        if (concernsSubscriber(actor, stored)) await recheck(true);
        continue;
      }
      if (!passesFilter(stored, types, filter.patientId)) continue;
      if (!mayDeliver(page, i, actor, scope, scopeKeyOf(actor, scope))) continue;
      yield tracked(
        String(stored.id),
        viewOf(stored as StoredEvent & { type: EventType }, page.position ?? null),
      );
    }
  }

  try {
    // The resume: every event after `lastEventId` still in the table, page by page.
    if (filter.lastEventId !== undefined) {
      for (;;) {
        const page = await readEvents(db, last, { patientId: filter.patientId });
        // A page read while the retention job ran may have lost events: say so, never skip them.
        const through = await prunedThrough(db);
        if (through > last) throw eventsPruned(last, through);
        const before = last;
        yield* deliver(page);
        if (page.events.length < EVENT_PAGE_SIZE || signal?.aborted) break;
        if (last === before) break;
      }
    }
    // Live.
    while (!signal?.aborted) {
      if (overflow) {
        throw resumeLater('This subscription fell behind; reconnect with lastEventId to resume');
      }
      const page = waiting.shift();
      if (page) {
        waitingEvents -= page.events.length;
        yield* deliver(page);
        continue;
      }
      if (ended) throw resumeLater('The server is shutting down; reconnect with lastEventId to resume');
      // Until a page or the end comes, or it is time to check the subscriber again.
      const recheckAt = Math.min(checkedAt + RECHECK_MS, scope.validUntil ?? Number.POSITIVE_INFINITY);
      const untilRecheck = Math.max(1000, recheckAt - Date.now());
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        notify = resolve;
        timer = setTimeout(resolve, untilRecheck);
      });
      clearTimeout(timer);
      if (!signal?.aborted && !ended && waiting.length === 0 && recheckIsDue(checkedAt, expiresAt, scope)) {
        await recheck();
      }
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    feed.unsubscribe();
  }
}

/**
 * What `events.onChange` answers: the subscription, admitted (tier, input) but not yet opened.
 * tRPC iterates it (`followEvents`); the server's own server-sent-event writer (`./stream.ts`)
 * recognises it and serves it directly, with the same frames.
 */
export class EventSubscriptionRequest implements AsyncIterable<TrackedEnvelope<ChangeEventView>> {
  constructor(
    readonly services: SubscriptionServices,
    readonly actor: Actor,
    /** The actor's scope as the request loaded it (the subscription loads it again as it changes). */
    readonly scope: AccessScope,
    readonly filter: SubscriptionFilter,
    readonly signal: AbortSignal | undefined,
    /** Maps a failure to the transport's error (a failure while the stream runs skips the middleware). */
    readonly mapError: (error: unknown) => Error,
  ) {}

  async *[Symbol.asyncIterator](): AsyncGenerator<TrackedEnvelope<ChangeEventView>> {
    try {
      yield* followEvents(this.services, this.actor, this.scope, this.filter, this.signal);
    } catch (error) {
      throw this.mapError(error);
    }
  }
}
