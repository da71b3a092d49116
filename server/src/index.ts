import { ConfigError, loadConfig } from './env';
import { createLogger } from './logger';
import { startServer } from './server';

/** `npm start`: validate the configuration, start the server, print how to reach it. */
async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  const server = await startServer(config, logger);
  const lines = [
    '',
    `HDMS is listening on ${server.url}`,
    `  tRPC API:   ${server.url}/trpc`,
    config.panelEnabled ? `  tRPC panel: ${server.url}/panel` : '  tRPC panel: off (PANEL=on to enable)',
    `  health:     ${server.url}/healthz`,
  ];
  if (server.bootstrap.kind === 'generated') {
    lines.push(
      '',
      'An admin account was created. Its password is shown this once; store it now:',
      `  username: ${server.bootstrap.username}`,
      `  password: ${server.bootstrap.password}`,
      'Change it after signing in: auth.changePassword in the panel or through the SDK.',
    );
  }
  lines.push(
    '',
    `Sign in: curl -s -X POST ${server.url}/login -H 'content-type: application/json' \\`,
    `           -d '{"username":"<name>","password":"<password>"}'`,
    '  and send the token back as "Authorization: Bearer <token>".',
    '',
  );
  process.stdout.write(`${lines.join('\n')}\n`);

  const shutdown = (signal: string) => {
    logger.info({ signal }, 'shutting down');
    server.close().then(
      () => process.exit(0),
      (error) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`HDMS failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
