import { describe, expect, it } from 'vitest';
import { redactUrl } from '@hdms/db';
import { ConfigError, loadConfig, redactSecrets, SECRET_VARIABLES } from '../../server/src/env';

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
    expect(config.emergency).toEqual({ maxMinutes: 240, maxOpen: 5 });
  });

  it('reads the emergency access limits', () => {
    const config = loadConfig({ EMERGENCY_MAX_MINUTES: '30', EMERGENCY_MAX_OPEN: '2' });
    expect(config.emergency).toEqual({ maxMinutes: 30, maxOpen: 2 });
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

  it('reads MFA_REQUIRED_ROLES as a list of roles (none by default), and names the roles it takes', () => {
    expect(loadConfig({}).mfaRequiredRoles).toEqual([]);
    expect(loadConfig({ MFA_REQUIRED_ROLES: ' admin, Doctor ,admin' }).mfaRequiredRoles).toEqual([
      'admin',
      'doctor',
    ]);
    expect(() => loadConfig({ MFA_REQUIRED_ROLES: 'admin,nurse' })).toThrow(
      'Invalid configuration: MFA_REQUIRED_ROLES must list roles among admin, doctor, patient, separated by commas (got "admin,nurse")',
    );
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
    ['EMERGENCY_MAX_MINUTES', '0'],
    ['EMERGENCY_MAX_MINUTES', '1441'],
    ['EMERGENCY_MAX_MINUTES', '1.5'],
    ['EMERGENCY_MAX_OPEN', '0'],
    ['MFA_REQUIRED_ROLES', 'admin,nurse'],
  ])('rejects %s=%s with one message naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^Invalid configuration: ${name} `));
  });

  /** The message `loadConfig` throws for `source`. */
  const messageFor = (source: Record<string, string>): string => {
    try {
      loadConfig(source);
    } catch (error) {
      if (error instanceof ConfigError) return error.message;
      throw error;
    }
    throw new Error('the configuration was accepted');
  };

  it('treats ADMIN_PASSWORD as a secret', () => {
    expect(SECRET_VARIABLES.has('ADMIN_PASSWORD')).toBe(true);
  });

  it.each([
    ['too short', 'Sh0rt!'],
    ['too long', `Lng-${'s3cret'.repeat(60)}`],
  ])('names ADMIN_PASSWORD but never shows its value when it is %s', (_, value) => {
    const message = messageFor({ ADMIN_PASSWORD: value });
    expect(message).toMatch(/^Invalid configuration: ADMIN_PASSWORD /);
    expect(message).not.toContain(value);
    expect(message).not.toContain('s3cret');
    expect(message).not.toContain('Sh0rt');
  });

  it.each([
    ['a URL without a database', 'mysql://root:s3cret@127.0.0.1:3306/', 'mysql://root:***@127.0.0.1:3306/'],
    ['an unparsable URL', 'mysql://root:s3c/ret@db.example.org/', 'mysql://root:***@db.example.org/'],
    ['a password with an @', 'mysql://root:s3c@ret@127.0.0.1:3306/', 'mysql://root:***@127.0.0.1:3306/'],
  ])('shows a rejected DATABASE_URL (%s) with its password as ***', (_, value, shown) => {
    const message = messageFor({ DATABASE_URL: value });
    expect(message).toMatch(/^Invalid configuration: DATABASE_URL /);
    expect(message).toContain(`(got "${shown}")`);
    expect(message).not.toMatch(/s3c/);
  });

  it('still shows the rejected value of a variable that is not secret', () => {
    expect(messageFor({ PORT: 'abc' })).toContain('(got "abc")');
  });
});

describe('redactUrl', () => {
  it.each([
    ['mysql://root:s3cret@127.0.0.1:3306/hdms', 'mysql://root:***@127.0.0.1:3306/hdms'],
    ['mysql://root:s%40cret%2F@db:3306/hdms', 'mysql://root:***@db:3306/hdms'],
    ['mariadb://app:pw@db/hdms?ssl=true', 'mariadb://app:***@db/hdms?ssl=true'],
    ['mysql://root@db/hdms?password=s3cret&ssl=1', 'mysql://root@db/hdms?password=***&ssl=1'],
  ])('replaces the password of %s by ***', (url, redacted) => {
    expect(redactUrl(url)).toBe(redacted);
  });

  it.each(['mysql://root@127.0.0.1:3306/hdms', 'sqlite:data/hdms.sqlite', 'sqlite::memory:', 'not a url'])(
    'leaves %s, which carries no password, unchanged',
    (url) => {
      expect(redactUrl(url)).toBe(url);
    },
  );
});

describe('redactSecrets', () => {
  it('removes the configured passwords and any URL password from a message', () => {
    const config = loadConfig({
      DATABASE_URL: 'mysql://root:s3%2Fcret@127.0.0.1:3306/hdms',
      ADMIN_PASSWORD: 'admin-secret-1',
    });
    const text = redactSecrets(
      'failed for s3/cret and s3%2Fcret, admin-secret-1, at mysql://other:pw1@db/x',
      config,
    );
    expect(text).toBe('failed for *** and ***, ***, at mysql://other:***@db/x');
  });
});
