import Koa from 'koa';
import { bodyParser } from '@koa/bodyparser';
import type { Config } from './config.js';
import type { AccessLog, Logger } from './observability/logger.js';
import type { Metrics } from './observability/metrics.js';
import type { HealthService } from './domain/health.js';
import type { AuthService } from './domain/auth.js';
import type { CatalogService } from './domain/catalog.js';
import type { CartService } from './domain/cart.js';
import type { OrderService } from './domain/orders.js';
import type { AdminService } from './domain/admin.js';
import type { AppKoa, AppMiddleware, AppState } from './http/context.js';
import { RouteRegistry } from './http/registry.js';
import { buildOpenApi } from './http/openapi.js';
import { errorMiddleware } from './http/middleware/errors.js';
import { requireJsonBody } from './http/middleware/body.js';
import { authenticate, requireAdmin, requireUser } from './http/middleware/auth.js';
import { authRateLimit, globalRateLimit, type Limiter } from './http/middleware/rateLimit.js';
import { healthRoutes } from './http/routes/health.js';
import { metricsRoutes } from './http/routes/metrics.js';
import { authRoutes } from './http/routes/auth.js';
import { productRoutes } from './http/routes/products.js';
import { cartRoutes } from './http/routes/cart.js';
import { orderRoutes } from './http/routes/orders.js';
import { adminRoutes } from './http/routes/admin.js';
import { docsRoutes } from './http/routes/docs.js';

export interface Services {
  health: HealthService;
  auth: AuthService;
  catalog: CatalogService;
  cart: CartService;
  orders: OrderService;
  admin: AdminService;
}

export interface AppDeps {
  config: Config;
  logger: Logger;
  /** Request lines; default: through logger. */
  accessLog?: AccessLog;
  metrics: Metrics;
  services: Services;
  limiters: { auth: Limiter | null; global: Limiter | null };
}

export interface App {
  koa: AppKoa;
  registry: RouteRegistry;
}

/** Builds the Koa application; never listens (the server and the tests call app.koa.callback()). */
export function createApp(deps: AppDeps): App {
  const { config, logger, metrics, services } = deps;
  const koa = new Koa<AppState>({ proxy: config.trustProxy, env: config.environment }) as unknown as AppKoa;
  // The error middleware logs every failure once; Koa's default stderr printer would duplicate it.
  koa.silent = true;

  const registry = new RouteRegistry();
  healthRoutes(registry, services.health, logger);
  metricsRoutes(registry, metrics);
  authRoutes(registry, services.auth, authRateLimit(deps.limiters.auth, metrics, logger));
  productRoutes(registry, services.catalog);
  cartRoutes(registry, services.cart);
  orderRoutes(registry, services.orders, services.auth);
  adminRoutes(registry, services.admin);
  docsRoutes(registry, () => buildOpenApi(registry, { version: config.appVersion }));
  const router = registry.buildRouter({
    user: requireUser,
    admin: requireAdmin(services.auth),
    body: [requireJsonBody() as AppMiddleware, bodyParser({ enableTypes: ['json'], jsonLimit: '1mb', jsonStrict: true, encoding: 'utf-8' }) as AppMiddleware],
  });

  koa.use(errorMiddleware(logger, metrics, deps.accessLog, { reads: config.accessLogReads }));
  koa.use(authenticate(services.auth, config.apiSecretKey) as never);
  koa.use(globalRateLimit(deps.limiters.global, metrics, logger) as never);
  koa.use(router as never);
  return { koa, registry };
}
