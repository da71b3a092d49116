import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * The process logger: JSON lines on stdout. Request loggers are children carrying the request id
 * and user id. Fields that could hold secrets are redacted as a second line of defence; code
 * must still never log passwords, tokens or clinical fields.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: undefined,
      redact: {
        paths: ['password', '*.password', 'token', '*.token', 'authorization', '*.authorization', 'cookie'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
