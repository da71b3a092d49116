import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../server/src/env';

describe('configuration', () => {
  it('applies the contract defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 3000,
      host: '127.0.0.1',
      databaseUrl: 'sqlite:data/hdms.sqlite',
      logLevel: 'info',
      sessionIdleMinutes: 30,
      sessionMaxHours: 12,
      panelEnabled: true,
      production: false,
    });
    expect(config.workerThreads).toBeGreaterThanOrEqual(1);
  });

  it('reads every variable', () => {
    const config = loadConfig({
      PORT: '0',
      HOST: '0.0.0.0',
      DATABASE_URL: 'mysql://root@127.0.0.1:3306/hdms',
      ADMIN_USERNAME: 'chief',
      ADMIN_EMAIL: 'chief@example.org',
      ADMIN_PASSWORD: 'a-long-password',
      WORKER_THREADS: '3',
      LOG_LEVEL: 'debug',
      SESSION_IDLE_MINUTES: '5',
      SESSION_MAX_HOURS: '2',
    });
    expect(config).toMatchObject({
      port: 0,
      host: '0.0.0.0',
      workerThreads: 3,
      logLevel: 'debug',
      sessionIdleMinutes: 5,
      sessionMaxHours: 2,
      admin: { username: 'chief', email: 'chief@example.org', password: 'a-long-password' },
    });
  });

  it('turns the panel off in production unless PANEL=on', () => {
    expect(loadConfig({ NODE_ENV: 'production' }).panelEnabled).toBe(false);
    expect(loadConfig({ NODE_ENV: 'production', PANEL: 'on' }).panelEnabled).toBe(true);
    expect(loadConfig({ PANEL: 'off' }).panelEnabled).toBe(false);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['DATABASE_URL', 'postgres://x/y'],
    ['DATABASE_URL', 'mysql://root@127.0.0.1:3306/'],
    ['DATABASE_URL', 'sqlite:'],
    ['WORKER_THREADS', '0'],
    ['LOG_LEVEL', 'loud'],
    ['ADMIN_PASSWORD', 'short'],
    ['ADMIN_EMAIL', 'not-an-email'],
    ['ADMIN_USERNAME', 'a b'],
    ['SESSION_IDLE_MINUTES', '0'],
    ['PANEL', 'maybe'],
  ])('rejects %s=%s with one message naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^Invalid configuration: ${name} `));
  });
});
