import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Redis } from 'ioredis';
import { DomainError } from '../../domain/errors.js';
import type { LimiterName, Metrics } from '../../observability/metrics.js';
import type { Logger } from '../../observability/logger.js';
import type { AppContext, AppMiddleware } from '../context.js';

export interface Limiter {
  name: LimiterName;
  points: number;
  limiter: RateLimiterRedis;
}

/**
 * A per-minute limiter in Redis (shared by all replicas) with a per-replica in-memory limiter as
 * insurance while Redis is down. null when the limit is 0 (off).
 */
export function createLimiter(name: LimiterName, perMinute: number, redis: Redis, prefix: string): Limiter | null {
  if (perMinute <= 0) return null;
  const limiter = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `${prefix}rl:${name}`,
    points: perMinute,
    duration: 60,
    rejectIfRedisNotReady: true,
    insuranceLimiter: new RateLimiterMemory({ keyPrefix: `${prefix}rl:${name}:mem`, points: perMinute, duration: 60 }),
  });
  return { name, points: perMinute, limiter };
}

const EXEMPT = /^\/(health(\/|$)|metrics$)/;

function rejected(ctx: AppContext, l: Limiter, res: RateLimiterRes, metrics: Metrics): DomainError {
  const retryAfter = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
  ctx.set('Retry-After', String(retryAfter));
  ctx.set('RateLimit-Limit', String(l.points));
  ctx.set('RateLimit-Remaining', '0');
  ctx.set('RateLimit-Reset', String(retryAfter));
  metrics.rateLimited.inc({ limiter: l.name });
  return new DomainError('rate_limited', `too many requests: at most ${l.points} per minute${l.name === 'auth' ? ' on login and register per IP' : ''}; retry in ${retryAfter} s`);
}

async function consume(ctx: AppContext, l: Limiter, key: string, metrics: Metrics, logger: Logger): Promise<void> {
  try {
    await l.limiter.consume(key);
  } catch (res) {
    if (res instanceof RateLimiterRes) throw rejected(ctx, l, res, metrics);
    // Both stores failed: let the request through rather than fail closed.
    logger.warn({ err: res, limiter: l.name }, 'rate limiter unavailable');
  }
}

/** Per client overall: the user id when authenticated, else the client IP (X-Forwarded-For with TRUST_PROXY). */
export function globalRateLimit(l: Limiter | null, metrics: Metrics, logger: Logger): AppMiddleware {
  if (!l) return (_ctx, next) => next();
  return async (ctx, next) => {
    if (EXEMPT.test(ctx.path)) return next();
    await consume(ctx, l, ctx.state.user ? `u:${ctx.state.user.id}` : `ip:${ctx.ip}`, metrics, logger);
    return next();
  };
}

/** Per IP on login and register: tighter, against credential stuffing and sign-up floods. */
export function authRateLimit(l: Limiter | null, metrics: Metrics, logger: Logger): AppMiddleware {
  if (!l) return (_ctx, next) => next();
  return async (ctx, next) => {
    await consume(ctx, l, `ip:${ctx.ip}`, metrics, logger);
    return next();
  };
}
