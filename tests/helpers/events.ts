import { setTimeout as sleep } from 'node:timers/promises';
import { EventSource } from 'eventsource';
import { createClient } from '../../client-sdk/src/index';
import type { ChangeEventView } from '../../server/src/events/subscription';
import type { RouterInputs } from '../../server/src/trpc/appRouter';

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
      const deadline = Date.now() + ms;
      while (!predicate(sub.events)) {
        if (sub.errors.length) throw new Error(`subscription failed: ${sub.errors[0]!.message}`);
        if (Date.now() > deadline) {
          throw new Error(
            `timed out waiting for events; got ${JSON.stringify(sub.events.map((e) => e.type))}`,
          );
        }
        await sleep(10);
      }
      return sub.events;
    },
    async waitForError(ms = 10_000) {
      const deadline = Date.now() + ms;
      while (!sub.errors.length) {
        if (Date.now() > deadline) throw new Error('timed out waiting for the subscription to fail');
        await sleep(10);
      }
      return sub.errors[0]!;
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
  const deadline = Date.now() + 10_000;
  while (!sub.started && !sub.errors.length) {
    if (Date.now() > deadline) {
      handle.unsubscribe();
      throw new Error('the subscription did not start');
    }
    await sleep(5);
  }
  return sub;
}

/** Waits until `check` holds (polling), or throws after `ms`. */
export async function eventually(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}
