import type { Actor } from '../domain/actor';
import { mayReceiveEvent } from '../domain/access/policy';
import { type AccessScope, scopeKeyPart } from '../domain/access/scope';
import { type EventEntity, type EventType, entityOf } from '../domain/events/record';
import { serialize } from '../lib/transformer';
import { type EventPage, isInternal, type StoredEvent } from './feed';

/**
 * What a page of events costs to deliver, computed once per page however many subscriptions
 * receive it: whether each event may be delivered is decided once per distinct actor scope
 * (`mayReceiveEvent`, the one access rule), and each event is serialized once into its
 * server-sent-event frame, which every receiving connection is handed as the same bytes.
 */

/** An event as subscribers receive it: what changed, never a value. */
export interface ChangeEventView {
  /** The event's id: resume after it with `lastEventId`. */
  id: number;
  type: EventType;
  entity: EventEntity;
  /** The record's id (the doctor, patient, check-up, note, job or emergency access). */
  entityId: number;
  /** The patient the record belongs to, if any. */
  patientId: number | null;
  /** Names of the fields the change set, e.g. `['diagnosis']`; empty for most creations. */
  fields: string[];
  /** When the change was committed. */
  at: Date;
  /**
   * With read replicas: a replication position that includes this change. Sent back in the
   * `X-HDMS-Read-After` header (the SDK does), it makes the reads of that request see the change.
   * Null without replicas.
   */
  position: string | null;
}

/** The view of a delivered event (the same for every receiver). */
export function viewOf(
  event: StoredEvent & { type: EventType },
  position: string | null = null,
): ChangeEventView {
  return {
    id: event.id,
    type: event.type,
    entity: entityOf(event.type),
    entityId: event.entityId,
    patientId: event.patientId,
    fields: event.fields,
    at: event.createdAt,
    position,
  };
}

/**
 * Everything about an actor and its scope that `mayReceiveEvent` reads: two subscriptions with the
 * same key receive the same events (before their own `types` / `patientId` filters). A doctor's
 * consents and emergency accesses are part of it, so a subscription whose scope was loaded again
 * gets decisions of its own.
 */
export function scopeKeyOf(actor: Actor, scope: AccessScope): string {
  return actor.type === 'user'
    ? `u${actor.id}:${actor.role}:${actor.doctorId ?? ''}:${actor.patientId ?? ''}:${scopeKeyPart(scope)}`
    : `s${actor.id}:${[...actor.scopes].sort().join(',')}`;
}

/** Per page: the decisions per scope key, and each event's frame, made when first needed. */
interface PageCache {
  decisions: Map<string, Uint8Array>;
  frames: (Buffer | undefined)[];
}

const caches = new WeakMap<EventPage, PageCache>();

function cacheOf(page: EventPage): PageCache {
  let cache = caches.get(page);
  if (!cache) {
    cache = { decisions: new Map(), frames: new Array(page.events.length) };
    caches.set(page, cache);
  }
  return cache;
}

/**
 * Whether the page's `index`-th event (not an internal one) may reach `actor` with `scope`, whose
 * scope key is `key`: decided for every event of the page on the first call for that key.
 */
export function mayDeliver(
  page: EventPage,
  index: number,
  actor: Actor,
  scope: AccessScope,
  key: string,
): boolean {
  const cache = cacheOf(page);
  let decided = cache.decisions.get(key);
  if (!decided) {
    decided = new Uint8Array(page.events.length);
    page.events.forEach((event, i) => {
      if (
        !isInternal(event) &&
        mayReceiveEvent(actor, scope, event as StoredEvent & { type: EventType }, page.facts)
      ) {
        decided![i] = 1;
      }
    });
    cache.decisions.set(key, decided);
  }
  return decided[index] === 1;
}

/**
 * One tracked event as tRPC v11's `sseStreamProducer` writes it for `httpSubscriptionLink`: the
 * superjson-serialized view as `data`, the event id as `id` (what `lastEventId` resumes from).
 */
export function trackedFrame(id: string, data: unknown): Buffer {
  return Buffer.from(`data: ${JSON.stringify(serialize(data))}\nid: ${id}\n\n\n`);
}

/** The frame of the page's `index`-th event, serialized once for every connection. */
export function frameOf(page: EventPage, index: number): Buffer {
  const cache = cacheOf(page);
  let frame = cache.frames[index];
  if (!frame) {
    const event = page.events[index]! as StoredEvent & { type: EventType };
    frame = trackedFrame(String(event.id), viewOf(event, page.position ?? null));
    cache.frames[index] = frame;
  }
  return frame;
}
