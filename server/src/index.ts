import type { BootstrapResult } from './auth/index';
import { type DotEnv, loadDotEnv } from './dotenv';
import { serverCommandLine } from './cli';
import { type Config, ConfigError, loadConfig } from './env';
import { createLogger } from './logger';
import { type Announcement, describeDatabase, describeStartupFailure, startServer } from './server';

/** The configuration once loaded, so that a start-up failure can be told without its secrets. */
let config: Config | undefined;

/** `npm start`: validate the configuration, start the server, print how to reach it. */
async function main(): Promise<void> {
  const answered = serverCommandLine(process.argv.slice(2));
  if (answered !== null) {
    process.exitCode = answered;
    return;
  }
  let dotEnv: DotEnv;
  try {
    dotEnv = loadDotEnv();
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const settings = config;
  for (const warning of settings.warnings) process.stderr.write(`Warning: ${warning}\n`);
  const logger = createLogger(settings.logLevel, { pretty: !settings.production });
  const starting = startServer(settings, logger, {
    announce: (announcement) => write(banner(settings, dotEnv, announcement)),
  });

  // Listening before the server is up: a signal during start-up lets it finish (the admin
  // bootstrap commits what the banner showed), then stops it.
  const shutdown = (signal: string) => {
    logger.info({ signal }, 'shutting down');
    starting.then(
      (server) =>
        server.close().then(
          () => process.exit(0),
          (error) => {
            logger.error({ err: error }, 'shutdown failed');
            process.exit(1);
          },
        ),
      () => undefined,
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  await starting;
}

/**
 * The start-up banner: where the server listens, on which database, in which mode and from which
 * `.env`, what the admin bootstrap did, how to sign in.
 */
function banner(settings: Config, dotEnv: DotEnv, { url, bootstrap }: Announcement): string {
  const lines = [
    '',
    `HDMS is listening on ${url}`,
    `  database:   ${describeDatabase(settings.databaseUrl)} (DATABASE_URL)`,
    `  mode:       ${settings.mode} (NODE_ENV)`,
    dotEnv.file
      ? `  .env:       ${dotEnv.file} (${dotEnv.applied.length} of its variables used; the environment wins)`
      : dotEnv.skipped
        ? '  .env:       not read (NODE_ENV=test in the environment)'
        : '  .env:       none in this directory (see .env.example)',
    `  tRPC API:   ${url}/trpc`,
    settings.panelEnabled ? `  tRPC panel: ${url}/panel` : '  tRPC panel: off (PANEL=on to enable)',
    settings.apiDocsEnabled ? `  REST docs:  ${url}/docs` : '  REST docs:  off (API_DOCS=on to enable)',
    `  health:     ${url}/healthz`,
    ...bootstrapLines(bootstrap),
    '',
    `Sign in: curl -s -X POST ${url}/login -H 'content-type: application/json' \\`,
    `           -d '{"username":"<name>","password":"<password>"}'`,
    '  and send the token back as "Authorization: Bearer <token>".',
    '',
  ];
  return `${lines.join('\n')}\n`;
}

/** The banner's account of the admin bootstrap; a generated password appears here and only here. */
function bootstrapLines(bootstrap: BootstrapResult): string[] {
  switch (bootstrap.kind) {
    case 'generated':
      return [
        '',
        'An admin account was created. Its password is shown this once; store it now:',
        `  username: ${bootstrap.username}`,
        `  password: ${bootstrap.password}`,
        'Change it after signing in: auth.changePassword in the panel or through the SDK.',
        `Lost it? npm run admin:reset-password -- ${bootstrap.username} sets a new one.`,
      ];
    case 'configured':
      return ['', `Admin account "${bootstrap.username}" was created from the ADMIN_* settings.`];
    case 'kept':
      return [
        '',
        bootstrap.role === 'admin'
          ? `ADMIN_PASSWORD is set but admin "${bootstrap.username}" already exists: its existing password ` +
            `was kept (ADMIN_PASSWORD only creates an account). To set a new one: ` +
            `npm run admin:reset-password -- ${bootstrap.username}`
          : `ADMIN_PASSWORD is set but "${bootstrap.username}" is an existing ${bootstrap.role} account: ` +
            'nothing was changed and no admin was created. Set ADMIN_USERNAME to a new name to create one.',
      ];
    case 'none':
      return [];
  }
}

/** Writes to stdout and resolves once the text is handed to the operating system. */
function write(text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(text, (error) => (error ? reject(error) : resolve()));
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`HDMS failed to start: ${describeStartupFailure(error, config)}\n`);
  process.exit(1);
});
