import { availableParallelism } from 'node:os';
import { parseDatabaseUrl } from '@hdms/db';
import { z } from 'zod';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const intFrom = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const optionalText = z
  .string()
  .transform((v) => (v === '' ? undefined : v))
  .optional();

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
  NODE_ENV: z.string().default('development'),
  PANEL: z.enum(['on', 'off'], { message: 'must be on or off' }).optional(),
});

/** The server's configuration, read once from the environment and validated. */
export interface Config {
  port: number;
  host: string;
  databaseUrl: string;
  admin: { username?: string; email?: string; password?: string };
  workerThreads: number;
  logLevel: (typeof LOG_LEVELS)[number];
  sessionIdleMinutes: number;
  sessionMaxHours: number;
  production: boolean;
  panelEnabled: boolean;
}

/** A configuration value that stops the server at start; the message names the variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Validates `source` (the process environment by default) into a `Config`. The one place that
 * reads `process.env`. Throws `ConfigError` naming the first bad variable.
 */
export function loadConfig(source: Record<string, string | undefined> = process.env): Config {
  const picked = Object.fromEntries(
    Object.keys(schema.shape)
      .map((key) => [key, source[key]] as const)
      .filter(([, v]) => v !== undefined),
  );
  const parsed = schema.safeParse(picked);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0] ?? 'environment');
    throw new ConfigError(
      `Invalid configuration: ${variable} ${issue.message} (got "${source[variable] ?? ''}")`,
    );
  }
  const env = parsed.data;
  const production = env.NODE_ENV === 'production';
  return {
    port: env.PORT,
    host: env.HOST,
    databaseUrl: env.DATABASE_URL,
    admin: { username: env.ADMIN_USERNAME, email: env.ADMIN_EMAIL, password: env.ADMIN_PASSWORD },
    workerThreads: env.WORKER_THREADS ?? Math.max(1, availableParallelism() - 1),
    logLevel: env.LOG_LEVEL,
    sessionIdleMinutes: env.SESSION_IDLE_MINUTES,
    sessionMaxHours: env.SESSION_MAX_HOURS,
    production,
    panelEnabled: env.PANEL ? env.PANEL === 'on' : !production,
  };
}
