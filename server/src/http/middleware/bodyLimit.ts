import type { IncomingMessage } from 'node:http';
import type { MiddlewareHandler } from 'hono';
import { bodyLimit as honoBodyLimit } from 'hono/body-limit';
import type { AppEnv } from '../../context';
import { type Ctx, isCsvImport } from '../request';

/** The largest request body accepted, in bytes. */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * How much of an over-limit body is read and thrown away before the 413 is sent, so the client
 * (still sending) receives the answer instead of a broken pipe; past this the connection closes.
 */
const DISCARD_LIMIT_BYTES = 64 * 1024 * 1024;
const DISCARD_WAIT_MS = 10_000;

/** Options of `bodyLimit`. */
export interface BodyLimitOptions {
  /** The limit of a CSV import (`isCsvImport`), IMPORT_MAX_BYTES. */
  importMaxBytes: number;
}

/**
 * No request body past `MAX_BODY_BYTES` reaches a handler: a larger `Content-Length` is refused
 * at once, a body without one (chunked) as soon as it passes the limit, both with
 * `413 {"error":"Request body too large (limit N bytes)"}` and `Connection: close`, after draining
 * what the client still sends (up to 64 MiB, 10 s) so that it reads the answer. A CSV import is
 * held to `importMaxBytes` by `Content-Length` only: its handler counts the streamed bytes and
 * answers 413 itself, and the rest of its body is drained here.
 */
export function bodyLimit({ importMaxBytes }: BodyLimitOptions): MiddlewareHandler<AppEnv> {
  const streamed = honoBodyLimit({ maxSize: MAX_BODY_BYTES, onError: (c) => tooLarge(c) });
  return async (c, next) => {
    const csvImport = isCsvImport(c);
    const limit = csvImport ? importMaxBytes : MAX_BODY_BYTES;
    const length = Number(c.req.header('content-length'));
    if (length > limit) return tooLarge(c, limit);
    if (!csvImport) return streamed(c, next);
    // The import handler counts the bytes as it stores them and answers 413 past the limit; the
    // rest of the body is drained here, so that the client (still sending) reads the answer.
    await next();
    if (c.res.status === 413) {
      await discardBody(c.env?.incoming, DISCARD_LIMIT_BYTES);
      c.header('Connection', 'close');
    }
  };
}

/** The 413 answer, once the rest of the body is drained. */
async function tooLarge(c: Ctx, limit = MAX_BODY_BYTES): Promise<Response> {
  await discardBody(c.env?.incoming, DISCARD_LIMIT_BYTES);
  c.header('Connection', 'close');
  return c.json({ error: `Request body too large (limit ${limit} bytes)` }, 413);
}

/** Reads and drops up to `limit` bytes of a request body (or until it ends, or a deadline passes). */
function discardBody(incoming: IncomingMessage | undefined, limit: number): Promise<void> {
  if (!incoming || incoming.readableEnded || incoming.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let seen = 0;
    const done = () => {
      clearTimeout(timer);
      incoming.off('data', onData);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > limit) done();
    };
    const timer = setTimeout(done, DISCARD_WAIT_MS);
    incoming.on('data', onData);
    incoming.once('end', done);
    incoming.once('error', done);
    incoming.once('close', done);
    incoming.resume();
  });
}
