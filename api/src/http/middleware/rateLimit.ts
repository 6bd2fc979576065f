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

/** The requests of one key counted together, and the store's answer for all of them. */
interface Batch {
  size: number;
  /** The counter after the whole batch (refusals included); rejects only when no store answered. */
  result: Promise<RateLimiterRes>;
  send(): void;
}

/**
 * Requests for the same key that arrive in the same event-loop turn are counted with one
 * `consume(key, n)`; request i of the batch is allowed when the counter after it is within the
 * limit, exactly as if each had been counted on its own, with one Redis call instead of n.
 * A request costs no promise of its own: it waits on its batch's and remembers its position.
 */
function batched(limiter: RateLimiterRedis, points: number): (key: string) => Promise<Verdict> {
  let pending = new Map<string, Batch>();
  const flush = () => {
    const batches = pending;
    pending = new Map();
    for (const batch of batches.values()) batch.send();
  };
  const open = (key: string): Batch => {
    const batch = { size: 0 } as Batch;
    batch.result = new Promise<RateLimiterRes>((resolve, reject) => {
      batch.send = () => {
        limiter.consume(key, batch.size).then(resolve, (err: unknown) => {
          // Over the limit, rate-limiter-flexible rejects with the counter: an answer, not a failure.
          if (err instanceof RateLimiterRes) resolve(err);
          else reject(err);
        });
      };
    });
    if (pending.size === 0) setImmediate(flush);
    pending.set(key, batch);
    return batch;
  };
  return async (key) => {
    const batch = pending.get(key) ?? open(key);
    const position = ++batch.size;
    const res = await batch.result;
    const after = res.consumedPoints - batch.size + position;
    return { allowed: after <= points, remaining: Math.max(points - after, 0), msBeforeNext: res.msBeforeNext };
  };
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

/** Points left after this request, or the 429 to answer; never rejects. */
async function count(ctx: AppContext, l: Limiter, key: string, metrics: Metrics, logger: Logger): Promise<number | DomainError> {
  let verdict: Verdict;
  try {
    verdict = await l.consume(key);
  } catch (err) {
    // Both stores failed: let the request through rather than fail closed.
    logger.warn({ err, limiter: l.name }, 'rate limiter unavailable');
    return 0;
  }
  return verdict.allowed ? verdict.remaining : rejected(ctx, l, verdict, metrics);
}

const SAFE_METHODS = new Set(['GET', 'HEAD']);
/** Clients whose points left this replica remembers at most (the map is cleared beyond it). */
const REMEMBERED_CLIENTS = 50_000;

/** Per client overall: the user id when authenticated, else the client IP (X-Forwarded-For with TRUST_PROXY). */
export function globalRateLimit(l: Limiter | null, metrics: Metrics, logger: Logger): AppMiddleware {
  if (!l) return (_ctx, next) => next();
  const limiter = l;
  // Points each client had left after its last request (this replica's view; bounded).
  const lastRemaining = new Map<string, number>();
  const remember = (key: string, left: number) => {
    if (lastRemaining.size > REMEMBERED_CLIENTS) lastRemaining.clear();
    lastRemaining.set(key, left);
  };
  const margin = Math.max(10, Math.ceil(l.points / 10));
  return async (ctx, next) => {
    if (EXEMPT.test(ctx.path)) return next();
    const key = ctx.state.user ? `u:${ctx.state.user.id}` : `ip:${ctx.ip}`;
    if (SAFE_METHODS.has(ctx.method) && (lastRemaining.get(key) ?? 0) > margin) {
      // Far from the limit, a read is served while the counter is checked: one Redis round trip
      // less. Near the limit (or after a refusal) the check comes first, so a flood does no work.
      const counted = count(ctx, limiter, key, metrics, logger);
      let failure: { err: unknown } | null = null;
      try {
        await next();
      } catch (err) {
        failure = { err };
      }
      const left = await counted;
      if (left instanceof DomainError) {
        remember(key, 0);
        throw left;
      }
      remember(key, left);
      if (failure) throw failure.err;
      return;
    }
    const left = await count(ctx, limiter, key, metrics, logger);
    if (left instanceof DomainError) {
      remember(key, 0);
      throw left;
    }
    remember(key, left);
    return next();
  };
}

/** Per IP on login and register: tighter, against credential stuffing and sign-up floods. */
export function authRateLimit(l: Limiter | null, metrics: Metrics, logger: Logger): AppMiddleware {
  if (!l) return (_ctx, next) => next();
  return async (ctx, next) => {
    const left = await count(ctx, l, `ip:${ctx.ip}`, metrics, logger);
    if (left instanceof DomainError) throw left;
    return next();
  };
}
