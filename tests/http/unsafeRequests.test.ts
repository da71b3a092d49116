import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { AppEnv } from '../../server/src/context';
import { unsafeRequests } from '../../server/src/http/middleware/unsafeRequests';

/*
 * unsafeRequests alone on a bare app: 415 for a body that is not JSON (the CSV import aside), and
 * 403 for a cookie-only request from another site (CSRF), while this server's own pages, allowed
 * origins, bearer tokens and safe methods pass.
 */

const HOST = 'hdms.example:8443';
const ALLOWED = 'https://panel.example';
const COOKIE = 'hdms_session=abc123';

const UNSUPPORTED = { error: 'Content-Type must be application/json' };
const CROSS_SITE = {
  error: 'Cross-site request refused: sign-in cookies are accepted only from this server’s own pages',
};

function bareApp() {
  const reached: string[] = [];
  const app = new Hono<AppEnv>();
  app.use(unsafeRequests({ allowedOrigins: [ALLOWED] }));
  app.all('*', (c) => {
    reached.push(`${c.req.method} ${c.req.path}`);
    return c.json({ ok: true });
  });
  /**
   * A request as it arrives over a socket: a body comes with its Content-Length (which the
   * middleware reads) and with no Content-Type but the one given.
   */
  const send = (method: string, path: string, headers: Record<string, string>, body?: string) => {
    const bytes = body === undefined ? undefined : new TextEncoder().encode(body);
    const length: Record<string, string> = bytes ? { 'content-length': String(bytes.byteLength) } : {};
    return app.request(path, { method, headers: { host: HOST, ...length, ...headers }, body: bytes });
  };
  return { app, send, reached };
}

describe('unsafeRequests', () => {
  describe('Content-Type', () => {
    it.each([
      ['a form', 'application/x-www-form-urlencoded', 'a=1'],
      ['multipart', 'multipart/form-data; boundary=x', '--x--'],
      ['plain text', 'text/plain', '{}'],
      ['no type', undefined, '{}'],
      ['a look-alike of JSON', 'application/jsonp', '{}'],
      ['CSV elsewhere than the import', 'text/csv', 'a,b'],
    ])('%s with a body is a 415 that reaches no handler', async (_label, type, body) => {
      const { send, reached } = bareApp();
      for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
        const res = await send(method, '/doctors', type ? { 'content-type': type } : {}, body);
        expect(res.status, method).toBe(415);
        expect(await res.json()).toEqual(UNSUPPORTED);
      }
      expect(reached).toEqual([]);
    });

    it('a chunked body (no Content-Length) counts as a body', async () => {
      const { app, reached } = bareApp();
      const res = await app.request('/logout', {
        method: 'POST',
        headers: { host: HOST, 'transfer-encoding': 'chunked', 'content-type': 'text/plain' },
        body: new TextEncoder().encode('a=1'),
      });
      expect(res.status).toBe(415);
      expect(reached).toEqual([]);
    });

    it.each([
      'application/json',
      'application/json; charset=utf-8',
      'Application/JSON',
      'application/merge-patch+json',
    ])('%s goes through', async (type) => {
      const { send } = bareApp();
      expect((await send('POST', '/doctors', { 'content-type': type }, '{}')).status).toBe(200);
    });

    it('a CSV upload to POST /patients/import goes through', async () => {
      const { send, reached } = bareApp();
      const res = await send(
        'POST',
        '/patients/import',
        { 'content-type': 'text/csv; charset=utf-8' },
        'a,b',
      );
      expect(res.status).toBe(200);
      expect(reached).toEqual(['POST /patients/import']);
    });

    it('an unsafe request without a body, and a safe one with any type, go through', async () => {
      const { send, reached } = bareApp();
      expect((await send('POST', '/logout', { 'content-type': 'text/plain' })).status).toBe(200);
      expect(
        (await send('POST', '/logout', { 'content-length': '0', 'content-type': 'text/plain' })).status,
      ).toBe(200);
      expect((await send('GET', '/doctors', { 'content-type': 'text/plain' })).status).toBe(200);
      expect(reached).toEqual(['POST /logout', 'POST /logout', 'GET /doctors']);
    });
  });

  describe('cookie-only requests from other sites (CSRF)', () => {
    const json = { 'content-type': 'application/json' };

    it.each([
      ['a foreign Origin', { origin: 'https://evil.example' }],
      ['an Origin of another port of this host', { origin: 'https://hdms.example:9999' }],
      ['an opaque Origin', { origin: 'null' }],
      ['a cross-site fetch', { 'sec-fetch-site': 'cross-site' }],
      ['a same-site fetch (a sibling subdomain)', { 'sec-fetch-site': 'same-site' }],
    ])('%s is a 403 that reaches no handler', async (_label, headers) => {
      const { send, reached } = bareApp();
      for (const method of ['POST', 'DELETE']) {
        const res = await send(method, '/trpc/auth.logout', { ...json, cookie: COOKIE, ...headers }, '{}');
        expect(res.status, method).toBe(403);
        expect(await res.json()).toEqual(CROSS_SITE);
      }
      expect(reached).toEqual([]);
    });

    it('the session cookie among others counts too', async () => {
      const { send } = bareApp();
      const res = await send(
        'POST',
        '/logout',
        { ...json, cookie: `theme=dark; ${COOKIE}`, origin: 'https://evil.example' },
        '{}',
      );
      expect(res.status).toBe(403);
    });

    it.each([
      ['this server’s own Origin', { origin: `https://${HOST}` }],
      ['an allowed origin', { origin: ALLOWED }],
      ['a same-origin fetch', { 'sec-fetch-site': 'same-origin' }],
      ['a request the user typed', { 'sec-fetch-site': 'none' }],
      ['no browser at all (neither header)', {}],
      ['an allowed Origin whatever Sec-Fetch-Site says', { origin: ALLOWED, 'sec-fetch-site': 'cross-site' }],
    ])('from %s goes through', async (_label, headers) => {
      const { send, reached } = bareApp();
      const res = await send('POST', '/logout', { ...json, cookie: COOKIE, ...headers }, '{}');
      expect(res.status).toBe(200);
      expect(reached).toEqual(['POST /logout']);
    });

    it('a bearer token, another cookie, or a safe method is not refused from a foreign origin', async () => {
      const { send } = bareApp();
      const evil = { origin: 'https://evil.example' };
      const bearer = { ...json, ...evil, cookie: COOKIE, authorization: 'Bearer xyz' };
      expect((await send('POST', '/logout', bearer, '{}')).status).toBe(200);
      expect((await send('POST', '/logout', { ...json, ...evil, cookie: 'other=1' }, '{}')).status).toBe(200);
      expect((await send('GET', '/doctors', { ...evil, cookie: COOKIE })).status).toBe(200);
    });

    it('checks the Content-Type first: a cross-site form is a 415', async () => {
      const { send } = bareApp();
      const res = await send(
        'POST',
        '/logout',
        {
          'content-type': 'application/x-www-form-urlencoded',
          cookie: COOKIE,
          origin: 'https://evil.example',
        },
        'a=1',
      );
      expect(res.status).toBe(415);
    });
  });
});
