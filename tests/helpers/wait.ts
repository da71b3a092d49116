import { setTimeout as sleep } from 'node:timers/promises';

/*
 * How tests wait: on facts, never on time. `waitFor` polls a fact (a job's status, an event having
 * arrived, a log line, a port answering) and fails naming what it waited for. The only fixed waits
 * left are the two below, each saying why: `quietPeriod` (proving that something does NOT happen)
 * and `pause` (a delay that is part of the scenario itself: a slow client, a stalled proxy, a
 * sampling interval).
 */

/** What `waitFor` returns: the first value of `check` that is neither false, null, undefined, 0 nor ''. */
type Truthy<T> = Exclude<T, false | null | undefined | 0 | ''>;

export interface WaitOptions<T> {
  /** What is waited for, for the failure message; a function gets the last value `check` gave. */
  what: string | ((last: T | undefined) => string);
  /** Default 10 s. */
  timeoutMs?: number;
}

/**
 * Polls `check` (with a short backoff, 5 ms up to 100 ms) until it returns a truthy value, and
 * returns that value; after `timeoutMs` it throws "timed out after … waiting for <what>". An error
 * thrown by `check` ends the wait at once.
 */
export async function waitFor<T>(check: () => T | Promise<T>, options: WaitOptions<T>): Promise<Truthy<T>> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  let interval = 5;
  for (;;) {
    const last = await check();
    if (last) return last as Truthy<T>;
    if (Date.now() > deadline) {
      const what = typeof options.what === 'function' ? options.what(last) : options.what;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(interval);
    interval = Math.min(100, interval * 2);
  }
}

/**
 * Waits `ms` during which the test expects `what` NOT to happen (e.g. 'no job runs on an API-only
 * server'): the one legitimate fixed wait, for proving a negative. Prefer a marker that proves it
 * (an event written afterwards that arrives, a job enqueued afterwards that finishes) when there is one.
 */
export async function quietPeriod(ms: number, what: string): Promise<void> {
  void what;
  await sleep(ms);
}

/**
 * A deliberate delay that is part of the scenario, `why` saying which: a slow client, a request
 * left to reach a stalled database, the interval between samples. Never a way to wait until
 * something is done (that is `waitFor`).
 */
export async function pause(ms: number, why: string): Promise<void> {
  void why;
  await sleep(ms);
}

/**
 * Waits until the clock shows a later millisecond than when called, and returns that time: every
 * timestamp taken before the call is then strictly earlier than what it returns, and every one
 * taken after is at least as late.
 */
export async function nextMillisecond(): Promise<Date> {
  const now = Date.now();
  return new Date(await waitFor(() => (Date.now() > now ? Date.now() : 0), { what: 'the clock to move on' }));
}
