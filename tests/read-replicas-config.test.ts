import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { latestOf, parsePosition, covers } from '@hdms/db';
import { ConfigError, loadConfig, redactSecrets } from '../server/src/env';
import { sentPosition } from '../server/src/replicas';
import { subscribe } from './helpers/events';
import { adminToken, startTestServer, type TestServer, trpcClient } from './helpers/server';

/**
 * `DATABASE_READ_URLS` and `DATABASE_READ_MAX_LAG_MS`: parsing and validation (a bad value stops
 * the start with one message naming the variable, passwords never shown), and a server without
 * replicas (SQLite, or MySQL without the variable) that behaves as before: events carry no
 * position and no commit position is stored. The replicas themselves: tests/cluster/replicas.test.ts.
 */

const PRIMARY = 'mysql://root@primary:3306/hdms';

/** The ConfigError message `env` produces, or fails the test. */
function refusal(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('the configuration was accepted');
}

describe('DATABASE_READ_URLS and DATABASE_READ_MAX_LAG_MS', () => {
  it('defaults: no replica, a 2 s maximum lag', () => {
    expect(loadConfig({ DATABASE_URL: PRIMARY }).readReplicas).toEqual({ urls: [], maxLagMs: 2000 });
    expect(
      loadConfig({
        DATABASE_URL: PRIMARY,
        DATABASE_READ_URLS: 'mysql://r@a/hdms',
        DATABASE_READ_MAX_LAG_MS: '500',
      }).readReplicas,
    ).toEqual({ urls: ['mysql://r@a/hdms'], maxLagMs: 500 });
  });

  it('a bad replica URL stops the start, naming the variable, its password redacted', () => {
    const message = refusal({
      DATABASE_URL: PRIMARY,
      DATABASE_READ_URLS: 'mysql://reader@ok:3306/hdms,mysql://reader:Sup3r-s3cret@replica:3306',
    });
    expect(message).toMatch(/^Invalid configuration: DATABASE_READ_URLS /);
    expect(message).toContain('must name a database');
    expect(message).toContain('mysql://reader:***@replica:3306');
    expect(message).not.toContain('Sup3r-s3cret');
    expect(refusal({ DATABASE_URL: PRIMARY, DATABASE_READ_URLS: 'sqlite:replica.sqlite' })).toMatch(
      /DATABASE_READ_URLS entry "sqlite:replica.sqlite" must be a mysql:\/\/ URL/,
    );
    expect(refusal({ DATABASE_URL: PRIMARY, DATABASE_READ_URLS: 'postgres://x@y/z' })).toMatch(
      /^Invalid configuration: DATABASE_READ_URLS .*must start with sqlite: or mysql:\/\//,
    );
  });

  it('replicas of a SQLite database are refused', () => {
    expect(
      loadConfig({ DATABASE_URL: 'mariadb://root@primary/hdms', DATABASE_READ_URLS: 'mariadb://r@a/hdms' })
        .readReplicas.urls,
    ).toEqual(['mariadb://r@a/hdms']);
    expect(refusal({ DATABASE_URL: 'sqlite::memory:', DATABASE_READ_URLS: 'mysql://r@a/hdms' })).toMatch(
      /DATABASE_READ_URLS needs a MySQL or MariaDB DATABASE_URL/,
    );
  });

  it('a bad maximum lag stops the start, naming the variable', () => {
    expect(refusal({ DATABASE_READ_MAX_LAG_MS: 'soon' })).toMatch(
      /^Invalid configuration: DATABASE_READ_MAX_LAG_MS must be a whole number/,
    );
    expect(refusal({ DATABASE_READ_MAX_LAG_MS: '10' })).toMatch(
      /DATABASE_READ_MAX_LAG_MS must be at least 100/,
    );
  });

  it("replicas' passwords are redacted from messages like DATABASE_URL's", () => {
    const config = loadConfig({
      DATABASE_URL: 'mysql://root:primary-pw@primary/hdms',
      DATABASE_READ_URLS: 'mysql://reader:replica%21pw@replica/hdms',
    });
    const text = redactSecrets(
      'connect failed for reader (replica!pw) and replica%21pw, root primary-pw',
      config,
    );
    expect(text).not.toMatch(/replica!pw|replica%21pw|primary-pw/);
  });

  it('X-HDMS-Read-After: a position is taken, anything else ignored', () => {
    expect(sentPosition('0-1-42')).toBe('0-1-42');
    expect(sentPosition('0-1-42,1-2-7')).toBe('0-1-42,1-2-7');
    expect(sentPosition(undefined)).toBeNull();
    expect(sentPosition("0-1-1'; DROP TABLE users")).toBeNull();
    expect(sentPosition('x'.repeat(2000))).toBeNull();
    expect(sentPosition('')).toBeNull();
  });

  it('positions: parsed, compared and merged per replication domain', () => {
    expect(covers(parsePosition('0-1-10,1-2-5'), parsePosition('0-1-9'))).toBe(true);
    expect(covers(parsePosition('0-1-10'), parsePosition('0-1-10,1-2-1'))).toBe(false);
    expect(covers(parsePosition(''), parsePosition(null))).toBe(true);
    expect(latestOf(['0-1-10', '0-1-12,1-2-3', null])).toBe('0-1-12,1-2-3');
    expect(latestOf([null, ''])).toBeNull();
    expect(
      covers(
        parsePosition('3e11fa47-71ca-11e1-9e33-c80aa9429562:1-57'),
        parsePosition('3E11FA47-71CA-11E1-9E33-C80AA9429562:1-50'),
      ),
    ).toBe(true);
  });
});

describe('without replicas nothing changes', () => {
  let t: TestServer;
  let admin: string;

  beforeAll(async () => {
    t = await startTestServer();
    admin = await adminToken(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('events carry no position and no commit position is stored', async () => {
    const sub = await subscribe(t.url, admin, { types: ['doctor.created'] });
    try {
      await trpcClient(t.url, admin).doctors.create.mutate({
        name: 'Dr. Plain',
        specialization: 'Dermatology',
      });
      const [event] = await sub.waitFor((events) => events.length > 0);
      expect(event?.position).toBeNull();
    } finally {
      sub.close();
    }
    const [rows] = (await t.db.sequelize.query('SELECT COUNT(*) AS n FROM commit_positions')) as [
      { n: number | string }[],
      unknown,
    ];
    expect(Number(rows[0]?.n)).toBe(0);
    expect(t.server.services.replicas).toBeNull();
  });
});
