import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Redis } from 'ioredis';
import { DomainError } from '../../domain/errors.js';
import type { LimiterName, Metrics } from '../../observability/metrics.js';
import type { Logger } from '../../observability/logger.js';
import type { AppContext, AppMiddleware } from '../context.js';

/** The requests of one key counted together in one event-loop turn, and the store's answer for all of them. */
export interface Batch {
  size: number;
  /** The counter after the whole batch (refusals included); rejects only when no store (Redis nor memory) answered. */
  result: Promise<RateLimiterRes>;
}

/** One request's place in its batch: it is allowed when the counter after it is within the limit. */
export interface Ticket {
  batch: Batch;
  position: number;
}

export interface Limiter {
  name: LimiterName;
  points: number;
  limiter: RateLimiterRedis;
  /** Counts one request for `key`; the verdict comes with the batch's result (sent this event-loop turn). */
  take(key: string): Ticket;
  /** The same, for a request already served: its batch is sent within DEFERRED_FLUSH_MS. */
  takeLater(key: string): Ticket;
}

/** How long counts of reads served far from the limit gather before one Redis call per client. */
const DEFERRED_FLUSH_MS = 20;

/**
 * Requests for the same key that arrive in the same event-loop turn are counted with one
 * `consume(key, n)`; request i of the batch is allowed when the counter after it is within the
 * limit, exactly as if each had been counted on its own, with one Redis call instead of n.
 * A request costs no promise of its own: it waits on its batch's and keeps its position.
 */
function batched(limiter: RateLimiterRedis, delayMs = 0): (key: string) => Ticket {
  let pending = new Map<string, { batch: Batch; send: () => void }>();
  const flush = () => {
    const batches = pending;
    pending = new Map();
    for (const { send } of batches.values()) send();
  };
  const open = (key: string) => {
    const batch: Batch = { size: 0, result: undefined as never };
    let send!: () => void;
    batch.result = new Promise<RateLimiterRes>((resolve, reject) => {
      send = () => {
        limiter.consume(key, batch.size).then(resolve, (err: unknown) => {
          // Over the limit, rate-limiter-flexible rejects with the counter: an answer, not a failure.
          if (err instanceof RateLimiterRes) resolve(err);
          else reject(err);
        });
      };
    });
    // Readers may await it only after serving (see globalRateLimit): a failure is theirs to handle, not unhandled.
    batch.result.catch(() => undefined);
    if (pending.size === 0) {
      if (delayMs > 0) setTimeout(flush, delayMs).unref();
      else setImmediate(flush);
    }
    const entry = { batch, send };
    pending.set(key, entry);
    return entry;
  };
  return (key) => {
    const { batch } = pending.get(key) ?? open(key);
    return { batch, position: ++batch.size };
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
  return { name, points: perMinute, limiter, take: batched(limiter), takeLater: batched(limiter, DEFERRED_FLUSH_MS) };
}

const EXEMPT = /^\/(health(\/|$)|metrics$)/;

function rejected(ctx: AppContext, l: Limiter, msBeforeNext: number, metrics: Metrics): DomainError {
  const retryAfter = Math.max(1, Math.ceil(msBeforeNext / 1000));
  ctx.set('Retry-After', String(retryAfter));
  ctx.set('RateLimit-Limit', String(l.points));
  ctx.set('RateLimit-Remaining', '0');
  ctx.set('RateLimit-Reset', String(retryAfter));
  metrics.rateLimited.inc({ limiter: l.name });
  return new DomainError('rate_limited', `too many requests: at most ${l.points} per minute${l.name === 'auth' ? ' on login and register per IP' : ''}; retry in ${retryAfter} s`);
}

/** Points left after this request (negative: over the limit) and ms until the window resets; never rejects. */
async function pointsLeft(l: Limiter, t: Ticket, logger: Logger): Promise<{ left: number; msBeforeNext: number }> {
  let res: RateLimiterRes;
  try {
    res = await t.batch.result;
  } catch (err) {
    // Both stores failed: let the request through rather than fail closed.
    logger.warn({ err, limiter: l.name }, 'rate limiter unavailable');
    return { left: 0, msBeforeNext: 0 };
  }
  return { left: l.points - (res.consumedPoints - t.batch.size + t.position), msBeforeNext: res.msBeforeNext };
}

/** Points left after this request, or the 429 to answer; never rejects. */
async function verdict(ctx: AppContext, l: Limiter, t: Ticket, metrics: Metrics, logger: Logger): Promise<number | DomainError> {
  const { left, msBeforeNext } = await pointsLeft(l, t, logger);
  return left >= 0 ? left : rejected(ctx, l, msBeforeNext, metrics);
}

const SAFE_METHODS = new Set(['GET', 'HEAD']);
/** Clients whose points left this replica remembers at most (the map is cleared beyond it). */
const REMEMBERED_CLIENTS = 50_000;

/** Per client overall: the user id when authenticated, else the client IP (X-Forwarded-For with TRUST_PROXY). */
export function globalRateLimit(l: Limiter | null, metrics: Metrics, logger: Logger): AppMiddleware {
  if (!l) return (_ctx, next) => next();
  const limiter = l;
  // This replica's view of each client (bounded): the points it is sure are left, and its
  // requests counted but not answered yet. Answers come back in the order the counts were sent
  // (one Redis connection), so an answer reflects every count answered before it and none of
  // the pending ones: `left` never exceeds what the store holds for this replica's requests.
  const clients = new Map<string, { left: number; pending: number }>();
  const margin = Math.max(10, Math.ceil(l.points / 10));

  const count = (key: string, ticket: Ticket) => {
    let c = clients.get(key);
    if (!c) {
      if (clients.size >= REMEMBERED_CLIENTS) clients.clear();
      c = { left: 0, pending: 0 };
      clients.set(key, c);
    }
    const client = c;
    client.pending++;
    client.left--;
    return pointsLeft(limiter, ticket, logger).then((answer) => {
      client.pending--;
      client.left = answer.left - client.pending;
      return answer;
    });
  };

  return (ctx, next) => {
    if (EXEMPT.test(ctx.path)) return next();
    const key = ctx.state.user ? `u:${ctx.state.user.id}` : `ip:${ctx.ip}`;
    const known = clients.get(key);
    // Far from the limit a read is served at once and counted afterwards, with the client's other
    // reads of the next DEFERRED_FLUSH_MS: no Redis round trip in its latency, one Redis call per
    // client per flush. Exact on one replica (`left` only counts down between answers); with N
    // replicas a client can pass its limit by the reads the others serve within one flush.
    if (known !== undefined && known.left > margin && SAFE_METHODS.has(ctx.method)) {
      void count(key, limiter.takeLater(key));
      return next();
    }
    // Near the limit, after a refusal, for writes and for a client not seen yet: counted first,
    // so a flood does no work.
    return count(key, limiter.take(key)).then(({ left, msBeforeNext }) => {
      if (left < 0) throw rejected(ctx, limiter, msBeforeNext, metrics);
      return next();
    });
  };
}

/** Per IP on login and register: tighter, against credential stuffing and sign-up floods. */
export function authRateLimit(l: Limiter | null, metrics: Metrics, logger: Logger): AppMiddleware {
  if (!l) return (_ctx, next) => next();
  return async (ctx, next) => {
    const left = await verdict(ctx, l, l.take(`ip:${ctx.ip}`), metrics, logger);
    if (left instanceof DomainError) throw left;
    return next();
  };
}
