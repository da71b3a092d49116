import { EventEmitter } from 'node:events';
import { BroadcastChannel, isMainThread } from 'node:worker_threads';
import { type Database, eventsRepo, type Transaction } from '@hdms/db';

/**
 * Change events: what `events.onChange` delivers. Every committed create or update of a doctor,
 * patient, check-up, note or job status, and every emergency access opened, writes one row in the
 * transaction of the change, so an event exists if and only if its change committed. An event
 * names its record and the fields it changed, never their values.
 */

/** The types subscribers receive, `<entity>.<what happened>`. */
export const EVENT_TYPES = [
  'doctor.created',
  'doctor.updated',
  'patient.created',
  'patient.updated',
  'checkHistory.created',
  'note.created',
  'job.queued',
  'job.running',
  'job.succeeded',
  'job.failed',
  'job.cancelled',
  'emergency.opened',
] as const;

/** One type subscribers receive. */
export type EventType = (typeof EVENT_TYPES)[number];

/**
 * Events for the server's own use, never delivered: an account's or a service token's standing
 * changed (linked, disabled, signed out, revoked), so subscriptions on it are checked again
 * before any later event is delivered (`entityId`: the account's or token's id); or a doctor's
 * reach changed (a consent granted or revoked, an emergency access opened or ended), so the
 * subscriptions of that doctor's accounts load their scope again (`access.changed`, `entityId`:
 * the Doctor record's id).
 */
export const INTERNAL_EVENT_TYPES = ['account.changed', 'serviceToken.changed', 'access.changed'] as const;

/** One internal event type. */
export type InternalEventType = (typeof INTERNAL_EVENT_TYPES)[number];

/** What an event is about: the part of its type before the dot. */
export type EventEntity = 'doctor' | 'patient' | 'checkHistory' | 'note' | 'job' | 'emergency';

/** The entity of a delivered event's type. */
export function entityOf(type: EventType): EventEntity {
  return type.slice(0, type.indexOf('.')) as EventEntity;
}

/** One event to write. */
export interface NewEvent {
  type: EventType | InternalEventType;
  /** The record the event is about (for `account.changed`, the account). */
  entityId: number;
  /** The patient the record belongs to, if any (a patient's own events name it too). */
  patientId?: number | null;
  /** Names of the fields the change set (never their values). */
  fields?: readonly string[];
}

/** Tells this process's event feed that events were committed, so it reads them at once. */
const committed = new EventEmitter();
committed.setMaxListeners(0);

/**
 * Commits in a worker thread (jobs) reach the main thread's feed through this channel (threads of
 * one process only; other instances poll the table). Opened when first needed, and unref'd: it
 * never keeps a process alive.
 */
const CHANNEL = 'hdms:events-committed';
let workerChannel: BroadcastChannel | null = null;
let mainChannel: BroadcastChannel | null = null;

function announceCommit(): void {
  committed.emit('events');
  if (isMainThread) return;
  if (!workerChannel) {
    workerChannel = new BroadcastChannel(CHANNEL);
    workerChannel.unref();
  }
  workerChannel.postMessage(1);
}

/**
 * Calls `listener` whenever events written in this process are committed, in this thread or (in
 * the main thread) in a worker thread; returns the unsubscribe.
 */
export function onEventsCommitted(listener: () => void): () => void {
  committed.on('events', listener);
  if (isMainThread && !mainChannel) {
    mainChannel = new BroadcastChannel(CHANNEL);
    mainChannel.onmessage = () => committed.emit('events');
    mainChannel.unref();
  }
  return () => committed.off('events', listener);
}

/** Transactions that will wake the feed when they commit. */
const wakes = new WeakSet<Transaction>();

/** The database events are written to: its models, Sequelize and dialect (a `Database` will do). */
export type EventsDatabase = Pick<Database, 'models' | 'sequelize' | 'dialect'>;

/**
 * Writes events in the caller's transaction. Subscribers follow events by id, so ids must be
 * committed in increasing order, on one server and across the nodes of a Galera cluster: the ids
 * come from a counter row that the transaction advances (`eventsRepo.reserveIds`), which it then
 * holds until it commits (and which Galera certifies: of two writers on two nodes one runs again).
 * Call it as the last write of a transaction (after the change and its audit rows): the row is
 * then held for the commit only, and no lock is taken after it (no deadlock).
 */
export async function recordEvents(
  db: EventsDatabase,
  tx: Transaction,
  events: readonly NewEvent[],
): Promise<void> {
  if (events.length === 0) return;
  const holding = held.get(tx);
  if (holding) {
    holding.push(...events);
    return;
  }
  const first = await eventsRepo.reserveIds(db, events.length, { tx });
  const at = new Date();
  await eventsRepo.insertEvents(
    db,
    events.map((event, i) => ({
      id: first + i,
      type: event.type,
      entityId: event.entityId,
      patientId: event.patientId ?? null,
      fields: event.fields?.length ? [...event.fields] : null,
      createdAt: at,
    })),
    { tx },
  );
  if (!wakes.has(tx)) {
    wakes.add(tx);
    tx.afterCommit(announceCommit);
  }
}

/** Transactions whose events are held back by `holdEvents`, and where they are collected. */
const held = new WeakMap<Transaction, NewEvent[]>();

/**
 * Runs `work` with the events it records in `tx` collected into `into` instead of written, so
 * that the caller writes them later in `tx` together with its own (one id reservation and one
 * INSERT for all: a job's effect and its status event).
 */
export async function holdEvents<R>(tx: Transaction, into: NewEvent[], work: () => Promise<R>): Promise<R> {
  held.set(tx, into);
  try {
    return await work();
  } finally {
    held.delete(tx);
  }
}

/** `recordEvents` for one event. */
export function recordEvent(db: EventsDatabase, tx: Transaction, event: NewEvent): Promise<void> {
  return recordEvents(db, tx, [event]);
}

/** The event of a patient admitted (`patients.create`, an import). */
export function patientCreated(patient: { id: number }): NewEvent {
  return { type: 'patient.created', entityId: patient.id, patientId: patient.id };
}

/**
 * Records, in a transaction of its own, that an account's standing changed after the fact (its
 * sessions ended: sign-out, a new password), so that its subscriptions are checked again before
 * any later event reaches them.
 */
export function recordAccountChanged(
  db: EventsDatabase & Pick<Database, 'transaction'>,
  userId: number,
): Promise<void> {
  return db.transaction((tx) => recordEvent(db, tx, { type: 'account.changed', entityId: userId }));
}
