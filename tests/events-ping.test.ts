import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRawStream, type RawStream } from './helpers/events';
import { TEST_DB_KIND } from './helpers/db';
import { adminToken, startTestServer, type TestServer } from './helpers/server';
import { pause, waitFor } from './helpers/wait';

/*
 * Pings of idle event streams go out in rounds, every 10 s of the clock, to every stream silent
 * for at least half of it: streams opened at different times share one wake-up of the server,
 * and none stays silent long enough for a client's 25 s inactivity timeout. Not about the
 * database: it runs once, on SQLite.
 */
let t: TestServer;

beforeAll(async () => {
  t = await startTestServer();
});

afterAll(async () => {
  await t?.close();
});

/** When each frame of `stream` (connected, pings) was seen, sampled every 50 ms. */
function frameTimes(stream: RawStream): { times: number[]; stop(): void } {
  const times: number[] = [];
  const timer = setInterval(() => {
    while (times.length < stream.frames.length) times.push(Date.now());
  }, 50);
  return { times, stop: () => clearInterval(timer) };
}

describe.skipIf(TEST_DB_KIND !== 'sqlite')('pings of idle event streams', () => {
  it('go out in rounds: streams opened 3 s apart are pinged in the same tick, none silent past 16 s', async () => {
    const token = await adminToken(t);
    const first = await openRawStream(t.url, token);
    const firstTimes = frameTimes(first);
    await pause(3_000, 'the second stream opened 3 s after the first');
    const second = await openRawStream(t.url, token);
    const secondTimes = frameTimes(second);
    try {
      // Two rounds after the second opened: each stream has been pinged at least once.
      const pings = (s: RawStream) => s.frames.filter((frame) => frame.event === 'ping').length;
      await waitFor(() => pings(first) >= 2 && pings(second) >= 1, {
        what: () => `pings (first ${pings(first)}, second ${pings(second)})`,
        timeoutMs: 30_000,
      });
      await pause(200, 'the last frames sampled');
      expect(first.frames[0]?.event).toBe('connected');
      expect(second.frames[0]?.event).toBe('connected');

      // A shared round: a ping of the second within a second of one of the first (each on its
      // own 10 s schedule they would stay 3 s apart).
      const firstPings = firstTimes.times.slice(1);
      const secondPings = secondTimes.times.slice(1);
      const nearest = Math.min(
        ...secondPings.map((at) => Math.min(...firstPings.map((p) => Math.abs(p - at)))),
      );
      expect(nearest).toBeLessThan(1_000);

      for (const { times } of [firstTimes, secondTimes]) {
        for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeLessThan(16_500);
      }
    } finally {
      firstTimes.stop();
      secondTimes.stop();
      first.close();
      second.close();
    }
  });
});
