import client, { Registry, type Counter, type Histogram, type Gauge } from 'prom-client';

export type DbOperation = 'select' | 'insert' | 'update' | 'delete' | 'other';
export type CacheName = 'products_list' | 'product';
export type LimiterName = 'auth' | 'global';

/** Business figures read at scrape time; each returns null when its source is unavailable. */
export interface BusinessSource {
  productsInStock(): Promise<number | null>;
  ordersToday(): Promise<number | null>;
  activeUsers(): Promise<number | null>;
}

export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
  max: number;
}

export interface MetricsSummary {
  http_requests_total: number;
  active_users: number;
  products_in_stock: number;
  orders_today: number;
  cache_hit_ratio: number;
  response_time_avg: number;
  error_rate: number;
}

type HttpLabels = { method: string; route: string; status_code: string };

interface HttpSeries {
  labels: HttpLabels;
  /** Observations per bucket (not cumulative); the last slot is above the largest bound. */
  buckets: number[];
  sum: number;
  count: number;
}

/** What prom-client's registry reads from a metric: the same shape its Counter and Histogram return. */
interface Exposed {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  labelNames: readonly string[];
  aggregator: 'sum';
  get(): Promise<{ name: string; help: string; type: string; aggregator: 'sum'; values: Array<{ labels: Record<string, string | number>; value: number; metricName?: string }> }>;
  reset(): void;
}

const HTTP_LABELS = ['method', 'route', 'status_code'] as const;
export const HTTP_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * http_requests_total and http_request_duration_seconds kept as plain numbers, one series per
 * method, route and status: a request costs a Map lookup and a few additions. prom-client hashes
 * the label set on every inc() and observe(), bound children included. The registry serializes
 * both exactly like prom-client's own Counter and Histogram (the tests compare the text).
 */
export class HttpMetrics {
  private series = new Map<string, HttpSeries>();

  constructor(private readonly bounds: readonly number[]) {}

  observe(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${status} ${route}`;
    let s = this.series.get(key);
    if (s === undefined) {
      s = { labels: { method, route, status_code: String(status) }, buckets: new Array<number>(this.bounds.length + 1).fill(0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    let i = 0;
    while (i < this.bounds.length && seconds > this.bounds[i]!) i++;
    s.buckets[i]!++;
    s.sum += seconds;
    s.count++;
  }

  counter(name: string, help: string): Exposed {
    const values = () => [...this.series.values()].map((s) => ({ labels: s.labels, value: s.count }));
    return this.exposed(name, help, 'counter', values);
  }

  histogram(name: string, help: string): Exposed {
    const values = () =>
      [...this.series.values()].flatMap((s) => {
        let acc = 0;
        const buckets = this.bounds.map((le, i) => ({ labels: { le, ...s.labels }, value: (acc += s.buckets[i]!), metricName: `${name}_bucket` }));
        return [
          ...buckets,
          { labels: { le: '+Inf', ...s.labels }, value: s.count, metricName: `${name}_bucket` },
          { labels: s.labels, value: s.sum, metricName: `${name}_sum` },
          { labels: s.labels, value: s.count, metricName: `${name}_count` },
        ];
      });
    return this.exposed(name, help, 'histogram', values);
  }

  private exposed(name: string, help: string, type: Exposed['type'], values: () => Array<{ labels: Record<string, string | number>; value: number; metricName?: string }>): Exposed {
    return {
      name,
      help,
      type,
      labelNames: HTTP_LABELS,
      aggregator: 'sum',
      get: () => Promise.resolve({ name, help, type, aggregator: 'sum', values: values() }),
      reset: () => {
        this.series = new Map();
      },
    };
  }
}

const SCRAPE_TIMEOUT_MS = 1000;
/** The JSON summary's cache_hit_ratio covers the last minute: cumulative counts snapshotted every 10 s, six kept. */
const RATIO_STEP_MS = 10_000;
const RATIO_STEPS = 6;

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), ms);
  });
  try {
    return await Promise.race([p.catch(() => null), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export class Metrics {
  readonly registry = new Registry();
  readonly http = new HttpMetrics(HTTP_DURATION_BUCKETS);
  /** Requests being processed; read into http_requests_in_flight at scrape time (no gauge update per request). */
  inFlight = 0;
  readonly cacheHits: Counter<'cache'>;
  readonly cacheMisses: Counter<'cache'>;
  readonly dbQueryDuration: Histogram<'operation'>;
  readonly rateLimited: Counter<'limiter'>;
  readonly ordersCreated: Counter;
  readonly orderRevenue: Counter;
  private business: BusinessSource | null = null;
  private poolStats: (() => PoolStats) | null = null;
  /** Lookups per cache, copied into cache_hits_total / cache_misses_total at scrape time. */
  private readonly cacheCounts: Record<CacheName, { hits: number; misses: number }> = { products_list: { hits: 0, misses: 0 }, product: { hits: 0, misses: 0 } };
  // Plain numbers for the JSON summary, so it needs no registry walk.
  private totals = { requests: 0, errors: 0, durationSum: 0, cacheHits: 0, cacheMisses: 0 };
  private lastBusiness = { productsInStock: 0, ordersToday: 0, activeUsers: 0 };
  /** Cumulative cache hits and misses as they were 10, 20, ... 60 s ago, oldest first. */
  private readonly cacheSnapshots: Array<{ hits: number; misses: number }> = [{ hits: 0, misses: 0 }];

  constructor(version: string) {
    const registers = [this.registry];
    setInterval(() => {
      this.cacheSnapshots.push({ hits: this.totals.cacheHits, misses: this.totals.cacheMisses });
      if (this.cacheSnapshots.length > RATIO_STEPS) this.cacheSnapshots.shift();
    }, RATIO_STEP_MS).unref();
    client.collectDefaultMetrics({ register: this.registry });
    this.registry.registerMetric(this.http.counter('http_requests_total', 'HTTP requests answered, by method, route template and status code') as unknown as Counter);
    this.registry.registerMetric(
      this.http.histogram('http_request_duration_seconds', 'HTTP request duration in seconds, by method, route template and status code') as unknown as Histogram,
    );
    const inFlight: Gauge = new client.Gauge({
      name: 'http_requests_in_flight',
      help: 'HTTP requests being processed',
      registers,
      collect: () => inFlight.set(this.inFlight),
    });
    const cacheCounter = (name: string, help: string, field: 'hits' | 'misses') => {
      const counter: Counter<'cache'> = new client.Counter({
        name,
        help,
        labelNames: ['cache'],
        registers,
        collect: () => {
          counter.reset();
          for (const [cache, counts] of Object.entries(this.cacheCounts)) counter.inc({ cache }, counts[field]);
        },
      });
      return counter;
    };
    this.cacheHits = cacheCounter('cache_hits_total', 'Cache hits', 'hits');
    this.cacheMisses = cacheCounter('cache_misses_total', 'Cache misses', 'misses');
    this.dbQueryDuration = new client.Histogram({
      name: 'db_query_duration_seconds',
      help: 'Database query duration in seconds, by operation',
      labelNames: ['operation'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    const pool: Gauge<'state'> = new client.Gauge({
      name: 'db_pool_connections',
      help: 'Database pool connections by state',
      labelNames: ['state'],
      registers,
      collect: () => {
        const s = this.poolStats?.();
        if (!s) return;
        pool.set({ state: 'total' }, s.total);
        pool.set({ state: 'idle' }, s.idle);
        pool.set({ state: 'waiting' }, s.waiting);
      },
    });
    const poolMax: Gauge = new client.Gauge({
      name: 'db_pool_max_connections',
      help: 'Maximum database pool connections of this replica',
      registers,
      collect: () => {
        const s = this.poolStats?.();
        if (s) poolMax.set(s.max);
      },
    });
    this.rateLimited = new client.Counter({
      name: 'rate_limited_requests_total',
      help: 'Requests refused with 429, by limiter',
      labelNames: ['limiter'],
      registers,
    });
    this.rateLimited.inc({ limiter: 'auth' }, 0);
    this.rateLimited.inc({ limiter: 'global' }, 0);
    this.ordersCreated = new client.Counter({ name: 'shop_orders_created_total', help: 'Orders created', registers });
    this.orderRevenue = new client.Counter({
      name: 'shop_order_revenue_total',
      help: 'Revenue of created orders, in currency units',
      registers,
    });
    const business = (name: string, help: string, key: keyof BusinessSource) => {
      const gauge: Gauge = new client.Gauge({
        name,
        help,
        registers,
        collect: async () => gauge.set(await this.readBusiness(key)),
      });
    };
    business('shop_products_in_stock', 'Products with stock > 0', 'productsInStock');
    business('shop_orders_today', 'Orders created since UTC midnight', 'ordersToday');
    business('shop_active_users', 'Distinct users with an authenticated request in the last 15 minutes', 'activeUsers');
    const info = new client.Gauge({ name: 'app_info', help: 'Application version', labelNames: ['version'], registers });
    info.set({ version }, 1);
  }

  setBusinessSource(source: BusinessSource): void {
    this.business = source;
  }

  setPoolStats(fn: () => PoolStats): void {
    this.poolStats = fn;
  }

  /** A scrape never hangs on a slow database: after the timeout the last known value is reported. */
  private async readBusiness(key: keyof BusinessSource): Promise<number> {
    const source = this.business;
    if (!source) return this.lastBusiness[key];
    const v = await withTimeout(source[key](), SCRAPE_TIMEOUT_MS);
    if (v !== null) this.lastBusiness[key] = v;
    return this.lastBusiness[key];
  }

  observeRequest(method: string, route: string, status: number, seconds: number): void {
    this.http.observe(method, route, status, seconds);
    const t = this.totals;
    t.requests++;
    t.durationSum += seconds;
    if (status >= 500) t.errors++;
  }

  cacheHit(cache: CacheName): void {
    this.cacheCounts[cache].hits++;
    this.totals.cacheHits++;
  }

  cacheMiss(cache: CacheName): void {
    this.cacheCounts[cache].misses++;
    this.totals.cacheMisses++;
  }

  observeQuery(operation: DbOperation, seconds: number): void {
    this.dbQueryDuration.observe({ operation }, seconds);
  }

  async summary(): Promise<MetricsSummary> {
    const [activeUsers, productsInStock, ordersToday] = await Promise.all([
      this.readBusiness('activeUsers'),
      this.readBusiness('productsInStock'),
      this.readBusiness('ordersToday'),
    ]);
    const t = this.totals;
    // Over the last minute, not since start: a ratio since start hides a collapse for hours.
    const from = this.cacheSnapshots[0]!;
    const hits = t.cacheHits - from.hits;
    const lookups = hits + t.cacheMisses - from.misses;
    const round = (n: number) => Math.round(n * 10000) / 10000;
    return {
      http_requests_total: t.requests,
      active_users: activeUsers,
      products_in_stock: productsInStock,
      orders_today: ordersToday,
      cache_hit_ratio: lookups === 0 ? 0 : round(hits / lookups),
      response_time_avg: t.requests === 0 ? 0 : round(t.durationSum / t.requests),
      error_rate: t.requests === 0 ? 0 : round(t.errors / t.requests),
    };
  }
}
