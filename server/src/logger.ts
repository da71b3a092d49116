import { createRequire } from 'node:module';
import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

/** Where the log goes: a stream of JSON lines, or stdout, readable for people where asked. */
export type LogOutput = pino.DestinationStream | { pretty?: boolean };

/**
 * The process logger. Request loggers are children carrying the request id and user id. Fields
 * that could hold secrets are redacted as a second line of defence; code must still never log
 * passwords, tokens or clinical fields.
 *
 * Output: JSON lines on stdout, or `destination`. With `{ pretty: true }` (development, from
 * `npm start`) and stdout a terminal, readable coloured lines (pino-pretty, in this process: no
 * transport thread); where pino-pretty is not installed (a production install omits it) or
 * stdout is a pipe or a file, JSON lines as always, so log collectors keep their format.
 */
export function createLogger(level: string, output?: LogOutput): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: undefined,
    redact: {
      paths: ['password', '*.password', 'token', '*.token', 'authorization', '*.authorization', 'cookie'],
      censor: '[redacted]',
    },
  };
  if (output && 'write' in output) return pino(options, output);
  const pretty = output?.pretty && process.stdout.isTTY ? prettyStream() : undefined;
  return pretty ? pino(options, pretty) : pino(options);
}

/** pino-pretty writing to stdout, or undefined when it is not installed. */
function prettyStream(): pino.DestinationStream | undefined {
  let build: (options: Record<string, unknown>) => pino.DestinationStream;
  try {
    build = createRequire(import.meta.url)('pino-pretty');
  } catch {
    return undefined;
  }
  return build({ colorize: true, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
}
