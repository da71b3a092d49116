import { afterAll, describe, expect, it } from 'vitest';
import { migrations } from '@hdms/db';
import { freshDatabase, TEST_DB_KIND, type TestDatabase } from './helpers/db';
import { http, startTestServer, type TestServer } from './helpers/server';

/*
 * Instances started at the same moment on one empty MySQL database: the migration lock lets one
 * migrate while the others wait, and every instance comes up. (SQLite is one process's file.)
 */
describe.skipIf(TEST_DB_KIND !== 'mysql')('three instances started together on one empty database', () => {
  let target: TestDatabase;
  const servers: TestServer[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close(0)));
    await target?.drop();
  });

  it('migrate it exactly once, and all answer /healthz', async () => {
    target = await freshDatabase();
    const started = await Promise.allSettled(
      [0, 1, 2].map(() => startTestServer({}, { target, testJobs: true })),
    );
    for (const result of started) if (result.status === 'fulfilled') servers.push(result.value);
    const failures = started.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
    expect(failures).toEqual([]);
    for (const server of servers) expect((await http(server.url, 'GET', '/healthz')).status).toBe(200);
    const [rows] = (await servers[0]!.db.sequelize.query(
      'SELECT name, COUNT(*) AS times FROM schema_migrations GROUP BY name ORDER BY name',
    )) as [{ name: string; times: number }[], unknown];
    expect(rows.map((r) => r.name)).toEqual(migrations.map((m) => m.name));
    expect(rows.every((r) => Number(r.times) === 1)).toBe(true);
    // One bootstrap admin, whichever instance created it.
    expect(await servers[0]!.db.models.User.count({ where: { role: 'admin' } })).toBe(1);
  });
});
