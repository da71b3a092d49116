import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

/**
 * `db/` goes past Sequelize's documented API in three places, each documented where it is and
 * checked against this release line: `poolStats()` reads `connectionManager.pool` (metrics),
 * `createDatabase` sets `skipLocked` on its own dialect's `supports` (MySQL `SKIP LOCKED`, which
 * Sequelize v6 offers for PostgreSQL only), and `sql.ts` passes the query option `tableNames: []`
 * (SQLite: no column-type PRAGMA per written-out statement). `tests/db-drivers.test.ts` holds
 * their behaviour; this pin makes an upgrade of Sequelize a decision to re-check them.
 */
describe('Sequelize release line', () => {
  it('is the one the documented exceptions in db/ were checked against (6.37)', () => {
    const require = createRequire(new URL('../../db/package.json', import.meta.url));
    const { version } = require('sequelize/package.json') as { version: string };
    expect(version, 're-check poolStats, enableSkipLocked and tableNames in db/, then move this pin').toMatch(
      /^6\.37\./,
    );
  });
});
