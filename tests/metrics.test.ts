import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../server/src/env';
import { subscribe } from './helpers/events';
import { adminToken, http, startTestServer, type TestServer, trpcClient } from './helpers/server';

const TOKEN = 'metrics-token-0123456789abcdef';

/** The value of one sample line (`name{labels} value`) of a Prometheus text page, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('GET /metrics', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ METRICS_TOKEN: TOKEN });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('shows requests by route and status, the job queue, subscriptions and the process, to the token only', async () => {
    const admin = trpcClient(t.url, await adminToken(t));
    await admin.doctors.list.query({});
    await admin.doctors.list.query({});
    await http(t.url, 'GET', '/doctors');
    await http(t.url, 'GET', '/no/such/path/12345');
    const sub = await subscribe(t.url, await adminToken(t));
    try {
      expect((await http(t.url, 'GET', '/metrics')).status).toBe(401);
      expect((await http(t.url, 'GET', '/metrics', { token: 'wrong-token-0123456789' })).status).toBe(401);
      const res = await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      const ok = { route: '/trpc/doctors.list', method: 'GET', status: '200' };
      expect(sample(text, 'hdms_http_requests_total', ok)).toBeGreaterThanOrEqual(2);
      expect(sample(text, 'hdms_http_request_duration_seconds_count', ok)).toBeGreaterThanOrEqual(2);
      expect(sample(text, 'hdms_http_requests_total', { route: '/doctors', status: '401' })).toBe(1);
      // Unknown paths share one label: no series per path a client invents.
      expect(sample(text, 'hdms_http_requests_total', { route: '(unmatched)', status: '404' })).toBe(1);
      expect(text).not.toContain('/no/such/path');
      expect(sample(text, 'hdms_jobs', { status: 'queued' })).toBeGreaterThanOrEqual(0);
      expect(sample(text, 'hdms_event_subscriptions')).toBe(1);
      if (t.db.dialect === 'mysql') {
        expect(sample(text, 'hdms_db_pool_connections', { state: 'open' })).toBeGreaterThan(0);
        expect(sample(text, 'hdms_db_pool_waiting')).toBe(0);
      }
      // The process's total from the first scrape (prom-client alone would count from its own start).
      expect(sample(text, 'hdms_process_cpu_user_seconds_total')).toBeGreaterThan(0.05);
      expect(text).toContain('# TYPE hdms_event_feed_lag_seconds histogram');
      expect(text).not.toContain(TOKEN);
    } finally {
      sub.close();
    }
  });

  it('is off in production unless METRICS=on, and then only with METRICS_TOKEN', async () => {
    const production = await startTestServer({ NODE_ENV: 'production' });
    try {
      expect((await http(production.url, 'GET', '/metrics')).status).toBe(404);
    } finally {
      await production.close();
    }
    expect(() => loadConfig({ NODE_ENV: 'production', METRICS: 'on' })).toThrow(
      /METRICS=on in production needs METRICS_TOKEN/,
    );
    expect(() => loadConfig({ METRICS_TOKEN: 'short' })).toThrow(/METRICS_TOKEN must be at least 16/);
    expect(() => loadConfig({ METRICS_TOKEN: 'short' })).not.toThrow(/short/);
    expect(loadConfig({ NODE_ENV: 'production', METRICS: 'on', METRICS_TOKEN: TOKEN }).metrics).toEqual({
      enabled: true,
      token: TOKEN,
    });
  });
});
