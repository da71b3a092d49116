import { connect } from 'node:net';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppEnv } from '../../server/src/context';
import { bodyLimit, DISCARD_WAIT_MS, MAX_BODY_BYTES } from '../../server/src/http/middleware/bodyLimit';
import { waitFor } from '../helpers/wait';
import { type Listening, listen } from './listen';

/*
 * bodyLimit alone on a bare app: 413 by Content-Length and for a chunked body past the limit (over
 * a real socket, while the client is still sending), and the CSV import's own, larger limit.
 */

const IMPORT_MAX = 4 * MAX_BODY_BYTES;

/** A bare app with bodyLimit; its handlers read the whole body and say how long it was. */
function bareApp() {
  const reached: string[] = [];
  const app = new Hono<AppEnv>();
  app.use(bodyLimit({ importMaxBytes: IMPORT_MAX }));
  app.post('/echo', async (c) => {
    reached.push('/echo');
    return c.json({ bytes: (await c.req.arrayBuffer()).byteLength });
  });
  app.post('/patients/import', async (c) => {
    reached.push('/patients/import');
    if (c.req.query('refuse') !== undefined) return c.json({ error: 'too large for the import' }, 413);
    return c.json({ bytes: (await c.req.arrayBuffer()).byteLength });
  });
  return { app, reached };
}

/** A request body of `bytes` bytes sent in 64 KiB chunks, with no Content-Length. */
function chunked(bytes: number): ReadableStream<Uint8Array> {
  let left = bytes;
  return new ReadableStream({
    pull(controller) {
      if (left <= 0) return controller.close();
      const size = Math.min(left, 64 * 1024);
      left -= size;
      controller.enqueue(new Uint8Array(size).fill(120));
    },
  });
}

const tooLarge = (limit: number) => ({ error: `Request body too large (limit ${limit} bytes)` });

describe('bodyLimit', () => {
  it('is 1 MiB', () => {
    expect(MAX_BODY_BYTES).toBe(1024 * 1024);
  });

  it('refuses a Content-Length over the limit with 413 and Connection: close, before the handler', async () => {
    const { app, reached } = bareApp();
    const res = await app.request('/echo', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(MAX_BODY_BYTES + 1) },
      body: 'x',
    });
    expect(res.status).toBe(413);
    expect(res.headers.get('connection')).toBe('close');
    expect(await res.json()).toEqual(tooLarge(MAX_BODY_BYTES));
    expect(reached).toEqual([]);
  });

  it('lets a body of exactly the limit through, with or without Content-Length', async () => {
    const { app } = bareApp();
    const exact = await app.request('/echo', {
      method: 'POST',
      headers: { 'content-length': String(MAX_BODY_BYTES) },
      body: 'x'.repeat(MAX_BODY_BYTES),
    });
    expect(exact.status).toBe(200);
    expect(await exact.json()).toEqual({ bytes: MAX_BODY_BYTES });
    const streamed = await app.request('/echo', {
      method: 'POST',
      body: chunked(MAX_BODY_BYTES),
      duplex: 'half',
    } as RequestInit);
    expect(await streamed.json()).toEqual({ bytes: MAX_BODY_BYTES });
  });

  it('refuses a body without Content-Length as soon as it passes the limit', async () => {
    const { app } = bareApp();
    const res = await app.request('/echo', {
      method: 'POST',
      body: chunked(MAX_BODY_BYTES + 1),
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(res.headers.get('connection')).toBe('close');
    expect(await res.json()).toEqual(tooLarge(MAX_BODY_BYTES));
  });

  describe('the CSV import (POST /patients/import, text/csv)', () => {
    it('may send up to importMaxBytes by Content-Length; past that it is a 413 naming that limit', async () => {
      const { app, reached } = bareApp();
      const within = await app.request('/patients/import', {
        method: 'POST',
        headers: { 'content-type': 'text/csv; charset=utf-8', 'content-length': String(IMPORT_MAX) },
        body: 'x'.repeat(IMPORT_MAX),
      });
      expect(within.status).toBe(200);
      expect(await within.json()).toEqual({ bytes: IMPORT_MAX });
      const over = await app.request('/patients/import', {
        method: 'POST',
        headers: { 'content-type': 'text/csv', 'content-length': String(IMPORT_MAX + 1) },
        body: 'x',
      });
      expect(over.status).toBe(413);
      expect(await over.json()).toEqual(tooLarge(IMPORT_MAX));
      expect(reached).toEqual(['/patients/import']);
    });

    it('is streamed to its handler past MAX_BODY_BYTES (the handler counts)', async () => {
      const { app } = bareApp();
      const res = await app.request('/patients/import', {
        method: 'POST',
        headers: { 'content-type': 'text/csv' },
        body: chunked(2 * MAX_BODY_BYTES),
        duplex: 'half',
      } as RequestInit);
      expect(await res.json()).toEqual({ bytes: 2 * MAX_BODY_BYTES });
    });

    it('gets Connection: close on its handler’s own 413', async () => {
      const { app } = bareApp();
      const res = await app.request('/patients/import?refuse', {
        method: 'POST',
        headers: { 'content-type': 'text/csv' },
        body: 'a,b\n',
      });
      expect(res.status).toBe(413);
      expect(res.headers.get('connection')).toBe('close');
      expect(await res.json()).toEqual({ error: 'too large for the import' });
    });

    it('is no exception for another path, another type or another method', async () => {
      const { app } = bareApp();
      const cases: [string, Record<string, string>][] = [
        ['/echo', { 'content-type': 'text/csv' }],
        ['/patients/import', { 'content-type': 'application/json' }],
        ['/patients/import', { 'content-type': 'text/csvx' }],
      ];
      for (const [path, headers] of cases) {
        const res = await app.request(path, {
          method: 'POST',
          headers: { ...headers, 'content-length': String(MAX_BODY_BYTES + 1) },
          body: 'x',
        });
        expect(res.status, `${path} ${headers['content-type']}`).toBe(413);
        expect(await res.json()).toEqual(tooLarge(MAX_BODY_BYTES));
      }
      const put = await app.request('/patients/import', {
        method: 'PUT',
        headers: { 'content-type': 'text/csv', 'content-length': String(MAX_BODY_BYTES + 1) },
        body: 'x',
      });
      expect(put.status).toBe(413);
    });
  });

  describe('over a real socket, while the client is still sending', () => {
    let server: Listening;
    beforeAll(async () => {
      server = await listen(bareApp().app);
    });
    afterAll(async () => {
      await server.close();
    });

    it('a 3 MiB body with Content-Length always gets its 413', async () => {
      const body = 'x'.repeat(3 * MAX_BODY_BYTES);
      for (let i = 0; i < 5; i++) {
        const res = await fetch(`${server.url}/echo`, { method: 'POST', body });
        expect(res.status).toBe(413);
        expect(res.headers.get('connection')).toBe('close');
        expect(await res.json()).toEqual(tooLarge(MAX_BODY_BYTES));
      }
    });

    it('a chunked 3 MiB body gets its 413 once past the limit, the handler never reached', async () => {
      const { app, reached } = bareApp();
      const chunkedServer = await listen(app);
      try {
        const res = await fetch(`${chunkedServer.url}/echo`, {
          method: 'POST',
          body: chunked(3 * MAX_BODY_BYTES),
          duplex: 'half',
        } as RequestInit);
        expect(res.status).toBe(413);
        expect(res.headers.get('connection')).toBe('close');
        expect(await res.json()).toEqual(tooLarge(MAX_BODY_BYTES));
        expect(reached).toEqual([]);
      } finally {
        await chunkedServer.close();
      }
    });

    // Before issue 19 this client got no answer until the drain's 10 s deadline: hono's bodyLimit
    // left the socket's stream paused behind a web stream, so the drain never saw the body's end.
    it('1 MiB + 4 KiB sent in chunks by a client that then holds its connection open: 413 at once, then closed', async () => {
      const { app, reached } = bareApp();
      const chunkedServer = await listen(app);
      const { port } = new URL(chunkedServer.url);
      const socket = connect(Number(port), '127.0.0.1');
      let answer = '';
      let closedByServer = false;
      socket.setEncoding('latin1');
      socket.on('data', (text: string) => {
        answer += text;
      });
      socket.on('end', () => {
        closedByServer = true;
      });
      socket.on('error', () => undefined);
      try {
        await new Promise<void>((resolve) => socket.once('connect', resolve));
        socket.write(
          'POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
        );
        const chunk = Buffer.alloc(4 * 1024, 120);
        for (let sent = 0; sent < MAX_BODY_BYTES + 4 * 1024; sent += chunk.length) {
          socket.write(`${chunk.length.toString(16)}\r\n`);
          socket.write(chunk);
          socket.write('\r\n');
        }
        // The client never sends the last chunk: it holds the connection open. The answer must
        // come well before the drain's deadline (a fixed bound, not a timing goal: without the fix
        // nothing at all arrives before it).
        await waitFor(() => answer.includes('\r\n\r\n{') && answer.endsWith('}'), {
          what: 'the 413 while the client still holds the connection open',
          timeoutMs: DISCARD_WAIT_MS / 2,
        });
        expect(answer.startsWith('HTTP/1.1 413')).toBe(true);
        expect(answer.toLowerCase()).toContain('connection: close');
        expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toEqual(tooLarge(MAX_BODY_BYTES));
        await waitFor(() => closedByServer, {
          what: 'the server to close the connection',
          timeoutMs: DISCARD_WAIT_MS / 2,
        });
        expect(reached).toEqual([]);
      } finally {
        socket.destroy();
        await chunkedServer.close();
      }
    });

    it('a CSV import refused by its handler before reading is drained, so the client reads the 413', async () => {
      for (let i = 0; i < 5; i++) {
        const res = await fetch(`${server.url}/patients/import?refuse`, {
          method: 'POST',
          headers: { 'content-type': 'text/csv' },
          body: 'x'.repeat(3 * MAX_BODY_BYTES),
        });
        expect(res.status).toBe(413);
        expect(res.headers.get('connection')).toBe('close');
        expect(await res.json()).toEqual({ error: 'too large for the import' });
      }
    });
  });
});
