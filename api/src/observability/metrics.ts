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

interface HttpChild {
  counter: ReturnType<Counter<'method' | 'route' | 'status_code'>['labels']>;
  histogram: ReturnType<Histogram<'method' | 'route' | 'status_code'>['labels']>;
}

const SCRAPE_TIMEOUT_MS = 1000;

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
  readonly httpRequests: Counter<'method' | 'route' | 'status_code'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status_code'>;
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
  /** Label children bound once: no label hashing per request. */
  private readonly children = new Map<string, HttpChild>();
  private readonly cacheChildren: Record<CacheName, { hit: { inc(): void }; miss: { inc(): void } }>;
  // Plain numbers for the JSON summary, so it needs no registry walk.
  private totals = { requests: 0, errors: 0, durationSum: 0, cacheHits: 0, cacheMisses: 0 };
  private lastBusiness = { productsInStock: 0, ordersToday: 0, activeUsers: 0 };

  constructor(version: string) {
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry });
    this.httpRequests = new client.Counter({
      name: 'http_requests_total',
      help: 'HTTP requests answered, by method, route template and status code',
      labelNames: ['method', 'route', 'status_code'],
      registers,
    });
    this.httpDuration = new client.Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration in seconds, by method, route template and status code',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    const inFlight: Gauge = new client.Gauge({
      name: 'http_requests_in_flight',
      help: 'HTTP requests being processed',
      registers,
      collect: () => inFlight.set(this.inFlight),
    });
    this.cacheHits = new client.Counter({ name: 'cache_hits_total', help: 'Cache hits', labelNames: ['cache'], registers });
    this.cacheMisses = new client.Counter({ name: 'cache_misses_total', help: 'Cache misses', labelNames: ['cache'], registers });
    for (const cache of ['products_list', 'product'] as const) {
      this.cacheHits.inc({ cache }, 0);
      this.cacheMisses.inc({ cache }, 0);
    }
    const bind = (cache: CacheName) => ({ hit: this.cacheHits.labels({ cache }), miss: this.cacheMisses.labels({ cache }) });
    this.cacheChildren = { products_list: bind('products_list'), product: bind('product') };
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
    const key = `${method} ${status} ${route}`;
    let child = this.children.get(key);
    if (child === undefined) {
      const labels = { method, route, status_code: String(status) };
      child = { counter: this.httpRequests.labels(labels), histogram: this.httpDuration.labels(labels) };
      this.children.set(key, child);
    }
    child.counter.inc();
    child.histogram.observe(seconds);
    const t = this.totals;
    t.requests++;
    t.durationSum += seconds;
    if (status >= 500) t.errors++;
  }

  cacheHit(cache: CacheName): void {
    this.cacheChildren[cache].hit.inc();
    this.totals.cacheHits++;
  }

  cacheMiss(cache: CacheName): void {
    this.cacheChildren[cache].miss.inc();
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
    const lookups = t.cacheHits + t.cacheMisses;
    const round = (n: number) => Math.round(n * 10000) / 10000;
    return {
      http_requests_total: t.requests,
      active_users: activeUsers,
      products_in_stock: productsInStock,
      orders_today: ordersToday,
      cache_hit_ratio: lookups === 0 ? 0 : round(t.cacheHits / lookups),
      response_time_avg: t.requests === 0 ? 0 : round(t.durationSum / t.requests),
      error_rate: t.requests === 0 ? 0 : round(t.errors / t.requests),
    };
  }
}
