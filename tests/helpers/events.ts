import { request as httpRequest } from 'node:http';
import { EventSource } from 'eventsource';
import superjson from 'superjson';
import { createClient } from '../../client-sdk/src/index';
import type { ChangeEventView } from '../../server/src/events/subscription';
import type { RouterInputs } from '../../server/src/trpc/appRouter';
import { waitFor } from './wait';

/** An event as a subscriber receives it (`events.onChange`). */
export type ReceivedEvent = ChangeEventView;

/** How a subscription failed. */
export interface SubscriptionError {
  code: string | undefined;
  message: string;
  error: TRPCClientErrorLike;
}
type TRPCClientErrorLike = Error & { data?: { code?: string } | null };

/** A running subscription through the SDK (`@hdms/client`), recording what it receives. */
export interface Subscription {
  events: ReceivedEvent[];
  /** Tracked ids in the order received. */
  ids: string[];
  /** Errors the subscription ended with (a tRPC error's `data.code` and message, and the error). */
  errors: SubscriptionError[];
  /** Connection states the SDK reported (`connecting`, `pending`, `idle`). */
  states: string[];
  /** True once the server has accepted the subscription. */
  started: boolean;
  /** Resolves with the events received once `predicate` holds for them (or throws after `ms`). */
  waitFor(predicate: (events: ReceivedEvent[]) => boolean, ms?: number): Promise<ReceivedEvent[]>;
  /** Resolves when the subscription has ended with an error (or throws after `ms`). */
  waitForError(ms?: number): Promise<SubscriptionError>;
  close(): void;
}

/**
 * Subscribes to `events.onChange` at `url` as `token` through the SDK, over real server-sent
 * events (the `eventsource` package: Node 20 has no EventSource). Resolves once the server has
 * started the subscription.
 */
export async function subscribe(
  url: string,
  token: string | undefined,
  input: RouterInputs['events']['onChange'] = {},
): Promise<Subscription> {
  const client = createClient({ url, token, EventSource });
  const sub: Subscription = {
    events: [],
    ids: [],
    errors: [],
    states: [],
    started: false,
    async waitFor(predicate, ms = 10_000) {
      await waitFor(
        () => {
          if (predicate(sub.events)) return true;
          if (sub.errors.length) throw new Error(`subscription failed: ${sub.errors[0]!.message}`);
          return false;
        },
        {
          what: () => `events; got ${JSON.stringify(sub.events.map((e) => e.type))}`,
          timeoutMs: ms,
        },
      );
      return sub.events;
    },
    async waitForError(ms = 10_000) {
      return waitFor(() => sub.errors[0], { what: 'the subscription to fail', timeoutMs: ms });
    },
    close() {
      handle.unsubscribe();
    },
  };
  const handle = client.events.onChange.subscribe(input, {
    onStarted() {
      sub.started = true;
    },
    onData(envelope) {
      sub.ids.push(envelope.id);
      sub.events.push(envelope.data);
    },
    onError(error) {
      sub.errors.push({ code: error.data?.code, message: error.message, error });
    },
    onConnectionStateChange(state) {
      sub.states.push(state.state);
    },
  });
  try {
    await waitFor(() => sub.started || sub.errors.length > 0, { what: 'the subscription to start' });
  } catch (error) {
    handle.unsubscribe();
    throw error;
  }
  return sub;
}

/**
 * Proves what a subscription did NOT receive, without sleeping: `write` makes a marker (a change
 * written after everything the test checks, which every one of `subs` receives) and returns how to
 * recognise it. A subscription sends events in id order, each once, so once the marker has arrived
 * every earlier event has either arrived or been withheld for good. The marker is then taken out
 * of each record, so the test's assertions see only the test's own events.
 */
export async function settle(
  subs: Subscription[],
  write: () => Promise<(event: ReceivedEvent) => boolean>,
): Promise<void> {
  const isMarker = await write();
  for (const sub of subs) {
    await sub.waitFor((events) => events.some(isMarker));
    for (let i = sub.events.length - 1; i >= 0; i--) {
      if (isMarker(sub.events[i]!)) {
        sub.events.splice(i, 1);
        sub.ids.splice(i, 1);
      }
    }
  }
}

/** One server-sent event as it came over the wire. */
export interface RawFrame {
  event?: string;
  data: string;
  id?: string;
}

/** Splits complete frames (ended by a blank line) off `text`; returns them and the rest. */
export function parseFrames(text: string): { frames: RawFrame[]; rest: string } {
  const frames: RawFrame[] = [];
  const blocks = text.split('\n\n');
  const rest = blocks.pop() ?? '';
  for (const block of blocks) {
    const frame: RawFrame = { data: '' };
    let seen = false;
    for (const line of block.split('\n')) {
      if (line === '') continue;
      seen = true;
      const colon = line.indexOf(':');
      const field = line.slice(0, colon);
      const value = line.slice(colon + 2);
      if (field === 'event') frame.event = value;
      else if (field === 'data') frame.data = value;
      else if (field === 'id') frame.id = value;
    }
    if (seen) frames.push(frame);
  }
  return { frames, rest };
}

/** The path and query of an `events.onChange` stream, as `httpSubscriptionLink` asks for it. */
export function streamPath(input: RouterInputs['events']['onChange'] = {}): string {
  return `/trpc/events.onChange?input=${encodeURIComponent(JSON.stringify(superjson.serialize(input)))}`;
}

/** A raw server-sent-event client: what a lightweight dashboard (or a hostile one) does. */
export interface RawStream {
  frames: RawFrame[];
  /** The tracked events received (data deserialized). */
  events: ReceivedEvent[];
  /** `serialized-error` events received: tRPC's error shape. */
  errors: { code: string; httpStatus: number; message: string }[];
  /** True once the server ended the response. */
  ended: boolean;
  bytes: number;
  waitFor(predicate: (s: RawStream) => boolean, ms?: number): Promise<void>;
  close(): void;
}

/** Opens a stream with plain `http` (no EventSource); resolves once the `connected` frame came. */
export async function openRawStream(
  url: string,
  token: string | undefined,
  input: RouterInputs['events']['onChange'] = {},
  headers: Record<string, string> = {},
): Promise<RawStream> {
  const target = new URL(url);
  let buffered = '';
  const stream: RawStream = {
    frames: [],
    events: [],
    errors: [],
    ended: false,
    bytes: 0,
    async waitFor(predicate, ms = 10_000) {
      await waitFor(() => predicate(stream), {
        what: () => `the stream (${stream.events.length} events, errors ${JSON.stringify(stream.errors)})`,
        timeoutMs: ms,
      });
    },
    close() {
      request.destroy();
    },
  };
  const request = httpRequest({
    host: target.hostname,
    port: target.port,
    path: streamPath(input),
    agent: false,
    headers: {
      accept: 'text/event-stream',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
  });
  request.on('response', (response) => {
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      stream.bytes += Buffer.byteLength(chunk);
      const { frames, rest } = parseFrames(buffered + chunk);
      buffered = rest;
      for (const frame of frames) {
        stream.frames.push(frame);
        if (frame.event === 'serialized-error') {
          const shape = superjson.deserialize(JSON.parse(frame.data)) as {
            message: string;
            data: { code: string; httpStatus: number };
          };
          stream.errors.push({
            code: shape.data.code,
            httpStatus: shape.data.httpStatus,
            message: shape.message,
          });
        } else if (frame.event === undefined && frame.id !== undefined) {
          stream.events.push(superjson.deserialize(JSON.parse(frame.data)) as ReceivedEvent);
        }
      }
    });
    response.on('end', () => {
      stream.ended = true;
    });
    response.on('error', () => {
      stream.ended = true;
    });
  });
  request.on('error', () => {
    stream.ended = true;
  });
  request.end();
  await waitFor(() => stream.frames.length > 0 || stream.ended, { what: 'the connected frame' });
  return stream;
}
