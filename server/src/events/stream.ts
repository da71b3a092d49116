import type { AccessScope } from '../domain/access/scope';
import type { Actor } from '../domain/actor';
import { DomainError, unavailable } from '../domain/errors';
import { serialize } from '../lib/transformer';
import { frameOf, mayDeliver, scopeKeyOf } from './delivery';
import { EVENT_PAGE_SIZE, type EventPage, isInternal, prunedThrough, readEvents } from './feed';
import {
  admissionOf,
  checkResumePoint,
  concernsSubscriber,
  type EventSubscriptionRequest,
  eventsPruned,
  MAX_WAITING_EVENTS,
  passesFilter,
  recheckIsDue,
  recheckSubscriber,
  resumeLater,
} from './subscription';

/**
 * The server's own writer of `events.onChange` streams, beside tRPC's, with exactly the frames
 * tRPC v11's `sseStreamProducer` writes for `httpSubscriptionLink` (so the SDK and `lastEventId`
 * resume work unchanged): a `connected` event with the client options, each event as `data:`
 * (superjson) and `id:` (tracked), `ping` events (in rounds every `pingMs`), and an error as
 * a `serialized-error` event (tRPC's error shape) that ends the stream.
 *
 * What it does differently: a page of events is decided once per distinct actor scope and each
 * event serialized once (`./delivery.ts`), and a subscriber's frames for a page go out as one
 * write. The subscribers of a page are served by one loop in slices of at most `SLICE_MS`, with
 * the event loop free between slices (so `/healthz` and every request keep being answered). Each
 * connection takes data only as fast as its client reads it (a read of the response body per
 * write); what it has not taken is its unsent data, bounded in bytes and age: past either it is
 * disconnected with SERVICE_UNAVAILABLE naming the bound, which the client answers by reconnecting
 * with its last event id, losing nothing.
 */

/** The response headers of a stream (tRPC's `sseHeaders`). */
export const SSE_HEADERS = {
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
  Connection: 'keep-alive',
} as const;

const frame = (event: string, data: string) => Buffer.from(`event: ${event}\ndata: ${data}\n\n\n`);
/** The first frame: the client's options (tRPC's `sse.client`, e.g. its reconnect-after-inactivity). */
export const connectedFrame = (client: object) => frame('connected', JSON.stringify(client));
const PING_FRAME = frame('ping', '');
/** An error that ends the stream, as tRPC's error shape (`formatError`). */
export const errorFrame = (shape: unknown) => frame('serialized-error', JSON.stringify(serialize(shape)));

/** How long one slice of the fan-out runs before the event loop gets its turn. */
const SLICE_MS = 4;

/**
 * How long a disconnected subscriber's connection is kept for it to read what it was sent and
 * the reason (then closed: what it holds is at most its unsent-data bound).
 */
const CLOSE_GRACE_MS = 30_000;

/** How long a stream opened for a Node response waits for it (`adoptEventStream`). */
const ATTACH_TIMEOUT_MS = 10_000;

/** How a stream is written. */
export interface StreamOptions {
  /** The `connected` event's data (tRPC's `sse.client`). */
  client: object;
  /** How often idle streams are pinged (tRPC's `sse.ping.intervalMs`; `tick` tells how). */
  pingMs: number;
  /** The error shape of an error the stream ends with (tRPC's `getErrorShape`). */
  formatError(error: unknown): unknown;
  /** The connection's outgoing side: what it holds not yet sent counts as unsent data. */
  outgoing?: { readonly writableLength: number; destroy(): void };
}

/**
 * A Node response a stream writes straight to (`adoptEventStream`): its own `write` tells when
 * the client stops reading, and `drain` when to go on.
 */
export interface StreamConnection {
  readonly writableLength: number;
  readonly destroyed: boolean;
  write(chunk: Uint8Array): boolean;
  end(chunk?: Uint8Array): unknown;
  destroy(): unknown;
  writeHead(status: number, headers: Record<string, string | string[]>): unknown;
  on(event: 'drain' | 'close', listener: () => void): unknown;
}

// --- The fan-out loop -------------------------------------------------------------------------

const runQueue: Subscriber[] = [];
let running = false;

function schedule(subscriber: Subscriber): void {
  if (subscriber.scheduled) return;
  subscriber.scheduled = true;
  runQueue.push(subscriber);
  if (!running) {
    running = true;
    setImmediate(runSlice);
  }
}

function runSlice(): void {
  const until = performance.now() + SLICE_MS;
  let done = 0;
  while (done < runQueue.length) {
    const subscriber = runQueue[done++]!;
    subscriber.scheduled = false;
    subscriber.pump();
    if (performance.now() >= until) break;
  }
  runQueue.splice(0, done);
  if (runQueue.length) setImmediate(runSlice);
  else running = false;
}

// --- Pings, bounds and rechecks of idle streams -----------------------------------------------

const open = new Set<Subscriber>();
let ticker: NodeJS.Timeout | null = null;

/** The last tick's time: a tick is a ping round when it is the first of its `pingMs` window. */
let lastTickAt = 0;

function track(subscriber: Subscriber): void {
  open.add(subscriber);
  ticker ??= setInterval(() => {
    const now = Date.now();
    const previous = lastTickAt;
    lastTickAt = now;
    for (const s of open) s.tick(now, previous);
  }, 1000).unref();
}

function untrack(subscriber: Subscriber): void {
  open.delete(subscriber);
  if (open.size === 0 && ticker) {
    clearInterval(ticker);
    ticker = null;
  }
}

/** Open streams of this writer (all servers of the process). */
export function openStreams(): number {
  return open.size;
}

// --- One subscriber ---------------------------------------------------------------------------

class Subscriber {
  scheduled = false;
  private actor: Actor;
  private scope: AccessScope;
  private key: string;
  private expiresAt: Date | undefined;
  private checkedAt: number;
  private readonly types: ReadonlySet<string> | null;
  private last = 0;
  /** Live pages not yet gone through, and where in the first one it stopped. */
  private readonly waiting: EventPage[] = [];
  private waitingIndex = 0;
  private waitingEvents = 0;
  /** Frames for the connection, not yet taken by it. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** True while the connection waits for data (it took everything). */
  private wanted = false;
  /** Since when data waits that the connection does not take (0: none). */
  private stalledSince = 0;
  private lastWrite = Date.now();
  private live = false;
  private rechecking = false;
  /** Set by `take` when it stopped after an event about the subscriber's own standing. */
  private recheckFirst = false;
  private closed = false;
  private drainedWaiter: (() => void) | null = null;
  /** Where frames go: a web stream's controller (`webStream`) or the Node response (`attach`). */
  private controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  private connection: StreamConnection | null = null;
  private readonly openedAt = Date.now();
  private unsubscribe: () => void = () => undefined;

  constructor(
    private readonly request: EventSubscriptionRequest,
    private readonly options: StreamOptions,
  ) {
    this.actor = request.actor;
    this.scope = request.scope;
    this.key = scopeKeyOf(this.actor, this.scope);
    this.checkedAt = Date.now();
    this.types = request.filter.types?.length ? new Set<string>(request.filter.types) : null;
  }

  /** The stream as a web stream, read by whoever serves the response (no Node response at hand). */
  webStream(): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.controller = controller;
        },
        pull: () => {
          this.wanted = true;
          this.flush();
        },
        cancel: () => this.close(),
      },
      { highWaterMark: 0 },
    );
  }

  /**
   * Writes the stream straight to a Node response (its headers are already written): no web
   * stream, reader or promise per write in between, a few kilobytes less for every open stream.
   */
  attach(connection: StreamConnection): void {
    this.connection = connection;
    connection.on('close', () => this.close());
    connection.on('drain', () => {
      this.wanted = true;
      this.flush();
    });
    if (this.closed) {
      connection.end();
      return;
    }
    this.wanted = true;
    this.flush();
  }

  /** Hands a chunk to the connection; whether it wants more at once. */
  private send(chunk: Buffer): boolean {
    if (this.connection) return this.connection.write(chunk);
    this.controller?.enqueue(chunk);
    return false;
  }

  /** Checks the resume point and takes a slot (both may refuse: nothing is written then). */
  async open(): Promise<void> {
    const { services, filter } = this.request;
    await checkResumePoint(services.db, filter.lastEventId);
    const feed = await services.events
      .subscribe(
        {
          page: (page) => this.page(page),
          end: () =>
            this.fail(resumeLater('The server is shutting down; reconnect with lastEventId to resume')),
        },
        admissionOf(this.actor, services.config),
      )
      .catch((error: unknown) => {
        if (error instanceof DomainError) throw error;
        throw resumeLater(`Events are unavailable right now (${(error as Error).message}); retry shortly`);
      });
    this.unsubscribe = feed.unsubscribe;
    this.last = filter.lastEventId ?? feed.from;
    this.request.signal?.addEventListener('abort', () => this.close(), { once: true });
    track(this);
    this.write(connectedFrame(this.options.client));
    void this.replay().catch((error: unknown) => this.fail(error));
  }

  /** The resume: every event after `lastEventId` still in the table, a page at a time. */
  private async replay(): Promise<void> {
    const { db } = this.request.services;
    if (this.request.filter.lastEventId !== undefined) {
      for (;;) {
        const page = await readEvents(db, this.last, { patientId: this.request.filter.patientId });
        // A page read while the retention job ran may have lost events: say so, never skip them.
        const through = await prunedThrough(db);
        if (through > this.last) throw eventsPruned(this.last, through);
        const before = this.last;
        let index = 0;
        if (this.recheckDue()) await this.recheck();
        while (index < page.events.length && !this.closed) {
          index = this.take(page, index);
          if (this.recheckFirst) {
            this.recheckFirst = false;
            await this.recheck(true);
          }
        }
        this.flush();
        this.checkBounds();
        // The next page only once the connection has taken this one: one page in memory at most.
        await this.drained();
        if (this.closed || page.events.length < EVENT_PAGE_SIZE || this.last === before) break;
      }
    }
    this.live = true;
    schedule(this);
  }

  /** A live page from the feed. */
  private page(page: EventPage): void {
    if (this.closed) return;
    this.waiting.push(page);
    this.waitingEvents += page.events.length;
    if (this.waitingEvents > MAX_WAITING_EVENTS) {
      this.fail(resumeLater('This subscription fell behind; reconnect with lastEventId to resume'));
      return;
    }
    if (this.live) schedule(this);
  }

  /** Goes through the waiting pages (one slice of the fan-out loop calls it). */
  pump(): void {
    if (this.closed || !this.live || this.rechecking) return;
    if (this.recheckDue()) {
      this.startRecheck();
      return;
    }
    while (this.waiting.length) {
      const page = this.waiting[0]!;
      const index = this.take(page, this.waitingIndex);
      this.waitingIndex = index;
      if (index >= page.events.length) {
        this.waiting.shift();
        this.waitingIndex = 0;
        this.waitingEvents -= page.events.length;
      }
      if (this.recheckFirst) {
        // An event about the subscriber's own standing: nothing later goes out before a recheck.
        this.recheckFirst = false;
        this.startRecheck(true);
        break;
      }
    }
    this.flush();
    this.checkBounds();
  }

  /**
   * Adds the frames of `page` from `from` on that this subscriber receives; returns where it
   * stopped: the page's length, or the index after an event that asks for a recheck first
   * (`recheckFirst` is set then).
   */
  private take(page: EventPage, from: number): number {
    const events = page.events;
    for (let i = from; i < events.length; i++) {
      const event = events[i]!;
      if (event.id <= this.last) continue;
      this.last = event.id;
      if (isInternal(event)) {
        if (concernsSubscriber(this.actor, event)) {
          this.recheckFirst = true;
          return i + 1;
        }
        continue;
      }
      if (!passesFilter(event, this.types, this.request.filter.patientId)) continue;
      if (!mayDeliver(page, i, this.actor, this.scope, this.key)) continue;
      const bytes = frameOf(page, i);
      this.pending.push(bytes);
      this.pendingBytes += bytes.length;
    }
    return events.length;
  }

  private write(bytes: Buffer): void {
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    this.flush();
  }

  /** Hands the pending frames to the connection as one chunk, if it waits for data. */
  private flush(): void {
    if (this.closed || this.pending.length === 0) return;
    if (!this.wanted) {
      if (this.stalledSince === 0) this.stalledSince = Date.now();
      return;
    }
    const chunk =
      this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.stalledSince = 0;
    this.lastWrite = Date.now();
    // A web stream asks again (`pull`); a Node response says at once whether it wants more.
    this.wanted = this.send(chunk);
    const drained = this.drainedWaiter;
    this.drainedWaiter = null;
    drained?.();
  }

  /** Resolves once every pending frame was handed to the connection (or the stream ended). */
  private drained(): Promise<void> {
    if (this.pending.length === 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.drainedWaiter = resolve;
    });
  }

  /** Disconnects the subscriber when its unsent data passes a bound. */
  private checkBounds(): void {
    if (this.closed) return;
    const { maxUnsentBytes, maxUnsentMs } = this.request.services.config.events;
    const unsent = this.pendingBytes + (this.options.outgoing?.writableLength ?? 0);
    if (unsent > maxUnsentBytes) {
      this.fail(
        unavailable(
          `This subscription has more than ${Math.round(maxUnsentBytes / 1024)} KiB not yet read (EVENTS_MAX_UNSENT_KB): reconnect with lastEventId to resume`,
        ),
      );
    } else if (this.stalledSince && Date.now() - this.stalledSince > maxUnsentMs) {
      this.fail(
        unavailable(
          `This subscription left events unread for more than ${Math.round(maxUnsentMs / 1000)} s (EVENTS_MAX_UNSENT_SECONDS): reconnect with lastEventId to resume`,
        ),
      );
    }
  }

  /**
   * Once a second (`now`; the previous tick was at `previous`): the ping, the bounds, the periodic
   * recheck. Pings go out in rounds, once every `pingMs` of the clock, to every stream with
   * nothing unsent that wrote nothing for half of it: an idle stream gets one every `pingMs`, a
   * stream is never silent for more than 1.5 × `pingMs` (+ a tick), and the pings of all idle
   * streams share one wake-up of the process instead of one each.
   */
  tick(now: number, previous: number): void {
    if (this.closed) return;
    // Opened for a Node response that never came to take it (the answer was replaced on its way).
    if (!this.controller && !this.connection && now - this.openedAt > ATTACH_TIMEOUT_MS) {
      this.close();
      return;
    }
    const pingMs = this.options.pingMs;
    const round = Math.floor(now / pingMs) !== Math.floor(previous / pingMs);
    if (round && now - this.lastWrite >= pingMs / 2 && this.pending.length === 0) {
      this.write(PING_FRAME);
      this.lastWrite = now;
    }
    this.checkBounds();
    if (this.live && !this.rechecking && this.recheckDue()) this.startRecheck();
  }

  private recheckDue(): boolean {
    return recheckIsDue(this.checkedAt, this.expiresAt, this.scope);
  }

  private startRecheck(fresh = false): void {
    this.rechecking = true;
    this.recheck(fresh).then(
      () => {
        this.rechecking = false;
        schedule(this);
      },
      (error: unknown) => this.fail(error),
    );
  }

  /**
   * Checks the subscriber's credentials and loads its scope again (`recheckSubscriber`); throws
   * UNAUTHORIZED when they no longer hold.
   */
  private async recheck(fresh = false): Promise<void> {
    const { actor, scope, expiresAt } = await recheckSubscriber(this.request.services, this.actor, { fresh });
    this.actor = actor;
    this.scope = scope;
    this.key = scopeKeyOf(actor, scope);
    this.expiresAt = expiresAt;
    this.checkedAt = Date.now();
  }

  /**
   * Ends the stream with `error` (after what the connection already took): the slot is freed at
   * once; a connection that has not taken the last frame `CLOSE_GRACE_MS` later is closed.
   */
  fail(error: unknown): void {
    if (this.closed) return;
    this.release();
    this.pending = [];
    this.pendingBytes = 0;
    const last = errorFrame(this.options.formatError(this.request.mapError(error)));
    try {
      if (this.connection) {
        if (!this.connection.destroyed) this.connection.end(last);
      } else if (this.controller) {
        this.controller.enqueue(last);
        this.controller.close();
      }
    } catch {
      // the client went away already
    }
    const outgoing = this.connection ?? this.options.outgoing;
    if (outgoing) {
      setTimeout(() => {
        if (outgoing.writableLength > 0) outgoing.destroy();
      }, CLOSE_GRACE_MS).unref();
    }
  }

  /** The client went away: frees everything at once. */
  close(): void {
    if (this.closed) return;
    this.release();
    try {
      if (this.connection) {
        if (!this.connection.destroyed) this.connection.end();
      } else this.controller?.close();
    } catch {
      // already closed or cancelled
    }
  }

  private release(): void {
    this.closed = true;
    this.unsubscribe();
    untrack(this);
    this.waiting.length = 0;
    const drained = this.drainedWaiter;
    this.drainedWaiter = null;
    drained?.();
  }
}

/**
 * Opens `request` as a stream of server-sent events. Rejects, writing nothing, when it is refused
 * (a resume point out of range, a cap): the caller answers that as tRPC would, with
 * `errorStream`.
 */
export async function openEventStream(
  request: EventSubscriptionRequest,
  options: StreamOptions,
): Promise<ReadableStream<Uint8Array>> {
  const subscriber = new Subscriber(request, options);
  const stream = subscriber.webStream();
  await subscriber.open();
  return stream;
}

/** The header that marks an answer as an open stream waiting for its connection (never sent). */
export const STREAM_MARK = 'x-hdms-event-stream';

/** Streams opened for a Node response, until `adoptEventStream` hands them their connection. */
const awaitingConnection = new Map<string, Subscriber>();
let streamSeq = 0;

/**
 * Opens `request` like `openEventStream`, for a Node server: the answer is an empty 200 response
 * with `STREAM_MARK`, which goes back through the middlewares (they add their headers) to the
 * adapter, whose `adoptEventStream` writes those headers and attaches the stream to the Node
 * response. A stream no response comes for is closed after `ATTACH_TIMEOUT_MS`.
 */
export async function openNodeEventStream(
  request: EventSubscriptionRequest,
  options: StreamOptions,
): Promise<Response> {
  const subscriber = new Subscriber(request, options);
  await subscriber.open();
  const id = String(++streamSeq);
  awaitingConnection.set(id, subscriber);
  setTimeout(() => awaitingConnection.delete(id), ATTACH_TIMEOUT_MS).unref();
  return new Response(null, { status: 200, headers: { ...SSE_HEADERS, [STREAM_MARK]: id } });
}

/**
 * The Node adapter's last step: an answer marked by `openNodeEventStream` has its headers written
 * to `connection` and its stream attached to it, and the adapter is told the answer was sent;
 * any other answer is returned as it is.
 */
export function adoptEventStream(response: Response, connection: StreamConnection | undefined): Response {
  const id = response.headers.get(STREAM_MARK);
  if (id === null || !connection) return response;
  const subscriber = awaitingConnection.get(id);
  awaitingConnection.delete(id);
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (name !== STREAM_MARK && name !== 'set-cookie') headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length) headers['set-cookie'] = cookies;
  if (subscriber) {
    connection.writeHead(response.status, headers);
    subscriber.attach(connection);
  } else {
    // Gone meanwhile (closed while the answer went through the middlewares): ask to reconnect.
    connection.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
    connection.end(
      Buffer.from(JSON.stringify({ error: 'The event stream closed before it started; reconnect' })),
    );
  }
  return new Response(null, { headers: { 'x-hono-already-sent': 'true' } });
}

/** A stream that only says `error` (as tRPC answers a subscription refused before it starts). */
export function errorStream(client: object, shape: unknown): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(Buffer.concat([connectedFrame(client), errorFrame(shape)]));
      controller.close();
    },
  });
}
