import { availableParallelism } from 'node:os';
import { parseDatabaseUrl, ROLES, type Role, redactUrl, urlPassword } from '@hdms/db';
import { z } from 'zod';
import { findLookalikes } from './lib/lookalikes';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** The modes NODE_ENV may name; anything else stops the start (`prod` is not `production`). */
const MODES = ['development', 'production', 'test'] as const;

const intFrom = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

/** A comma-separated list, each entry checked by `item`; empty or unset is an empty list. */
const listOf = <T extends string>(item: z.ZodType<T, z.ZodTypeDef, string>) =>
  z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((entry) => entry.trim())
        .filter((entry) => entry !== ''),
    )
    .pipe(z.array(item));

const optionalText = z
  .string()
  .transform((v) => (v === '' ? undefined : v))
  .optional();

/** A number of hours, fractions allowed (`24`, `0.5`), up to a year. */
const hours = z
  .string()
  .trim()
  .regex(/^\d+(\.\d+)?$/, 'must be a number of hours, e.g. 24 or 0.5')
  .transform(Number)
  .pipe(z.number().positive('must be more than 0').max(8760, 'must be at most 8760 (a year)'));

const schema = z.object({
  PORT: intFrom(0, 65535).default('3000'),
  HOST: z.string().trim().min(1, 'must not be empty').default('127.0.0.1'),
  DATABASE_URL: z
    .string()
    .trim()
    .default('sqlite:data/hdms.sqlite')
    .superRefine((value, ctx) => {
      try {
        parseDatabaseUrl(value);
      } catch (error) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: (error as Error).message });
      }
    }),
  DATABASE_READ_URLS: listOf(
    z.string().superRefine((value, ctx) => {
      let target: ReturnType<typeof parseDatabaseUrl> | undefined;
      try {
        target = parseDatabaseUrl(value);
      } catch (error) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          message: `entry "${redactUrl(value)}": ${(error as Error).message}`,
        });
        return;
      }
      if (target.dialect !== 'mysql') {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          message: `entry "${redactUrl(value)}" must be a mysql:// URL (a MySQL or MariaDB replica)`,
        });
      }
    }),
  ),
  DATABASE_READ_MAX_LAG_MS: intFrom(100, 3_600_000).default('2000'),
  ADMIN_USERNAME: optionalText.pipe(
    z
      .string()
      .regex(/^[A-Za-z0-9_.-]{3,80}$/, 'must be 3-80 letters, digits, _ . or -')
      .optional(),
  ),
  ADMIN_EMAIL: optionalText.pipe(z.string().email('must be an email address').optional()),
  ADMIN_PASSWORD: optionalText.pipe(
    z.string().min(8, 'must be at least 8 characters').max(256, 'must be at most 256 characters').optional(),
  ),
  WORKER_THREADS: intFrom(1, 256).optional(),
  LOG_LEVEL: z.enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  SESSION_IDLE_MINUTES: intFrom(1, 60 * 24 * 30).default('30'),
  SESSION_MAX_HOURS: intFrom(1, 24 * 365).default('12'),
  NODE_ENV: z
    .string()
    .trim()
    .transform((v) => (v === '' ? 'development' : v))
    .pipe(z.enum(MODES, { message: `must be one of ${MODES.join(', ')}` }))
    .default('development'),
  PANEL: z.enum(['on', 'off'], { message: 'must be on or off' }).optional(),
  API_DOCS: z.enum(['on', 'off'], { message: 'must be on or off' }).optional(),
  METRICS: z.enum(['on', 'off'], { message: 'must be on or off' }).optional(),
  METRICS_TOKEN: z
    .string()
    .min(16, 'must be at least 16 characters (a random secret)')
    .max(256, 'must be at most 256 characters')
    .regex(/^[\x21-\x7e]+$/, 'must be printable characters without spaces')
    .optional(),
  LOGIN_PAIR_FREE_FAILURES: intFrom(1, 1000).default('5'),
  LOGIN_PAIR_DELAY_SECONDS: intFrom(1, 86_400).default('10'),
  LOGIN_PAIR_MAX_DELAY_SECONDS: intFrom(1, 86_400).default('900'),
  LOGIN_ACCOUNT_MAX_FAILURES: intFrom(1, 1_000_000).default('100'),
  LOGIN_ACCOUNT_WINDOW_HOURS: intFrom(1, 24 * 30).default('24'),
  LOGIN_ADDRESS_MAX_FAILURES: intFrom(1, 1_000_000).default('300'),
  LOGIN_ADDRESS_WINDOW_MINUTES: intFrom(1, 60 * 24 * 7).default('60'),
  REGISTER_PER_HOUR: intFrom(1, 1_000_000).default('20'),
  PASSWORD_HASH_CONCURRENCY: intFrom(1, 64).default('2'),
  PASSWORD_HASH_MAX_WAIT_MS: intFrom(0, 60_000).default('1500'),
  TRUSTED_PROXIES: listOf(z.string().ip({ message: 'must list IP addresses, separated by commas' })),
  ALLOWED_ORIGINS: listOf(
    z
      .string()
      .url('must list origins such as https://clinic.example.org, separated by commas')
      .refine((v) => new URL(v).origin === v, 'must list bare origins (scheme://host[:port]), no paths'),
  ),
  MAX_BATCH_CALLS: intFrom(1, 1000).default('50'),
  DATABASE_TIMEOUT_MS: intFrom(100, 600_000).default('10000'),
  SESSION_PURGE_MINUTES: intFrom(1, 7 * 24 * 60).default('60'),
  JOB_LEASE_SECONDS: intFrom(2, 3600).default('30'),
  JOBS_TEST_TYPES: z.enum(['0', '1'], { message: 'must be 0 or 1' }).default('0'),
  JOBS_BULK_THREADS: intFrom(1, 256).optional(),
  JOBS_TASKS_PER_THREAD: intFrom(1, 64).default('4'),
  BULK_JOBS_MAX_QUEUED_PER_ACCOUNT: intFrom(1, 10_000).default('10'),
  JOBS_MAX_INTERRUPTIONS: intFrom(1, 1000).default('5'),
  IMPORT_UPLOAD_RETENTION_HOURS: intFrom(1, 24 * 365).default('72'),
  IMPORT_MAX_BYTES: intFrom(1024, 1024 ** 3).default(String(50 * 1024 * 1024)),
  EXPORT_RETENTION_HOURS: hours.default('24'),
  EXPORTS_PER_HOUR: intFrom(1, 1_000_000).default('10'),
  EXPORT_STORAGE_MAX_MB: z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?$/, 'must be a number of megabytes (MiB), e.g. 1024 or 0.5')
    .transform(Number)
    .refine((mb) => mb > 0 && mb <= 1024 * 1024, 'must be more than 0 and at most 1048576')
    .default('1024'),
  EVENT_RETENTION_HOURS: hours.default('72'),
  EVENT_PRUNE_MINUTES: intFrom(1, 24 * 60).default('60'),
  EVENTS_MAX_PER_ACCOUNT: intFrom(1, 100_000).default('20'),
  EVENTS_MAX_SUBSCRIPTIONS: intFrom(1, 1_000_000).default('10000'),
  EVENTS_MAX_UNSENT_KB: intFrom(16, 1024 * 1024).default('1024'),
  EVENTS_MAX_UNSENT_SECONDS: intFrom(1, 3600).default('30'),
  EMERGENCY_MAX_MINUTES: intFrom(1, 24 * 60).default('240'),
  EMERGENCY_MAX_OPEN: intFrom(1, 1000).default('5'),
  PUBLIC_URL: optionalText.pipe(
    z
      .string()
      .url('must be an absolute http(s) URL, e.g. https://hdms.clinic.example.org')
      .refine(
        (v) => !URL.canParse(v) || /^https?:$/.test(new URL(v).protocol),
        'must be an http or https URL',
      )
      .refine((v) => !/[?#]/.test(v), 'must not have a query or fragment')
      .transform((v) => v.replace(/\/+$/, ''))
      .optional(),
  ),
  FHIR_IDENTIFIER_SYSTEM: z
    .string()
    .trim()
    .regex(/^[a-z][a-z0-9+.-]*:\S+$/i, 'must be an absolute URI, e.g. https://clinic.example.org/patient-id')
    .default('urn:hdms:patient-id'),
  MFA_REQUIRED_ROLES: listOf(
    z
      .string()
      .transform((v) => v.toLowerCase())
      .pipe(z.enum(ROLES, { message: `must list roles among ${ROLES.join(', ')}, separated by commas` })),
  ),
});

/** Every variable the configuration reads: the schema's keys (`.env.example` lists each). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(schema.shape);

/** The server's configuration, read once from the environment and validated. */
export interface Config {
  port: number;
  host: string;
  databaseUrl: string;
  /**
   * Read replicas (DATABASE_READ_URLS, none by default) and the lag past which one is skipped
   * (DATABASE_READ_MAX_LAG_MS, default 2,000): README "Read replicas".
   */
  readReplicas: { urls: string[]; maxLagMs: number };
  admin: { username?: string; email?: string; password?: string };
  workerThreads: number;
  logLevel: (typeof LOG_LEVELS)[number];
  sessionIdleMinutes: number;
  sessionMaxHours: number;
  /** NODE_ENV: development (the default), production or test. */
  mode: (typeof MODES)[number];
  production: boolean;
  /**
   * What the start should tell the operator about the configuration without stopping: a variable
   * that looks like a misspelt one of ours (outside production, where it stops the start).
   */
  warnings: string[];
  panelEnabled: boolean;
  /** `GET /openapi.json` and `GET /docs` (API_DOCS). */
  apiDocsEnabled: boolean;
  /** `GET /metrics`: served at all (METRICS), and the bearer token it asks for (METRICS_TOKEN). */
  metrics: { enabled: boolean; token: string | null };
  /**
   * Roles whose accounts must sign in with MFA (MFA_REQUIRED_ROLES, none by default): until such an
   * account has enrolled, its sessions may only enroll, read `auth.me` and sign out.
   */
  mfaRequiredRoles: Role[];
  /**
   * The server's public base URL for absolute links (PUBLIC_URL, no trailing slash); null: the
   * address it listens on.
   */
  publicUrl: string | null;
  /** The `system` of the identifier FHIR Patients carry their HDMS id in (FHIR_IDENTIFIER_SYSTEM). */
  fhirIdentifierSystem: string;
  /** The sign-in and registration throttle (LOGIN_*, REGISTER_PER_HOUR); see `auth/throttle.ts`. */
  signInLimits: {
    /** Failures an (account, client address) pair may make before each further attempt waits. */
    pairFreeFailures: number;
    /** The first wait of a pair, in seconds; it doubles with every further failure. */
    pairDelaySeconds: number;
    /** The longest wait of a pair, in seconds. */
    pairMaxDelaySeconds: number;
    /** Failures of one account, from all addresses, per window: then 429 for everyone. */
    accountMaxFailures: number;
    accountWindowHours: number;
    /** Failures from one client address, over all accounts, per window. */
    addressMaxFailures: number;
    addressWindowMinutes: number;
    /** Registrations from one client address per hour. */
    registerPerHour: number;
  };
  /** At most this many argon2 hashes at once (PASSWORD_HASH_CONCURRENCY); more wait up to `maxWaitMs`. */
  passwordHashing: { concurrency: number; maxWaitMs: number };
  /** Proxies whose `X-Forwarded-For` names the client (TRUSTED_PROXIES); none by default. */
  trustedProxies: string[];
  /** Other origins whose pages may send cookie-authenticated requests (ALLOWED_ORIGINS). */
  allowedOrigins: string[];
  /** The most calls one tRPC batch request may hold (MAX_BATCH_CALLS). */
  maxBatchCalls: number;
  /** The deadline of one database statement, in ms (DATABASE_TIMEOUT_MS); pool waits and pings are bounded too. */
  databaseTimeoutMs: number;
  /** The background job queue (`jobs/`). */
  jobs: {
    /**
     * How long a claimed job stays reserved without its dispatcher renewing the lease
     * (JOB_LEASE_SECONDS, default 30): a job of a server that died is taken over after this long.
     */
    leaseMs: number;
    /** How often expired sessions are purged, in minutes (SESSION_PURGE_MINUTES, default 60). */
    sessionPurgeMinutes: number;
    /** Test only (JOBS_TEST_TYPES=1): registers the `test.*` job types of `jobs/types/testing.ts`. */
    testTypes: boolean;
    /**
     * The most worker threads bulk jobs (imports) may hold at once (JOBS_BULK_THREADS, default
     * WORKER_THREADS - 1, at least 1; never more than WORKER_THREADS).
     */
    bulkThreads: number;
    /**
     * Jobs one worker thread runs at once (JOBS_TASKS_PER_THREAD, default 4): they mostly wait on
     * MySQL. Always 1 on SQLite, whose one connection per thread serialises them anyway.
     */
    tasksPerThread: number;
    /** Unfinished bulk jobs one account may have (BULK_JOBS_MAX_QUEUED_PER_ACCOUNT, default 10). */
    bulkMaxQueuedPerAccount: number;
    /** Runs of one job cut by a crash before it is failed (JOBS_MAX_INTERRUPTIONS, default 5). */
    maxInterruptions: number;
    /** How long a failed import keeps its upload for a retry, in hours (IMPORT_UPLOAD_RETENTION_HOURS, default 72). */
    uploadRetentionHours: number;
  };
  /** The largest CSV upload `POST /patients/import` accepts, in bytes (IMPORT_MAX_BYTES, default 50 MiB). */
  importMaxBytes: number;
  /** How long a finished export stays downloadable, in hours (EXPORT_RETENTION_HOURS, default 24). */
  exportRetentionHours: number;
  /** New exports each account may start in any hour (EXPORTS_PER_HOUR, default 10). */
  exportsPerHour: number;
  /** The bytes all stored exports may take together (EXPORT_STORAGE_MAX_MB, default 1024 MiB); one account may take an eighth. */
  exportStorageMaxBytes: number;
  events: {
    /** How long change events are kept for resuming subscriptions (EVENT_RETENTION_HOURS, default 72). */
    retentionHours: number;
    /** How often the `events.prune` job deletes older ones (EVENT_PRUNE_MINUTES, default 60). */
    pruneMinutes: number;
    /** Open `events.onChange` subscriptions one account may hold on a server (EVENTS_MAX_PER_ACCOUNT, default 20). */
    maxPerAccount: number;
    /** Open subscriptions a server holds in all (EVENTS_MAX_SUBSCRIPTIONS, default 10000). */
    maxSubscriptions: number;
    /**
     * A subscriber is disconnected (SERVICE_UNAVAILABLE: it reconnects and resumes) when the data
     * sent to it but not yet taken by its connection passes this many bytes (EVENTS_MAX_UNSENT_KB,
     * default 1024 KiB) ...
     */
    maxUnsentBytes: number;
    /** ... or has waited this long (EVENTS_MAX_UNSENT_SECONDS, default 30 s, in ms here). */
    maxUnsentMs: number;
  };
  /** Emergency (break-the-glass) access: `access.emergency`. */
  emergency: {
    /** The longest an emergency access may last, in minutes (EMERGENCY_MAX_MINUTES, default 240, at most 1440). */
    maxMinutes: number;
    /** Emergency accesses one doctor may hold open at once (EMERGENCY_MAX_OPEN, default 5). */
    maxOpen: number;
  };
}

/** A configuration value that stops the server at start; the message names the variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Variables whose values are secrets: no message ever shows them, not even in part. */
export const SECRET_VARIABLES: ReadonlySet<string> = new Set(['ADMIN_PASSWORD', 'METRICS_TOKEN']);

/** Variables whose values are URLs that may carry a password: shown with the password as `***`. */
const URL_VARIABLES: ReadonlySet<string> = new Set(['DATABASE_URL', 'DATABASE_READ_URLS']);

/** A URL variable's value with each URL's password as `***` (a list is redacted entry by entry). */
function redactUrls(value: string): string {
  return value
    .split(',')
    .map((entry) => redactUrl(entry))
    .join(',');
}

/**
 * `text` with every configured secret replaced by `***`: the values of the secret variables, the
 * password of DATABASE_URL (as written and URL-decoded), and any URL's password. For messages
 * built from errors that might quote a secret.
 */
export function redactSecrets(text: string, config: Config): string {
  const secrets = new Set<string>();
  if (config.admin.password) secrets.add(config.admin.password);
  if (config.metrics.token) secrets.add(config.metrics.token);
  for (const url of [config.databaseUrl, ...config.readReplicas.urls]) {
    const dbPassword = urlPassword(url);
    if (!dbPassword) continue;
    secrets.add(dbPassword);
    try {
      secrets.add(decodeURIComponent(dbPassword));
    } catch {
      // not percent-encoded: the raw value is already listed
    }
  }
  let redacted = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    redacted = redacted.split(secret).join('***');
  }
  return redacted.replace(/[a-z][a-z0-9+.-]*:\/\/\S+/gi, (url) => redactUrl(url));
}

/** How a rejected value appears in a message: never for a secret, redacted for a URL. */
function shownValue(variable: string, value: string): string {
  if (SECRET_VARIABLES.has(variable)) return '(value not shown: it is a secret)';
  return `(got "${URL_VARIABLES.has(variable) ? redactUrls(value) : value}")`;
}

/**
 * Validates `source` (the process environment by default) into a `Config`. The one place that
 * reads `process.env`. Throws `ConfigError` naming the first bad variable.
 */
export function loadConfig(source: Record<string, string | undefined> = process.env): Config {
  const picked = Object.fromEntries(
    CONFIG_VARIABLES.map((key) => [key, source[key]] as const).filter(([, v]) => v !== undefined),
  );
  const parsed = schema.safeParse(picked);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0] ?? 'environment');
    throw new ConfigError(
      `Invalid configuration: ${variable} ${issue.message} ${shownValue(variable, source[variable] ?? '')}`,
    );
  }
  const env = parsed.data;
  const production = env.NODE_ENV === 'production';
  const lookalikes = findLookalikes(source, CONFIG_VARIABLES).map(
    ({ name, intended }) => `${name} is not an HDMS setting: did you mean ${intended}? (${name} is ignored)`,
  );
  if (production && lookalikes.length > 0) {
    throw new ConfigError(
      `Invalid configuration: ${lookalikes.join('; ')}. In production a misspelt setting stops the start; rename or unset it`,
    );
  }
  if (env.DATABASE_READ_URLS.length > 0 && parseDatabaseUrl(env.DATABASE_URL).dialect !== 'mysql') {
    throw new ConfigError(
      'Invalid configuration: DATABASE_READ_URLS needs a MySQL or MariaDB DATABASE_URL (the primary they replicate); SQLite has no replicas',
    );
  }
  const metricsEnabled = env.METRICS ? env.METRICS === 'on' : !production;
  if (production && metricsEnabled && !env.METRICS_TOKEN) {
    throw new ConfigError(
      'Invalid configuration: METRICS=on in production needs METRICS_TOKEN (a random secret that scrapers send as a bearer token)',
    );
  }
  const workerThreads = env.WORKER_THREADS ?? Math.max(1, availableParallelism() - 1);
  return {
    port: env.PORT,
    host: env.HOST,
    databaseUrl: env.DATABASE_URL,
    readReplicas: { urls: env.DATABASE_READ_URLS, maxLagMs: env.DATABASE_READ_MAX_LAG_MS },
    admin: { username: env.ADMIN_USERNAME, email: env.ADMIN_EMAIL, password: env.ADMIN_PASSWORD },
    workerThreads,
    logLevel: env.LOG_LEVEL,
    sessionIdleMinutes: env.SESSION_IDLE_MINUTES,
    sessionMaxHours: env.SESSION_MAX_HOURS,
    mode: env.NODE_ENV,
    production,
    warnings: lookalikes,
    panelEnabled: env.PANEL ? env.PANEL === 'on' : !production,
    apiDocsEnabled: env.API_DOCS ? env.API_DOCS === 'on' : !production,
    metrics: { enabled: metricsEnabled, token: env.METRICS_TOKEN ?? null },
    mfaRequiredRoles: [...new Set(env.MFA_REQUIRED_ROLES)],
    publicUrl: env.PUBLIC_URL ?? null,
    fhirIdentifierSystem: env.FHIR_IDENTIFIER_SYSTEM,
    signInLimits: {
      pairFreeFailures: env.LOGIN_PAIR_FREE_FAILURES,
      pairDelaySeconds: env.LOGIN_PAIR_DELAY_SECONDS,
      pairMaxDelaySeconds: Math.max(env.LOGIN_PAIR_MAX_DELAY_SECONDS, env.LOGIN_PAIR_DELAY_SECONDS),
      accountMaxFailures: env.LOGIN_ACCOUNT_MAX_FAILURES,
      accountWindowHours: env.LOGIN_ACCOUNT_WINDOW_HOURS,
      addressMaxFailures: env.LOGIN_ADDRESS_MAX_FAILURES,
      addressWindowMinutes: env.LOGIN_ADDRESS_WINDOW_MINUTES,
      registerPerHour: env.REGISTER_PER_HOUR,
    },
    passwordHashing: { concurrency: env.PASSWORD_HASH_CONCURRENCY, maxWaitMs: env.PASSWORD_HASH_MAX_WAIT_MS },
    trustedProxies: env.TRUSTED_PROXIES,
    allowedOrigins: env.ALLOWED_ORIGINS,
    maxBatchCalls: env.MAX_BATCH_CALLS,
    databaseTimeoutMs: env.DATABASE_TIMEOUT_MS,
    jobs: {
      leaseMs: env.JOB_LEASE_SECONDS * 1000,
      sessionPurgeMinutes: env.SESSION_PURGE_MINUTES,
      testTypes: env.JOBS_TEST_TYPES === '1',
      bulkThreads: Math.min(workerThreads, env.JOBS_BULK_THREADS ?? Math.max(1, workerThreads - 1)),
      tasksPerThread: env.DATABASE_URL.startsWith('sqlite:') ? 1 : env.JOBS_TASKS_PER_THREAD,
      bulkMaxQueuedPerAccount: env.BULK_JOBS_MAX_QUEUED_PER_ACCOUNT,
      maxInterruptions: env.JOBS_MAX_INTERRUPTIONS,
      uploadRetentionHours: env.IMPORT_UPLOAD_RETENTION_HOURS,
    },
    importMaxBytes: env.IMPORT_MAX_BYTES,
    exportRetentionHours: env.EXPORT_RETENTION_HOURS,
    exportsPerHour: env.EXPORTS_PER_HOUR,
    exportStorageMaxBytes: Math.floor(env.EXPORT_STORAGE_MAX_MB * 1024 * 1024),
    events: {
      retentionHours: env.EVENT_RETENTION_HOURS,
      pruneMinutes: env.EVENT_PRUNE_MINUTES,
      maxPerAccount: env.EVENTS_MAX_PER_ACCOUNT,
      maxSubscriptions: env.EVENTS_MAX_SUBSCRIPTIONS,
      maxUnsentBytes: env.EVENTS_MAX_UNSENT_KB * 1024,
      maxUnsentMs: env.EVENTS_MAX_UNSENT_SECONDS * 1000,
    },
    emergency: { maxMinutes: env.EMERGENCY_MAX_MINUTES, maxOpen: env.EMERGENCY_MAX_OPEN },
  };
}
