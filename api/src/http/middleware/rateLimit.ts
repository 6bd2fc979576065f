import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Redis } from 'ioredis';
import { DomainError } from '../../domain/errors.js';
import type { LimiterName, Metrics } from '../../observability/metrics.js';
import type { Logger } from '../../observability/logger.js';
import type { AppContext, AppMiddleware } from '../context.js';

/** The answer for one batch: its first `passed` requests pass, the others are refused. */
export interface Grant {
  passed: number;
  /** ms until the client's window resets (for Retry-After). */
  msBeforeNext: number;
}

/** The requests of one client that waited for the store together; rejects only when no store (Redis nor memory) answered. */
export interface Batch {
  size: number;
  result: Promise<Grant>;
}

/** One request's place in its batch. */
export interface Ticket {
  batch: Batch;
  position: number;
}

/**
 * One client's points as this replica holds them: counted in the store (and so unavailable to
 * every other replica) but not used here yet. Spending them needs no store round trip.
 */
class Allowance {
  constructor(readonly key: string) {}
  left = 0;
  /** Local time before which `left` is certainly still inside the store's window. */
  until = 0;
  /** The store refused part of a batch: the window is used up until then. */
  blockedUntil = 0;
  /** Requests waiting for the next consume. */
  next: { batch: Batch; resolve: (g: Grant) => void; reject: (err: unknown) => void } | null = null;
  /** A consume is in flight: later requests wait for its answer (they may be served from its reservation). */
  busy = false;
}

export interface Limiter {
  name: LimiterName;
  points: number;
  limiter: RateLimiterRedis;
  /** null: admitted now from this replica's reservation; else the batch whose grant decides. */
  admit(key: string): Ticket | null;
}

/** Clients whose reservations this replica remembers at most (the map is cleared beyond it: reserved points are only lost). */
const REMEMBERED_CLIENTS = 50_000;

/**
 * Exact by construction: a request is served only with a point the store (Redis, shared by all
 * replicas; the in-memory insurance limiter while Redis is down) has already counted for it.
 * Requests of one client that find no reserved point wait together for one `consume(key, n + reserve)`:
 * the store grants what is left of the window, the batch's first requests take their points and
 * the rest, up to `reserve`, stays with this replica for the client's next requests, which then
 * pass with no round trip. So a client never gets more than `points` per window, whatever the
 * concurrency and the number of replicas; with N replicas it may be refused while up to
 * `reserve` of its points sit unused on each of the N - 1 others.
 */
function reserving(limiter: RateLimiterRedis, points: number, reserve: number): (key: string) => Ticket | null {
  const clients = new Map<string, Allowance>();
  let due: Allowance[] = [];

  const flush = (a: Allowance) => {
    const pending = a.next!;
    a.next = null;
    const now = Date.now();
    let local = 0;
    if (a.until > now) local = Math.min(a.left, pending.batch.size);
    a.left -= local;
    const need = pending.batch.size - local;
    if (need === 0) return pending.resolve({ passed: local, msBeforeNext: a.until - now });
    // The window is used up: nothing can free a point in it, on any replica.
    if (a.blockedUntil > now) return pending.resolve({ passed: local, msBeforeNext: a.blockedUntil - now });
    const ask = need + reserve;
    a.busy = true;
    const answered = (res: RateLimiterRes) => {
      const granted = Math.min(ask, Math.max(0, points - (res.consumedPoints - ask)));
      const passed = Math.min(granted, need);
      // msBeforeNext was measured by the store after `now`: the reservation ends no later than the window.
      a.until = now + res.msBeforeNext;
      a.left = granted - passed;
      if (passed < need) a.blockedUntil = a.until;
      pending.resolve({ passed: local + passed, msBeforeNext: res.msBeforeNext });
    };
    limiter
      .consume(a.key, ask)
      .then(answered, (err: unknown) => {
        // Over the limit, rate-limiter-flexible rejects with the counter: an answer, not a failure.
        if (err instanceof RateLimiterRes) answered(err);
        else pending.reject(err);
      })
      .finally(() => {
        a.busy = false;
        if (a.next) flush(a);
      });
  };
  const flushDue = () => {
    const batch = due;
    due = [];
    for (const a of batch) if (!a.busy && a.next) flush(a);
  };

  return (key) => {
    let a = clients.get(key);
    if (a === undefined) {
      if (clients.size >= REMEMBERED_CLIENTS) clients.clear();
      a = new Allowance(key);
      clients.set(key, a);
    }
    if (a.left > 0 && a.next === null && a.until > Date.now()) {
      a.left--;
      return null;
    }
    if (a.next === null) {
      let resolve!: (g: Grant) => void;
      let reject!: (err: unknown) => void;
      const batch: Batch = { size: 0, result: new Promise<Grant>((res, rej) => ((resolve = res), (reject = rej))) };
      a.next = { batch, resolve, reject };
      if (!a.busy) {
        if (due.length === 0) setImmediate(flushDue);
        due.push(a);
      }
    }
    return { batch: a.next.batch, position: ++a.next.batch.size };
  };
}

/**
 * A per-minute limiter in Redis (shared by all replicas) with a per-replica in-memory limiter as
 * insurance while Redis is down. null when the limit is 0 (off). `reserve`: points a replica may
 * hold for a client beyond what its waiting requests need.
 */
export function createLimiter(name: LimiterName, perMinute: number, redis: Redis, prefix: string, reserve = 0): Limiter | null {
  if (perMinute <= 0) return null;
  const limiter = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `${prefix}rl:${name}`,
    points: perMinute,
    duration: 60,
    rejectIfRedisNotReady: true,
    insuranceLimiter: new RateLimiterMemory({ keyPrefix: `${prefix}rl:${name}:mem`, points: perMinute, duration: 60 }),
  });
  return { name, points: perMinute, limiter, admit: reserving(limiter, perMinute, Math.max(0, Math.floor(reserve))) };
}

/** Points the global limiter reserves per client and replica: 5 % of the limit (one store call per that many requests). */
export function globalReserve(perMinute: number): number {
  return Math.floor(perMinute / 20);
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

/** Waits for the ticket's batch; throws the 429, or lets the request through when no store answered (fail open). */
function decide(ctx: AppContext, l: Limiter, t: Ticket, metrics: Metrics, logger: Logger): Promise<void> {
  return t.batch.result.then(
    (grant) => {
      if (t.position > grant.passed) throw rejected(ctx, l, grant.msBeforeNext, metrics);
    },
    (err: unknown) => {
      logger.warn({ err, limiter: l.name }, 'rate limiter unavailable');
    },
  );
}

/** Per client overall: the user id when authenticated, else the client IP (X-Forwarded-For with TRUST_PROXY). */
export function globalRateLimit(l: Limiter | null, metrics: Metrics, logger: Logger): AppMiddleware {
  if (!l) return (_ctx, next) => next();
  const limiter = l;
  return (ctx, next) => {
    if (EXEMPT.test(ctx.path)) return next();
    const ticket = limiter.admit(ctx.state.user ? `u:${ctx.state.user.id}` : `ip:${ctx.ip}`);
    // A point this replica already holds: served with no round trip.
    if (ticket === null) return next();
    return decide(ctx, limiter, ticket, metrics, logger).then(next);
  };
}

/** Per IP on login and register: tighter, against credential stuffing and sign-up floods. */
export function authRateLimit(l: Limiter | null, metrics: Metrics, logger: Logger): AppMiddleware {
  if (!l) return (_ctx, next) => next();
  const limiter = l;
  return (ctx, next) => {
    const ticket = limiter.admit(`ip:${ctx.ip}`);
    if (ticket === null) return next();
    return decide(ctx, limiter, ticket, metrics, logger).then(next);
  };
}
