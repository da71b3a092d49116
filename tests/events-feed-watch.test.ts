import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createDatabase, type Database, migrateToLatest, watchSqliteFile } from '@hdms/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordEvents } from '../server/src/domain/events/record';
import { type EventPage, EventFeed, NOTIFIED_WINDOW_MS } from '../server/src/events/feed';
import { createLogger } from '../server/src/logger';
import { freshDatabase, TEST_DB_KIND, type TestDatabase } from './helpers/db';
import { pause, quietPeriod, waitFor } from './helpers/wait';

/*
 * The event feed on a SQLite file follows other processes' commits through the operating
 * system's file notifications, not a 250 ms poll: idle, it backs off far past 250 ms and still
 * reads another connection's commit at once. The "other process" is a second connection of this
 * one: its commits reach the feed only through the file (the feed under test never hears of this
 * process's in-process commit notifications: it is not started).
 */
const sqlite = TEST_DB_KIND === 'sqlite';

let target: TestDatabase;
let db: Database;
let other: Database;
/** The feed's reads of the event table, as its connection sent them. */
let feedReads = 0;

beforeAll(async () => {
  target = await freshDatabase();
  db = await createDatabase(target.url);
  await migrateToLatest(db);
  other = await createDatabase(target.url);
  db.sequelize.addHook('afterQuery', (_options, query) => {
    if (/FROM change_events WHERE id > /.test((query as unknown as { sql?: string }).sql ?? '')) feedReads++;
  });
});

afterAll(async () => {
  await other?.close();
  await db?.close();
  await target?.drop();
});

/** Commits one event through the other connection; its entity id tells it apart. */
function commitElsewhere(entityId: number): Promise<void> {
  return other.transaction((tx) => recordEvents(other, tx, [{ type: 'account.changed', entityId }]));
}

describe.skipIf(!sqlite)('the event feed on a watched SQLite file', () => {
  it("backs off past 250 ms while the file is quiet, and reads another connection's commit at once", async () => {
    // A safety-net poll of a minute: without the file's notification the commit below would wait it out.
    const feed = new EventFeed(db, createLogger('silent'), { watchedPollMs: 60_000 });
    const pages: EventPage[] = [];
    const { unsubscribe } = await feed.subscribe({ page: (page) => pages.push(page), end: () => undefined });
    try {
      await pause(NOTIFIED_WINDOW_MS + 2_000, 'the file quiet past the window of the 250 ms bound');
      feedReads = 0;
      await quietPeriod(3_000, 'the feed reading every 250 ms (12 reads)');
      // Backing off: 2 s, then 4 s, … (a subscriber on an unwatched database is read every 250 ms).
      expect(feedReads).toBeLessThanOrEqual(2);

      const committed = Date.now();
      await commitElsewhere(7001);
      await waitFor(() => pages.some((page) => page.events.some((event) => event.entityId === 7001)), {
        what: "the other connection's event, read on the file's notification",
        timeoutMs: 5_000,
      });
      expect(Date.now() - committed).toBeLessThan(5_000);

      // Back on the 250 ms bound after a write: the next commit is read within it, polled or woken.
      await commitElsewhere(7002);
      await waitFor(() => pages.some((page) => page.events.some((event) => event.entityId === 7002)), {
        what: 'the second event',
        timeoutMs: 5_000,
      });
    } finally {
      unsubscribe();
      await feed.stop();
    }
  });

  it('tells of writes to the file and its log, not of other files in its folder, and stops when closed', async () => {
    const file = target.url.replace(/^sqlite:/, '');
    let changes = 0;
    const watch = watchSqliteFile(file, () => changes++);
    expect(watch?.active).toBe(true);
    try {
      writeFileSync(join(dirname(file), 'unrelated.log'), 'x');
      await quietPeriod(300, 'a notification for another file');
      expect(changes).toBe(0);

      await commitElsewhere(7003);
      await waitFor(() => changes > 0, { what: "a notification of the other connection's commit" });
    } finally {
      watch?.close();
    }
    expect(watch?.active).toBe(false);
    const before = changes;
    await commitElsewhere(7004);
    await quietPeriod(300, 'a notification after the watch was closed');
    expect(changes).toBe(before);
    expect(watchSqliteFile(':memory:', () => undefined)).toBeNull();
  });
});

describe.skipIf(sqlite)('the event feed on MySQL', () => {
  it('has no file to watch: it polls (every 250 ms while anyone subscribes)', async () => {
    expect(db.watchCommits(() => undefined)).toBeNull();
    const feed = new EventFeed(db, createLogger('silent'));
    const { unsubscribe } = await feed.subscribe({ page: () => undefined, end: () => undefined });
    try {
      await pause(1_000, 'the feed backing off to its bound');
      feedReads = 0;
      await quietPeriod(2_000, 'the feed polling');
      expect(feedReads).toBeGreaterThanOrEqual(5);
    } finally {
      unsubscribe();
      await feed.stop();
    }
  });
});
