import type { Config } from './config.js';
import type { AccessLog, Logger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { createDatabase, type Database } from './data/db.js';
import { closeRedis, createRedis, waitReady, type Redis } from './data/redis.js';
import { ProductCache } from './data/cache.js';
import { ActiveUsers, RevocationStore } from './data/sessions.js';
import { countProductsInStock } from './data/repos/products.js';
import { countOrdersToday } from './data/repos/stats.js';
import { purgeExpiredRevocations } from './data/repos/revokedTokens.js';
import { purgeOldKeys } from './data/repos/idempotency.js';
import { HealthService } from './domain/health.js';
import { AuthService } from './domain/auth.js';
import { CatalogService } from './domain/catalog.js';
import { CartService } from './domain/cart.js';
import { OrderService } from './domain/orders.js';
import { AdminService } from './domain/admin.js';
import { createLimiter, globalReserve } from './http/middleware/rateLimit.js';
import { createApp, type App, type Services } from './app.js';

export interface Runtime {
  app: App;
  config: Config;
  metrics: Metrics;
  services: Services;
  database: Database;
  redis: Redis;
  cacheRedis: Redis;
  close(): Promise<void>;
}

export const CACHE_TTL_SECONDS = 300;
/** A product id that does not exist is remembered this long (a product created with that id clears it at once). */
export const CACHE_NEGATIVE_TTL_SECONDS = 10;
/** With ~30 KB for a full page of products, at most ~30 MB of cache in a noeviction Redis. */
export const CACHE_MAX_ENTRIES = 1000;
/** Per replica, in process memory, in front of Redis. */
export const CACHE_LOCAL_MAX_BYTES = 16 * 1024 * 1024;
const HOUSEKEEPING_EVERY_MS = 60 * 60_000;

/** Wires config -> database, Redis, services -> app. Shared by server.ts and the tests. */
export async function createRuntime(config: Config, logger: Logger, accessLog?: AccessLog): Promise<Runtime> {
  const metrics = new Metrics(config.appVersion);
  const database = createDatabase({
    url: config.databaseUrl,
    poolMax: config.databasePoolMax,
    poolTimeoutMs: config.databasePoolTimeoutMs,
    onQuery: (op, s) => metrics.observeQuery(op, s),
  });
  const { db } = database;
  metrics.setPoolStats(() => database.poolStats());
  const redis = createRedis(config.redisUrl, 'shop-api', logger);
  // The cache's change check (one call at a time) and the rate-limit counts (at most one per client
  // and event-loop turn) already batch requests: their own connections send them at once, without autopipelining.
  const cacheRedis = createRedis(config.cacheRedisUrl, 'shop-api-cache', logger, { autoPipelining: false });
  const limitsRedis = createRedis(config.redisUrl, 'shop-api-limits', logger, { autoPipelining: false });
  // Startup never waits long for Redis: without it the API serves from PostgreSQL.
  await Promise.all([waitReady(redis, 1000), waitReady(cacheRedis, 1000), waitReady(limitsRedis, 1000)]);

  const prefix = config.redisKeyPrefix;
  const cache = new ProductCache(cacheRedis, prefix, { ttlSeconds: CACHE_TTL_SECONDS, negativeTtlSeconds: CACHE_NEGATIVE_TTL_SECONDS, maxEntries: CACHE_MAX_ENTRIES, localMaxBytes: CACHE_LOCAL_MAX_BYTES });
  if (cacheRedis.status === 'ready') await cache.invalidateAll();
  const activeUsers = new ActiveUsers(redis, prefix);
  const catalog = new CatalogService(db, cache, metrics);
  const services: Services = {
    health: new HealthService({ database: () => db.one('SELECT 1 AS ok'), redis: () => redis.ping() }, config.appVersion),
    auth: new AuthService(db, new RevocationStore(db, redis, prefix), activeUsers, { secret: config.apiSecretKey, ttlSeconds: config.jwtTtlSeconds }),
    catalog,
    cart: new CartService(db),
    orders: new OrderService(db, {
      orderCreated(total) {
        metrics.ordersCreated.inc();
        metrics.orderRevenue.inc(Number(total));
      },
      stockChanged: (change) => catalog.stockChanged(change),
    }),
    admin: new AdminService(db),
  };
  metrics.setBusinessSource({
    productsInStock: () => countProductsInStock(db),
    ordersToday: () => countOrdersToday(db),
    activeUsers: () => activeUsers.count(),
  });
  const limiters = {
    auth: createLimiter('auth', config.rateLimitAuthPerMinute, limitsRedis, prefix),
    global: createLimiter('global', config.rateLimitPerMinute, limitsRedis, prefix, globalReserve(config.rateLimitPerMinute)),
  };
  const app = createApp({ config, logger, accessLog, metrics, services, limiters });

  const housekeeping = setInterval(() => {
    Promise.all([purgeExpiredRevocations(db), purgeOldKeys(db)]).catch((err: unknown) => logger.warn({ err }, 'housekeeping failed'));
  }, HOUSEKEEPING_EVERY_MS);
  housekeeping.unref();

  return {
    app,
    config,
    metrics,
    services,
    database,
    redis,
    cacheRedis,
    async close() {
      clearInterval(housekeeping);
      await Promise.all([closeRedis(redis), closeRedis(cacheRedis), closeRedis(limitsRedis)]);
      await database.close();
    },
  };
}
