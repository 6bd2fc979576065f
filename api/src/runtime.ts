import type { Config } from './config.js';
import type { Logger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { createDatabase, type Database } from './data/db.js';
import { closeRedis, createRedis, waitReady, type Redis } from './data/redis.js';
import { HealthService } from './domain/health.js';
import { createApp, type App } from './app.js';

export interface Runtime {
  app: App;
  config: Config;
  metrics: Metrics;
  health: HealthService;
  database: Database;
  redis: Redis;
  cacheRedis: Redis;
  close(): Promise<void>;
}

/** Wires config -> database, Redis, services -> app. Shared by server.ts and the tests. */
export async function createRuntime(config: Config, logger: Logger): Promise<Runtime> {
  const metrics = new Metrics(config.appVersion);
  const database = createDatabase({
    url: config.databaseUrl,
    poolMax: config.databasePoolMax,
    onQuery: (op, s) => metrics.observeQuery(op, s),
  });
  metrics.setPoolStats(() => database.poolStats());
  const redis = createRedis(config.redisUrl, 'shop-api', logger);
  const cacheRedis = config.cacheRedisUrl === config.redisUrl ? redis : createRedis(config.cacheRedisUrl, 'shop-api-cache', logger);
  // Startup never waits long for Redis: without it the API serves from PostgreSQL.
  await Promise.all([waitReady(redis, 1000), waitReady(cacheRedis, 1000)]);

  const health = new HealthService(
    {
      database: () => database.db.one('SELECT 1 AS ok'),
      redis: () => redis.ping(),
    },
    config.appVersion,
  );
  const app = createApp({ config, logger, metrics, health });
  return {
    app,
    config,
    metrics,
    health,
    database,
    redis,
    cacheRedis,
    async close() {
      await Promise.all([closeRedis(redis), cacheRedis === redis ? undefined : closeRedis(cacheRedis)]);
      await database.close();
    },
  };
}
