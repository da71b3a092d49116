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
/** How long a drain waits for the rest of a refused body. */
export const DISCARD_WAIT_MS = 10_000;

/** Options of `bodyLimit`. */
export interface BodyLimitOptions {
  /** The limit of a CSV import (`isCsvImport`), IMPORT_MAX_BYTES. */
  importMaxBytes: number;
}

/**
 * No request body past `MAX_BODY_BYTES` reaches a handler: a larger `Content-Length` is refused
 * at once, a body without one (chunked) as soon as it passes the limit, both with
 * `413 {"error":"Request body too large (limit N bytes)"}` and `Connection: close`. A client that
 * declared its length is sending all of it, so what it still sends is drained first (up to 64 MiB,
 * 10 s) for it to read the answer rather than a broken pipe; a chunked body may never end (a
 * client may keep its connection open), so its 413 is sent at once and the rest is read and
 * dropped in the background until the connection closes. On the Node server a chunked body is
 * counted straight off the socket's stream (never through a web stream, whose backpressure would
 * pause the socket and stall that drain). A CSV import is held to `importMaxBytes` by
 * `Content-Length` only: its handler counts the streamed bytes and answers 413 itself, and the rest
 * of its body is drained here by the same rule.
 */
export function bodyLimit({ importMaxBytes }: BodyLimitOptions): MiddlewareHandler<AppEnv> {
  const streamed = honoBodyLimit({ maxSize: MAX_BODY_BYTES, onError: (c) => tooLarge(c) });
  return async (c, next) => {
    const csvImport = isCsvImport(c);
    const limit = csvImport ? importMaxBytes : MAX_BODY_BYTES;
    const declared = c.req.header('content-length');
    const length = Number(declared);
    if (length > limit) return tooLarge(c, limit);
    // A GET or HEAD carries no body a handler reads (and the web Request refuses one). Hono's
    // streamed check would read `c.req.raw.body`, which builds the full web Request of every GET
    // (held by the adapter for as long as the connection is open: every event stream's).
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    if (!csvImport) {
      const incoming = c.env?.incoming as IncomingMessage | undefined;
      const chunked = declared === undefined || c.req.header('transfer-encoding') !== undefined;
      if (!incoming || !chunked) return streamed(c, next);
      const body = await readUpTo(incoming, MAX_BODY_BYTES);
      if (body === 'too large') return tooLargeAtOnce(c, incoming);
      c.req.raw = new Request(c.req.url, {
        method: c.req.method,
        headers: c.req.raw.headers,
        body: body.length ? new Uint8Array(body) : null,
        signal: c.req.raw.signal,
      });
      return next();
    }
    // The import handler counts the bytes as it stores them and answers 413 past the limit.
    await next();
    if (c.res.status === 413) {
      const incoming = c.env?.incoming as IncomingMessage | undefined;
      if (declared !== undefined) await discardBody(incoming, DISCARD_LIMIT_BYTES);
      else void discardBody(incoming, DISCARD_LIMIT_BYTES);
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

/** The 413 answer to a chunked body, sent now: what the client still sends is dropped meanwhile. */
function tooLargeAtOnce(c: Ctx, incoming: IncomingMessage): Response {
  void discardBody(incoming, DISCARD_LIMIT_BYTES);
  c.header('Connection', 'close');
  return c.json({ error: `Request body too large (limit ${MAX_BODY_BYTES} bytes)` }, 413);
}

/**
 * Reads a request body off Node's stream, up to `limit` bytes: the whole body, or `'too large'`
 * as soon as it passes the limit (the stream is left flowing, for `discardBody`). A client that
 * goes away mid-body ends it early: the handler then sees what arrived (and fails its parsing).
 */
function readUpTo(incoming: IncomingMessage, limit: number): Promise<Buffer | 'too large'> {
  if (incoming.readableEnded || incoming.destroyed) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (answer: Buffer | 'too large') => {
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onEnd);
      incoming.off('close', onEnd);
      resolve(answer);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) finish('too large');
      else chunks.push(chunk);
    };
    const onEnd = () => finish(Buffer.concat(chunks, size));
    incoming.on('data', onData);
    incoming.once('end', onEnd);
    incoming.once('error', onEnd);
    incoming.once('close', onEnd);
  });
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
