import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Redis } from 'ioredis';
import { DomainError } from '../../domain/errors.js';
import type { LimiterName, Metrics } from '../../observability/metrics.js';
import type { Logger } from '../../observability/logger.js';
import type { AppContext, AppMiddleware } from '../context.js';

export interface Verdict {
  allowed: boolean;
  remaining: number;
  msBeforeNext: number;
}

export interface Limiter {
  name: LimiterName;
  points: number;
  limiter: RateLimiterRedis;
  /** Counts one request for `key`; rejects only when no store (Redis nor memory) answered. */
  consume(key: string): Promise<Verdict>;
}

interface Waiter {
  resolve: (v: Verdict) => void;
  reject: (err: unknown) => void;
}

/**
 * Requests for the same key that arrive in the same event-loop turn are counted with one
 * `consume(key, n)`; request i of the batch is allowed when the counter after it is within the
 * limit, exactly as if each had been counted on its own, with one Redis call instead of n.
 */
function batched(limiter: RateLimiterRedis, points: number): (key: string) => Promise<Verdict> {
  let pending = new Map<string, Waiter[]>();
  let scheduled = false;
  const settle = (res: RateLimiterRes, waiters: Waiter[]) => {
    const before = res.consumedPoints - waiters.length;
    waiters.forEach((w, i) => {
      const after = before + i + 1;
      w.resolve({ allowed: after <= points, remaining: Math.max(points - after, 0), msBeforeNext: res.msBeforeNext });
    });
  };
  const flush = () => {
    scheduled = false;
    const batch = pending;
    pending = new Map();
    for (const [key, waiters] of batch) {
      limiter.consume(key, waiters.length).then(
        (res) => settle(res, waiters),
        (err: unknown) => (err instanceof RateLimiterRes ? settle(err, waiters) : waiters.forEach((w) => w.reject(err))),
      );
    }
  };
  return (key) =>
    new Promise<Verdict>((resolve, reject) => {
      const waiters = pending.get(key);
      if (waiters) waiters.push({ resolve, reject });
      else pending.set(key, [{ resolve, reject }]);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    });
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
  return { name, points: perMinute, limiter, consume: batched(limiter, perMinute) };
}

const EXEMPT = /^\/(health(\/|$)|metrics$)/;

function rejected(ctx: AppContext, l: Limiter, res: Verdict, metrics: Metrics): DomainError {
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
  let verdict: Verdict;
  try {
    verdict = await l.consume(key);
  } catch (err) {
    // Both stores failed: let the request through rather than fail closed.
    logger.warn({ err, limiter: l.name }, 'rate limiter unavailable');
    return 0;
  }
  if (!verdict.allowed) throw rejected(ctx, l, verdict, metrics);
  return verdict.remaining;
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
