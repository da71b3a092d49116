import { request } from 'node:http';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor, AppEnv, AppServices } from '../../server/src/context';
import { loadConfig } from '../../server/src/env';
import { API_CSP, requestContext } from '../../server/src/http/middleware/requestContext';
import { createLogger } from '../../server/src/logger';
import { type Listening, listen } from './listen';

/*
 * requestContext alone on a bare app: the per-request variables, the headers every answer gets,
 * the metrics and the one log line per request, and the client address behind trusted proxies.
 */

type Observed = [route: string, method: string, status: number, seconds: number];

/** A bare app with requestContext, whose log lines and metric observations are kept. */
function bareApp(env: Record<string, string> = {}, level = 'info') {
  const log: Record<string, unknown>[] = [];
  const observed: Observed[] = [];
  const config = loadConfig({ METRICS: 'on', ...env });
  const logger = createLogger(level, { write: (line: string) => log.push(JSON.parse(line)) });
  // Only what requestContext reads (config, logger) is real; nothing here touches a database.
  const services = { config, logger } as AppServices;
  const app = new Hono<AppEnv>();
  app.use(requestContext({ services, metrics: { observe: (...args: Observed) => observed.push(args) } }));
  const seen: Record<string, unknown>[] = [];
  app.get('/vars', (c) => {
    seen.push({
      requestId: c.get('requestId'),
      services: c.get('services'),
      ip: c.get('ip'),
      actor: c.get('actor'),
      refusal: c.get('refusal'),
    });
    return c.json({ ok: true });
  });
  app.get('/as/:id', (c) => {
    c.set('actor', { type: 'service', id: Number(c.req.param('id')), name: 'x', scopes: [] } as Actor);
    return c.text('acted', 201);
  });
  app.get('/own-csp', (c) => {
    c.header('Content-Security-Policy', "default-src 'self'");
    return c.text('page');
  });
  app.get('/ip', (c) => c.text(String(c.get('ip'))));
  return { app, log, observed, seen, services };
}

describe('requestContext', () => {
  it('sets a fresh request id, the services, and no ip, actor or refusal before the handler runs', async () => {
    const { app, seen, services } = bareApp();
    const first = await app.request('/vars');
    const second = await app.request('/vars');
    expect(first.status).toBe(200);
    const [a, b] = seen;
    expect(a!.requestId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(b!.requestId).not.toBe(a!.requestId);
    expect(first.headers.get('x-request-id')).toBe(a!.requestId);
    expect(second.headers.get('x-request-id')).toBe(b!.requestId);
    expect(a!.services).toBe(services);
    // In process there is no socket: no address rather than a failure.
    expect(a).toMatchObject({ ip: null, actor: null, refusal: null });
  });

  it('never takes the client’s X-Request-Id as its own; the log keeps it sanitised, 64 characters at most', async () => {
    const { app, log, seen } = bareApp();
    const forged = `xyz<script>"\n ${'y'.repeat(100)}`;
    const res = await app.request('/vars', { headers: { 'x-request-id': forged.replace('\n', '') } });
    const ours = res.headers.get('x-request-id');
    expect(ours).toBe(seen[0]!.requestId);
    // Ours is a UUID (hex), so the client's non-hex 'xyz' can never appear in it by chance.
    expect(ours).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(ours).not.toContain('xyz');
    const line = log.find((l) => l.reqId === ours);
    expect(line).toMatchObject({ msg: 'request', method: 'GET', path: '/vars', status: 200 });
    expect(line!.clientRequestId).toBe(`xyzscript${'y'.repeat(100)}`.slice(0, 64));
    expect(line!.clientRequestId).toHaveLength(64);
  });

  it('logs no clientRequestId when none is sent, or nothing of it survives', async () => {
    const { app, log } = bareApp();
    await app.request('/vars');
    await app.request('/vars', { headers: { 'x-request-id': '<>' } });
    expect(log).toHaveLength(2);
    for (const line of log) expect(line).not.toHaveProperty('clientRequestId');
  });

  it('names the actor the later middleware set, and the status the handler answered', async () => {
    const { app, log } = bareApp();
    await app.request('/as/7');
    expect(log[0]).toMatchObject({ msg: 'request', path: '/as/7', status: 201, actor: 'service:7' });
    expect(typeof log[0]!.ms).toBe('number');
  });

  it('logs nothing below info', async () => {
    const { app, log } = bareApp({}, 'warn');
    expect((await app.request('/vars')).status).toBe(200);
    expect(log).toEqual([]);
  });

  it('marks every answer no-store and gives it the API CSP unless the handler set its own', async () => {
    const { app } = bareApp();
    for (const path of ['/vars', '/no-such-path']) {
      const res = await app.request(path);
      expect(res.headers.get('cache-control'), path).toBe('no-store');
      expect(res.headers.get('content-security-policy'), path).toBe(API_CSP);
    }
    expect(API_CSP).toBe("default-src 'none'; frame-ancestors 'none'");
    const page = await app.request('/own-csp');
    expect(page.headers.get('content-security-policy')).toBe("default-src 'self'");
    expect(page.headers.get('cache-control')).toBe('no-store');
  });

  it('counts each request by route, method and status when metrics are on, and not when off', async () => {
    const on = bareApp();
    await on.app.request('/as/3');
    await on.app.request('/nowhere');
    expect(on.observed.map(([route, method, status]) => [route, method, status])).toEqual([
      ['/as/:id', 'GET', 201],
      ['(unmatched)', 'GET', 404],
    ]);
    expect(on.observed[0]![3]).toBeGreaterThanOrEqual(0);
    const off = bareApp({ METRICS: 'off' });
    await off.app.request('/as/3');
    expect(off.observed).toEqual([]);
  });

  describe('the client address, over a real socket', () => {
    let server: Listening;
    beforeAll(async () => {
      server = await listen(bareApp({ TRUSTED_PROXIES: '127.0.0.2' }).app);
    });
    afterAll(async () => {
      await server.close();
    });

    /** GET /ip from `localAddress`, with an `X-Forwarded-For` chain: the address the app saw. */
    const seenAddress = (localAddress: string, forwardedFor: string) =>
      new Promise<string>((resolve, reject) => {
        const req = request(
          `${server.url}/ip`,
          { localAddress, headers: { 'x-forwarded-for': forwardedFor } },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              text += chunk;
            });
            res.on('end', () => resolve(text));
          },
        );
        req.on('error', reject);
        req.end();
      });

    it('is the TCP peer, whatever X-Forwarded-For says, unless the peer is a trusted proxy', async () => {
      expect(await seenAddress('127.0.0.1', '203.0.113.1, 198.51.100.9')).toBe('127.0.0.1');
    });

    it('behind a trusted proxy, is the last forwarded address that is not itself a trusted proxy', async () => {
      expect(await seenAddress('127.0.0.2', '203.0.113.1, 198.51.100.9')).toBe('198.51.100.9');
      expect(await seenAddress('127.0.0.2', '203.0.113.1, 198.51.100.9, 127.0.0.2')).toBe('198.51.100.9');
      expect(await seenAddress('127.0.0.2', ' , ')).toBe('127.0.0.2');
    });
  });
});
