import Koa from 'koa';
import { bodyParser } from '@koa/bodyparser';
import type { Config } from './config.js';
import type { Logger } from './observability/logger.js';
import type { Metrics } from './observability/metrics.js';
import type { HealthService } from './domain/health.js';
import type { AppKoa, AppState } from './http/context.js';
import { RouteRegistry } from './http/registry.js';
import { errorMiddleware } from './http/middleware/errors.js';
import { requireJsonBody } from './http/middleware/body.js';
import { healthRoutes } from './http/routes/health.js';
import { metricsRoutes } from './http/routes/metrics.js';
import type { AppMiddleware } from './http/context.js';

export interface AppDeps {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  health: HealthService;
}

export interface App {
  koa: AppKoa;
  registry: RouteRegistry;
}

const pass: AppMiddleware = (_ctx, next) => next();

/** Builds the Koa application; never listens (the server and the tests call app.callback()). */
export function createApp(deps: AppDeps): App {
  const { config, logger, metrics } = deps;
  const koa = new Koa<AppState>({ proxy: config.trustProxy, env: config.environment }) as unknown as AppKoa;
  // Our error middleware reports every failure; Koa's default stderr printer would duplicate it.
  koa.silent = true;

  const registry = new RouteRegistry();
  healthRoutes(registry, deps.health);
  metricsRoutes(registry, metrics);

  const router = registry.buildRouter({ user: pass, admin: pass });

  koa.use(errorMiddleware(logger, metrics));
  koa.use(requireJsonBody());
  koa.use(bodyParser({ enableTypes: ['json'], jsonLimit: '1mb', jsonStrict: true, encoding: 'utf-8' }));
  koa.use(router.routes() as never);
  koa.use(router.allowedMethods() as never);
  return { koa, registry };
}
