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

/** Points left after the consume, or null when refused. */
async function consume(ctx: AppContext, l: Limiter, key: string, metrics: Metrics, logger: Logger): Promise<number> {
  try {
    const res = await l.limiter.consume(key);
    return res.remainingPoints;
  } catch (res) {
    if (res instanceof RateLimiterRes) throw rejected(ctx, l, res, metrics);
    // Both stores failed: let the request through rather than fail closed.
    logger.warn({ err: res, limiter: l.name }, 'rate limiter unavailable');
    return 0;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD']);

/** Per client overall: the user id when authenticated, else the client IP (X-Forwarded-For with TRUST_PROXY). */
export function globalRateLimit(l: Limiter | null, metrics: Metrics, logger: Logger): AppMiddleware {
  if (!l) return (_ctx, next) => next();
  const limiter = l;
  // Points each client had left after its last request (this replica's view; bounded).
  const lastRemaining = new Map<string, number>();
  const margin = Math.max(10, Math.ceil(l.points / 10));
  return async (ctx, next) => {
    if (EXEMPT.test(ctx.path)) return next();
    const key = ctx.state.user ? `u:${ctx.state.user.id}` : `ip:${ctx.ip}`;
    const remember = (left: number) => {
      if (lastRemaining.size > 50_000) lastRemaining.clear();
      lastRemaining.set(key, left);
    };
    if (SAFE_METHODS.has(ctx.method) && (lastRemaining.get(key) ?? 0) > margin) {
      // Far from the limit, a read is served while the counter is checked: one Redis round trip
      // less. Near the limit (or after a refusal) the check comes first, so a flood does no work.
      const verdict = consume(ctx, limiter, key, metrics, logger).then(
        (left) => ({ left, refusal: null }),
        (refusal: unknown) => ({ left: 0, refusal }),
      );
      const served = next().then(
        () => null,
        (err: unknown) => ({ err }),
      );
      const [{ left, refusal }, failure] = await Promise.all([verdict, served]);
      remember(left);
      if (refusal) throw refusal;
      if (failure) throw failure.err;
      return;
    }
    try {
      remember(await consume(ctx, limiter, key, metrics, logger));
    } catch (err) {
      remember(0);
      throw err;
    }
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
