import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { redactUrl } from '@hdms/db';
import { loadDotEnv } from '../../server/src/dotenv';
import {
  CONFIG_VARIABLES,
  ConfigError,
  loadConfig,
  redactSecrets,
  SECRET_VARIABLES,
} from '../../server/src/env';
import { editDistance, findLookalikes } from '../../server/src/lib/lookalikes';
import { describeDatabase } from '../../server/src/server';

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

describe('NODE_ENV', () => {
  it.each([
    ['development', 'development'],
    ['production', 'production'],
    ['test', 'test'],
    ['', 'development'],
  ])('takes %j as %s', (value, mode) => {
    expect(loadConfig({ NODE_ENV: value }).mode).toBe(mode);
    expect(loadConfig({ NODE_ENV: value }).production).toBe(mode === 'production');
  });

  it('is development when unset', () => {
    expect(loadConfig({}).mode).toBe('development');
  });

  it.each(['prod', 'Production', 'dev', 'staging'])(
    'refuses NODE_ENV=%s with one line naming the choices',
    (value) => {
      expect(() => loadConfig({ NODE_ENV: value })).toThrow(
        `Invalid configuration: NODE_ENV must be one of development, production, test (got "${value}")`,
      );
    },
  );
});

describe('variables that look like a misspelt setting', () => {
  it('are reported outside production, naming the intended variable, and ignored', () => {
    const config = loadConfig({
      DATABSE_URL: 'mysql://root:s3cret@db:3306/hdms',
      PROT: '4000',
      log_level: 'debug',
    });
    expect(config.warnings).toEqual([
      'DATABSE_URL is not an HDMS setting: did you mean DATABASE_URL? (DATABSE_URL is ignored)',
      'log_level is not an HDMS setting: did you mean LOG_LEVEL? (log_level is ignored)',
      'PROT is not an HDMS setting: did you mean PORT? (PROT is ignored)',
    ]);
    expect(config.databaseUrl).toBe('sqlite:data/hdms.sqlite');
    expect(config.port).toBe(3000);
    expect(loadConfig({ DATABASE_URL: 'sqlite::memory:' }).warnings).toEqual([]);
  });

  it('read DATABASE_READ_URLS as a list of replicas, with no warning', () => {
    const config = loadConfig({
      DATABASE_URL: 'mysql://root@primary:3306/hdms',
      DATABASE_READ_URLS: 'mysql://reader@replica1:3306/hdms, mysql://reader@replica2/hdms',
    });
    expect(config.readReplicas).toEqual({
      urls: ['mysql://reader@replica1:3306/hdms', 'mysql://reader@replica2/hdms'],
      maxLagMs: 2000,
    });
    expect(config.warnings).toEqual([]);
    expect(loadConfig({ DATABASE_READ_URLS: '' }).readReplicas).toEqual({ urls: [], maxLagMs: 2000 });
  });

  it('stop the start in production, without showing the value', () => {
    expect(() =>
      loadConfig({ NODE_ENV: 'production', METRICS: 'off', ADMIN_PASWORD: 'a-secret-value-1' }),
    ).toThrow(
      'Invalid configuration: ADMIN_PASWORD is not an HDMS setting: did you mean ADMIN_PASSWORD? (ADMIN_PASWORD is ignored). In production a misspelt setting stops the start; rename or unset it',
    );
    try {
      loadConfig({ NODE_ENV: 'production', METRICS: 'off', ADMIN_PASWORD: 'a-secret-value-1' });
    } catch (error) {
      expect((error as Error).message).not.toContain('a-secret-value-1');
    }
  });

  it('leave the variables of an ordinary machine, shell, npm run, CI runner and container alone', () => {
    const machine = Object.fromEntries(
      [
        'HOME',
        'HOSTNAME',
        'HOSTTYPE',
        'PATH',
        'PWD',
        'OLDPWD',
        'TERM',
        'SHELL',
        'USER',
        'LOGNAME',
        'LANG',
        'LANGUAGE',
        'LC_ALL',
        'LC_CTYPE',
        'TZ',
        'TMPDIR',
        'EDITOR',
        'PAGER',
        'DISPLAY',
        'SHLVL',
        'MAIL',
        'COLORTERM',
        'TERM_PROGRAM',
        'XDG_RUNTIME_DIR',
        'SSH_AUTH_SOCK',
        'SSH_TTY',
        'NODE',
        'NODE_OPTIONS',
        'NODE_PATH',
        'NODE_EXTRA_CA_CERTS',
        'INIT_CWD',
        'COLOR',
        'npm_config_cache',
        'npm_config_port',
        'npm_package_name',
        'npm_lifecycle_event',
        'npm_execpath',
        'npm_node_execpath',
        'CI',
        'GITHUB_ACTIONS',
        'RUNNER_OS',
        'KUBERNETES_SERVICE_HOST',
        'KUBERNETES_PORT',
        'HDMS_PORT',
        'HDMS_SERVICE_HOST',
        'DB_PORT',
        'MYSQL_HOST',
        'HTTP_PROXY',
        'https_proxy',
        'no_proxy',
        'TEST_MYSQL_URL',
        'HDMS_TEST_DB',
        'VITEST',
        'VITEST_POOL_ID',
        'DEBUG',
        'TEST',
        'POSTGRES_PORT',
        'REDIS_URL',
        'JAVA_HOME',
        'GOPATH',
        'HOSTALIASES',
        'MANPATH',
      ].map((name) => [name, 'x']),
    );
    expect(findLookalikes(machine, CONFIG_VARIABLES)).toEqual([]);
    expect(loadConfig({ ...machine, NODE_ENV: 'production', METRICS: 'off' }).warnings).toEqual([]);
  });

  it('cover every variable of the schema, including ones added later', () => {
    for (const name of CONFIG_VARIABLES) {
      const typo = `${name.slice(0, -1)}`; // the last letter dropped: one edit
      expect(
        findLookalikes({ [typo]: 'x' }, CONFIG_VARIABLES).map((l) => l.name),
        name,
      ).toEqual(CONFIG_VARIABLES.includes(typo) ? [] : [typo]);
    }
  });

  it('are within two edits (one for names of five letters or fewer), a swap of neighbours counting as one', () => {
    expect(editDistance('DATABSE_URL', 'DATABASE_URL')).toBe(1);
    expect(editDistance('DATABASEURL', 'DATABASE_URL')).toBe(1);
    expect(editDistance('DATBAASE_URL', 'DATABASE_URL')).toBe(1);
    expect(editDistance('HOME', 'HOST')).toBe(2);
    expect(findLookalikes({ DATABAS_UR: 'x' }, CONFIG_VARIABLES)).toEqual([
      { name: 'DATABAS_UR', intended: 'DATABASE_URL' },
    ]);
    expect(findLookalikes({ DATAB_U: 'x' }, CONFIG_VARIABLES)).toEqual([]);
    expect(findLookalikes({ HSOT: 'x', POTR: 'x' }, CONFIG_VARIABLES)).toEqual([
      { name: 'HSOT', intended: 'HOST' },
      { name: 'POTR', intended: 'PORT' },
    ]);
    expect(findLookalikes({ POST: 'x', HOSE: 'x' }, CONFIG_VARIABLES).map((l) => l.intended)).toEqual([
      'HOST',
      'PORT',
    ]);
  });
});

describe('.env', () => {
  const inDir = (text: string | null, run: (dir: string) => void) => {
    const dir = mkdtempSync(join(tmpdir(), 'hdms-dotenv-'));
    try {
      if (text !== null) writeFileSync(join(dir, '.env'), text);
      run(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it('fills the variables the environment lacks; the environment wins', () => {
    inDir('# a comment\nPORT=4000\nexport LOG_LEVEL=debug\nDATABASE_URL="sqlite:data/x.sqlite"\n', (dir) => {
      const env: Record<string, string | undefined> = { PORT: '5000' };
      const loaded = loadDotEnv(env, dir);
      expect(loaded.file).toBe(join(dir, '.env'));
      expect(loaded.skipped).toBe(false);
      expect(loaded.applied.sort()).toEqual(['DATABASE_URL', 'LOG_LEVEL']);
      expect(env).toEqual({ PORT: '5000', LOG_LEVEL: 'debug', DATABASE_URL: 'sqlite:data/x.sqlite' });
      expect(loadConfig(env)).toMatchObject({ port: 5000, logLevel: 'debug' });
    });
  });

  it('is optional', () => {
    inDir(null, (dir) => {
      const env = {};
      expect(loadDotEnv(env, dir)).toEqual({ file: null, applied: [], skipped: false });
      expect(env).toEqual({});
    });
  });

  it('is not read with NODE_ENV=test in the environment (the suites run in the repository root)', () => {
    inDir('PORT=4000\n', (dir) => {
      const env: Record<string, string | undefined> = { NODE_ENV: 'test' };
      expect(loadDotEnv(env, dir)).toEqual({ file: null, applied: [], skipped: true });
      expect(env).toEqual({ NODE_ENV: 'test' });
    });
  });

  it('is listed in full by .env.example: every variable, with a comment', () => {
    const example = readFileSync(resolve(import.meta.dirname, '../../.env.example'), 'utf8');
    const lines = example.split('\n');
    const missing = CONFIG_VARIABLES.filter((name) => !lines.some((l) => new RegExp(`^# ${name}=`).test(l)));
    expect(missing, 'variables .env.example does not list as "# NAME=default"').toEqual([]);
    for (const name of CONFIG_VARIABLES) {
      const at = lines.findIndex((l) => l.startsWith(`# ${name}=`));
      // A comment line above each entry, or above the group of entries it belongs to.
      const above = lines
        .slice(0, at)
        .reverse()
        .find((l) => !/^# [A-Z0-9_]+=/.test(l));
      expect(above, name).toMatch(/^# \S/);
    }
    // Nothing in it is set: copied to .env as it is, it changes no default.
    expect(lines.filter((l) => /^[A-Z]/.test(l))).toEqual([]);
  });
});

describe('describeDatabase (the banner)', () => {
  it('names the SQLite file as an absolute path', () => {
    expect(describeDatabase('sqlite:data/hdms.sqlite')).toBe(`SQLite file ${resolve('data/hdms.sqlite')}`);
    expect(describeDatabase('sqlite::memory:')).toMatch(/^SQLite in memory/);
  });

  it('names the MySQL host, port and database, never the user or the password', () => {
    const text = describeDatabase('mysql://hdms_user:s3cret@db.example.org:3307/hdms');
    expect(text).toBe('MySQL database hdms on db.example.org:3307');
    expect(describeDatabase('mysql://root@127.0.0.1/clinic')).toBe('MySQL database clinic on 127.0.0.1:3306');
  });
});
