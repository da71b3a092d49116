import { type TrackedEnvelope, tracked } from '@trpc/server';
import { type EventFacts, mayReceiveEvent } from '../domain/access/policy';
import { recheckCaller } from '../auth/index';
import type { Actor, AppServices } from '../context';
import { badRequest, DomainError, unauthorized, unavailable } from '../domain/errors';
import {
  EVENT_PAGE_SIZE,
  type EventPage,
  isInternal,
  newestEventId,
  prunedThrough,
  readEvents,
  type StoredEvent,
} from './feed';
import { type EventEntity, type EventType, entityOf } from '../domain/events/record';

/** An event as subscribers receive it: what changed, never a value. */
export interface ChangeEventView {
  /** The event's id: resume after it with `lastEventId`. */
  id: number;
  type: EventType;
  entity: EventEntity;
  /** The record's id (the doctor, patient, check-up, note or job). */
  entityId: number;
  /** The patient the record belongs to, if any. */
  patientId: number | null;
  /** Names of the fields the change set, e.g. `['diagnosis']`; empty for most creations. */
  fields: string[];
  /** When the change was committed. */
  at: Date;
}

/** What a subscription asks for. */
export interface SubscriptionFilter {
  types?: readonly EventType[];
  patientId?: number;
  /** Resume after this event (tRPC sends the last id the client received when it reconnects). */
  lastEventId?: number;
}

/** How often an open subscription's credentials are checked again (and a session kept alive). */
const RECHECK_MS = 60_000;

/** Events a subscription may have waiting before it is told to reconnect and resume. */
const MAX_WAITING_EVENTS = 20_000;

/** A resume point older than the retention: the client must refetch, then subscribe afresh. */
export function eventsPruned(lastEventId: number, through: number): DomainError {
  return new DomainError(
    'PRECONDITION_FAILED',
    `Events after ${lastEventId} are no longer kept (events through ${through} were pruned): refetch the records you show, then subscribe without lastEventId`,
  );
}

/** The subscription's end when the server stops or the client fell behind: it reconnects and resumes. */
function resumeLater(message: string): DomainError {
  return unavailable(message);
}

/**
 * One subscription of `events.onChange`: first the events after `lastEventId` read from the table
 * (a resume), then the live events the feed hands over, in id order, each once. Every event is
 * checked against the subscriber's scope and the current assignments (`mayReceiveEvent`) before
 * it is sent, and the subscriber's own standing (session, account, links, token) is checked again
 * when it changes, when its session would expire, and every minute: a subscriber who may no
 * longer act gets UNAUTHORIZED and the subscription ends.
 */
export async function* followEvents(
  services: Pick<AppServices, 'db' | 'sessions' | 'events'>,
  subscriber: Actor,
  filter: SubscriptionFilter,
  signal: AbortSignal | undefined,
): AsyncGenerator<TrackedEnvelope<ChangeEventView>> {
  const { db } = services;
  let actor = subscriber;
  let expiresAt: Date | undefined;
  let checkedAt = 0;
  const types = filter.types?.length ? new Set<string>(filter.types) : null;

  if (filter.lastEventId !== undefined) {
    const through = await prunedThrough(db);
    if (filter.lastEventId < through) throw eventsPruned(filter.lastEventId, through);
    const newest = await newestEventId(db);
    if (filter.lastEventId > newest) {
      throw badRequest(
        `lastEventId ${filter.lastEventId} is ahead of the newest event (${newest}): subscribe without it`,
      );
    }
  }

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
    .subscribe({
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
    })
    .catch((error: unknown) => {
      throw resumeLater(`Events are unavailable right now (${(error as Error).message}); retry shortly`);
    });
  const onAbort = () => wake();
  signal?.addEventListener('abort', onAbort, { once: true });

  /** Checks the subscriber's credentials again; ends the subscription if they no longer hold. */
  const recheck = async () => {
    const caller = await recheckCaller(services, actor);
    if (!caller.actor) throw unauthorized(caller.refusal ?? 'Your session has ended; sign in again');
    actor = caller.actor;
    expiresAt = caller.expiresAt;
    checkedAt = Date.now();
  };
  const concernsSubscriber = (event: StoredEvent) =>
    (event.type === 'account.changed' && actor.type === 'user' && event.entityId === actor.id) ||
    (event.type === 'serviceToken.changed' && actor.type === 'service' && event.entityId === actor.id);

  let last = filter.lastEventId ?? feed.from;
  /** The page's events this subscriber receives, in order; rechecks the subscriber where needed. */
  async function* deliver(events: readonly StoredEvent[], facts: EventFacts) {
    if (Date.now() - checkedAt >= RECHECK_MS || (expiresAt && expiresAt.getTime() <= Date.now())) {
      await recheck();
    }
    for (const stored of events) {
      if (stored.id <= last) continue;
      last = stored.id;
      if (isInternal(stored)) {
        if (concernsSubscriber(stored)) await recheck();
        continue;
      }
      const event = stored as StoredEvent & { type: EventType };
      if (types && !types.has(event.type)) continue;
      if (filter.patientId !== undefined && event.patientId !== filter.patientId) continue;
      if (!mayReceiveEvent(actor, event, facts)) continue;
      const view: ChangeEventView = {
        id: event.id,
        type: event.type,
        entity: entityOf(event.type),
        entityId: event.entityId,
        patientId: event.patientId,
        fields: event.fields,
        at: event.createdAt,
      };
      yield tracked(String(event.id), view);
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
        yield* deliver(page.events, page.facts);
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
        yield* deliver(page.events, page.facts);
        continue;
      }
      if (ended) throw resumeLater('The server is shutting down; reconnect with lastEventId to resume');
      // Until a page or the end comes, or it is time to check the subscriber again.
      const untilRecheck = Math.max(1000, checkedAt + RECHECK_MS - Date.now());
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        notify = resolve;
        timer = setTimeout(resolve, untilRecheck);
      });
      clearTimeout(timer);
      if (!signal?.aborted && !ended && waiting.length === 0 && Date.now() - checkedAt >= RECHECK_MS) {
        await recheck();
      }
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    feed.unsubscribe();
  }
}
