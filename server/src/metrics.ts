import { timingSafeEqual } from 'node:crypto';
import { type Database, jobsRepo, type ReadReplicas } from '@hdms/db';
import type { Hono } from 'hono';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { sha256Hex } from './auth/index';
import type { AppEnv } from './context';
import type { EventFeed } from './events/feed';
import { appRouter } from './trpc/appRouter';

/**
 * `GET /metrics` in the Prometheus text format (prom-client), one registry per server: HTTP
 * requests by route and status (count and duration), the database pool, the job queue, the event
 * feed, and the process's own metrics. Off in production unless METRICS=on, and then only with
 * METRICS_TOKEN as a bearer token.
 */

const PROCEDURES: ReadonlySet<string> = new Set(Object.keys(appRouter._def.procedures));

/**
 * A request's route label, bounded whatever clients send: the matched REST route (`/jobs/:id`),
 * `/trpc/<procedure>` for a known procedure, `/trpc/(batch)` for several at once, and
 * `(unmatched)` for anything else.
 */
export function routeLabel(path: string, routePath: string | undefined): string {
  if (path.startsWith('/trpc/')) {
    const names = path.slice('/trpc/'.length).split(',');
    if (names.length > 1) return '/trpc/(batch)';
    return PROCEDURES.has(names[0]!) ? `/trpc/${names[0]}` : '/trpc/(unknown)';
  }
  if (!routePath || routePath === '/*' || routePath === '*') return '(unmatched)';
  return routePath;
}

/** One server's metrics. */
export class Metrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'route' | 'method' | 'status'>;
  private readonly durations: Histogram<'route' | 'method' | 'status'>;
  readonly eventLag: Histogram;
  /** The read-your-writes wait of requests that needed a position (read replicas). */
  readonly readWait: Histogram<'target'>;

  private processMetricsStarted = false;

  /**
   * Starts the process metrics (CPU, memory, GC, event-loop lag) of prom-client; `/metrics` calls
   * it on its first scrape, so a server nobody scrapes (production without METRICS=on, or a
   * development server nobody watches) runs none of their timers. The lag and GC histograms count
   * from then on; CPU and memory are read at each scrape and are whole from the first.
   */
  startProcessMetrics(): void {
    if (this.processMetricsStarted) return;
    this.processMetricsStarted = true;
    // The event-loop lag is sampled by a timer: prom-client's default (every 10 ms) wakes an idle
    // server 100 times a second, most of its idle CPU. Once a second: a stall of a second or more
    // is always recorded, a shorter one when a sample falls in it (on this VM every wake-up of an
    // idle process costs about half a millisecond of CPU).
    const before = process.cpuUsage();
    collectDefaultMetrics({ register: this.registry, prefix: 'hdms_', eventLoopMonitoringPrecision: 1_000 });
    // prom-client counts CPU from the moment it starts: add what the process used before, so the
    // counters are the process's totals from the first scrape on.
    const used: [string, number][] = [
      ['hdms_process_cpu_user_seconds_total', before.user],
      ['hdms_process_cpu_system_seconds_total', before.system],
      ['hdms_process_cpu_seconds_total', before.user + before.system],
    ];
    for (const [name, micros] of used)
      (this.registry.getSingleMetric(name) as Counter | undefined)?.inc(micros / 1e6);
  }

  constructor(db: Database, events: EventFeed, replicas: ReadReplicas | null = null) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'hdms_http_requests_total',
      help: 'HTTP requests answered, by route (REST route or tRPC procedure), method and status',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.durations = new Histogram({
      name: 'hdms_http_request_duration_seconds',
      help: 'Time to answer an HTTP request (to the first byte of a stream), by route, method and status',
      labelNames: ['route', 'method', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    new Gauge({
      name: 'hdms_db_pool_connections',
      help: 'Database pool connections by state (MySQL; absent on SQLite)',
      labelNames: ['state'],
      registers,
      collect() {
        const pool = db.poolStats();
        if (!pool) return;
        this.set({ state: 'open' }, pool.size);
        this.set({ state: 'in_use' }, pool.using);
        this.set({ state: 'idle' }, pool.available);
      },
    });
    new Gauge({
      name: 'hdms_db_pool_waiting',
      help: 'Requests waiting for a database connection (MySQL; absent on SQLite)',
      registers,
      collect() {
        const pool = db.poolStats();
        if (pool) this.set(pool.waiting);
      },
    });
    new Gauge({
      name: 'hdms_jobs',
      help: 'Background jobs not finished, by status, on the whole database (every instance)',
      labelNames: ['status'],
      registers,
      async collect() {
        const counts = await jobsRepo.countUnfinished(db);
        this.set({ status: 'queued' }, counts.queued);
        this.set({ status: 'running' }, counts.running);
      },
    });
    new Gauge({
      name: 'hdms_event_subscriptions',
      help: 'Open events.onChange subscriptions on this instance',
      registers,
      collect() {
        this.set(events.subscribers);
      },
    });
    if (replicas) {
      new Counter({
        name: 'hdms_db_reads_total',
        help: 'Requests whose list and get reads each target served: primary, or a read replica (host:port)',
        labelNames: ['target'],
        registers,
        collect() {
          this.reset();
          for (const [target, count] of replicas.readCounts()) this.inc({ target }, count);
        },
      });
      new Gauge({
        name: 'hdms_db_replica_lag_seconds',
        help: "Each read replica's last measured lag behind the primary (absent while it does not answer)",
        labelNames: ['target'],
        registers,
        collect() {
          this.reset();
          for (const { target, seconds } of replicas.lagSeconds()) {
            if (seconds !== null) this.set({ target }, seconds);
          }
        },
      });
    }
    this.readWait = new Histogram({
      name: 'hdms_db_read_wait_seconds',
      help: 'Read replicas: how long a request that needed a position (its own writes, an event) waited for a replica, by the target that then served it',
      labelNames: ['target'],
      buckets: [0, 0.001, 0.005, 0.025, 0.1, 0.25, 0.5],
      registers,
    });
    this.eventLag = new Histogram({
      name: 'hdms_event_feed_lag_seconds',
      help: "Time from an event's commit to this instance reading it for its subscriptions",
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
  }

  /** Counts one answered request. */
  observe(route: string, method: string, status: number, seconds: number): void {
    const labels = { route, method, status: String(status) };
    this.requests.inc(labels);
    this.durations.observe(labels, seconds);
  }
}

/** True when `header` is `Bearer <token>` (compared in constant time, as hashes). */
function bearerMatches(header: string | undefined, token: string): boolean {
  const sent = /^Bearer (.+)$/i.exec(header ?? '')?.[1];
  if (!sent) return false;
  return timingSafeEqual(Buffer.from(sha256Hex(sent), 'hex'), Buffer.from(sha256Hex(token), 'hex'));
}

/** Mounts `GET /metrics` when enabled (a 404 otherwise, like any unknown path). */
export function mountMetrics(
  app: Hono<AppEnv>,
  metrics: Metrics,
  settings: { enabled: boolean; token: string | null },
): void {
  if (!settings.enabled) return;
  app.get('/metrics', async (c) => {
    if (settings.token && !bearerMatches(c.req.header('authorization'), settings.token)) {
      c.header('WWW-Authenticate', 'Bearer realm="metrics"');
      return c.json({ error: 'Metrics need the METRICS_TOKEN bearer token' }, 401);
    }
    metrics.startProcessMetrics();
    const text = await metrics.registry.metrics();
    return c.body(text, 200, { 'Content-Type': metrics.registry.contentType });
  });
}
