import { randomUUID } from 'node:crypto';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { AppEnv, AppServices } from '../../context';
import { type Metrics, routeLabel } from '../../metrics';
import type { Ctx } from '../request';

/** The Content-Security-Policy of every answer but the panel's: an API answer loads nothing. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'";

/** How much of a client's own `X-Request-Id` is kept for the log (never stored as ours). */
const CLIENT_REQUEST_ID_MAX = 64;

/** Options of `requestContext`. */
export interface RequestContextOptions {
  /** What every request is handed (`services`); its config and logger serve here too. */
  services: AppServices;
  /** Where answered requests are counted, when `config.metrics.enabled`. */
  metrics: Pick<Metrics, 'observe'>;
}

/**
 * The first middleware of every request. Before the rest: sets `requestId` (a fresh UUID, never
 * the client's), `services`, `ip` (see `clientIp`), and `actor` and `refusal` to null. After:
 * every answer carries `X-Request-Id`, `Cache-Control: no-store` and, unless the handler set its
 * own, the `API_CSP`; the request is counted in the metrics (when enabled) and logged at info as
 * one `request` line, with the client's own `X-Request-Id` (sanitised, 64 characters at most) as
 * `clientRequestId`.
 */
export function requestContext({ services, metrics }: RequestContextOptions): MiddlewareHandler<AppEnv> {
  const { config, logger } = services;
  return async (c, next) => {
    const started = performance.now();
    const requestId = randomUUID();
    const clientRequestId = c.req
      .header('x-request-id')
      ?.replace(/[^\w.:=/-]/g, '')
      .slice(0, CLIENT_REQUEST_ID_MAX);
    c.set('requestId', requestId);
    c.set('services', services);
    c.set('ip', clientIp(c, config.trustedProxies));
    c.set('actor', null);
    c.set('refusal', null);
    await next();
    c.header('X-Request-Id', requestId);
    c.header('Cache-Control', 'no-store');
    if (!c.res.headers.has('Content-Security-Policy')) c.header('Content-Security-Policy', API_CSP);
    const actor = c.get('actor');
    const seconds = (performance.now() - started) / 1000;
    if (config.metrics.enabled) {
      metrics.observe(routeLabel(c.req.path, routePath(c, -1)), c.req.method, c.res.status, seconds);
    }
    if (!logger.isLevelEnabled('info')) return;
    logger.info(
      {
        reqId: requestId,
        ...(clientRequestId ? { clientRequestId } : {}),
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Math.round(performance.now() - started),
        ...(actor ? { actor: `${actor.type}:${actor.id}` } : {}),
      },
      'request',
    );
  };
}

/**
 * The client's address: the TCP peer, or behind a proxy the operator named in
 * `TRUSTED_PROXIES`, the last address of `X-Forwarded-For` that is not itself such a proxy.
 * `X-Forwarded-For` from anyone else is ignored.
 */
export function clientIp(c: Ctx, trustedProxies: readonly string[]): string | null {
  let peer: string | null;
  try {
    peer = getConnInfo(c).remote.address ?? null;
  } catch {
    peer = null;
  }
  if (!peer || !trustedProxies.includes(peer)) return peer;
  const hops = (c.req.header('x-forwarded-for') ?? '')
    .split(',')
    .map((hop) => hop.trim())
    .filter((hop) => hop !== '');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!;
    if (!trustedProxies.includes(hop)) return hop.slice(0, 64);
  }
  return peer;
}
