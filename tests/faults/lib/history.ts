// A recording load client for the fault suite (Jepsen-style): a steady open-model mix of catalogue
// reads, cart writes, orders with an Idempotency-Key and cancellations through the proxy. Every
// attempt is recorded as invoked, then ok, failed (an answer) or unknown (no answer: reset or
// timeout). It never retries, except what a careful shop client does: a POST /orders whose answer
// was lost (no answer, or 502/504 from the proxy) is sent again with the same Idempotency-Key.
import https from 'node:https';
import { randomUUID } from 'node:crypto';

export type Kind = 'read' | 'cart' | 'order' | 'cancel';

export interface Attempt {
  seq: number;
  kind: Kind;
  method: string;
  path: string;
  user: number;
  key?: string;
  attempt: number;
  /** ms since the load started. */
  start: number;
  end: number;
  status?: number;
  error?: string;
  retryAfter?: string;
  contentType?: string;
  /** Order id of a 201 (or of the order a cancel named). */
  orderId?: number;
  /** The start of the body of an answer that is not a success (a problem's detail says why). */
  detail?: string;
  items?: Array<{ product_id: number; quantity: number }>;
}

export interface Shopper {
  id: number;
  token: string;
}

export interface LoadOptions {
  host: string;
  port: number;
  rate: number;
  shoppers: readonly Shopper[];
  productIds: readonly number[];
  /** The client's own time-out per attempt. */
  timeoutMs?: number;
  maxInFlight?: number;
}

/** Statuses an answer may have without counting as failed (a 409 cancel of an order already cancelled never happens: each order is cancelled once). */
const OK: Record<Kind, readonly number[]> = { read: [200], cart: [200], order: [201], cancel: [200] };
/** The proxy could not get the API's answer: the POST may or may not have happened. */
const LOST = new Set([502, 504]);
const ORDER_ATTEMPTS = 6;

export class RecordingLoad {
  readonly attempts: Attempt[] = [];
  private readonly agent: https.Agent;
  private timer: NodeJS.Timeout | undefined;
  private t0 = 0;
  private inFlight = 0;
  private seq = 0;
  skipped = 0;
  private readonly pending = new Set<Promise<void>>();
  /** Orders acknowledged (201), per shopper, not yet cancelled: what the cancels pick from. */
  private readonly open = new Map<number, number[]>();
  private rate: number;

  constructor(private readonly opts: LoadOptions) {
    this.rate = opts.rate;
    this.agent = new https.Agent({ keepAlive: true, maxSockets: 64, rejectUnauthorized: false });
  }

  /** ms since start. */
  now(): number {
    return performance.now() - this.t0;
  }

  setRate(rate: number): void {
    this.rate = rate;
  }

  start(): void {
    this.t0 = performance.now();
    let credit = 0;
    let last = performance.now();
    this.timer = setInterval(() => {
      const now = performance.now();
      credit += (this.rate * (now - last)) / 1000;
      last = now;
      while (credit >= 1) {
        credit -= 1;
        if (this.inFlight >= (this.opts.maxInFlight ?? 400)) {
          this.skipped += 1;
          continue;
        }
        const p = this.one(this.seq++);
        this.pending.add(p);
        void p.finally(() => this.pending.delete(p));
      }
    }, 5);
  }

  async stop(): Promise<Attempt[]> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.all([...this.pending]);
    this.agent.destroy();
    return this.attempts;
  }

  private async one(seq: number): Promise<void> {
    const shopper = this.opts.shoppers[seq % this.opts.shoppers.length]!;
    const product = this.opts.productIds[Math.floor(seq / this.opts.shoppers.length) % this.opts.productIds.length]!;
    const slot = seq % 10;
    this.inFlight += 1;
    try {
      if (slot < 5) {
        await this.send({ seq, kind: 'read', method: 'GET', path: slot % 2 === 0 ? '/products?limit=5' : `/products/${product}`, user: shopper.id, attempt: 1 }, shopper);
      } else if (slot < 7) {
        await this.send({ seq, kind: 'cart', method: 'POST', path: '/cart/add', user: shopper.id, attempt: 1 }, shopper, { product_id: product, quantity: 1 });
      } else if (slot < 9 || !this.open.get(shopper.id)?.length) {
        const items = [{ product_id: product, quantity: 1 + (seq % 3) }];
        const key = randomUUID();
        for (let attempt = 1; attempt <= ORDER_ATTEMPTS; attempt += 1) {
          const a = await this.send({ seq, kind: 'order', method: 'POST', path: '/orders', user: shopper.id, key, attempt, items }, shopper, { items });
          const lost = a.status === undefined || LOST.has(a.status);
          if (!lost) break;
          await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
        }
      } else {
        const list = this.open.get(shopper.id)!;
        const orderId = list.shift()!;
        await this.send({ seq, kind: 'cancel', method: 'POST', path: `/orders/${orderId}/cancel`, user: shopper.id, attempt: 1, orderId }, shopper);
      }
    } finally {
      this.inFlight -= 1;
    }
  }

  private send(a: Omit<Attempt, 'start' | 'end'>, shopper: Shopper, body?: unknown): Promise<Attempt> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const rec: Attempt = { ...a, start: this.now(), end: 0 };
    this.attempts.push(rec);
    return new Promise((resolve) => {
      const done = () => {
        rec.end = this.now();
        resolve(rec);
      };
      const req = https.request(
        {
          host: this.opts.host,
          port: this.opts.port,
          method: a.method,
          path: a.path,
          agent: this.agent,
          timeout: this.opts.timeoutMs ?? 10_000,
          headers: {
            accept: 'application/json',
            authorization: `Bearer ${shopper.token}`,
            ...(a.key ? { 'idempotency-key': a.key } : {}),
            ...(payload ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (e) => {
            rec.error = `response: ${e.message}`;
            done();
          });
          res.on('end', () => {
            rec.status = res.statusCode ?? 0;
            rec.contentType = String(res.headers['content-type'] ?? '');
            if (res.headers['retry-after']) rec.retryAfter = String(res.headers['retry-after']);
            if (!OK[a.kind].includes(rec.status)) rec.detail = Buffer.concat(chunks).toString('utf8').slice(0, 300);
            if (a.kind === 'order' && rec.status === 201) {
              try {
                rec.orderId = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id: number }).id;
                const list = this.open.get(a.user) ?? [];
                list.push(rec.orderId);
                this.open.set(a.user, list);
              } catch {
                rec.error = 'a 201 without an order in its body';
              }
            }
            done();
          });
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${this.opts.timeoutMs ?? 10_000} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', (e: NodeJS.ErrnoException) => {
        if (rec.end) return;
        rec.error = `${e.code ?? 'error'}: ${e.message}`;
        done();
      });
      req.end(payload);
    });
  }
}

export function succeeded(a: Attempt): boolean {
  return a.status !== undefined && OK[a.kind].includes(a.status);
}

export interface Summary {
  sent: number;
  ok: number;
  /** By status ("503", "reset", "timeout"). */
  failed: Record<string, number>;
  /** Longest stretch (ms) in which no request succeeded, while requests were being sent. */
  longestGapMs: number;
  p99Ms: number;
  ratePerSecond: number;
  /** Slowest attempt (ms), answer or not. */
  slowestMs: number;
  retriedOrders: number;
}

function failureLabel(a: Attempt): string {
  if (a.status !== undefined) return String(a.status);
  return /ETIMEDOUT/.test(a.error ?? '') ? 'timeout' : /ECONNRESET|hang up/.test(a.error ?? '') ? 'reset' : /ECONNREFUSED/.test(a.error ?? '') ? 'refused' : 'error';
}

export function p99(attempts: readonly Attempt[]): number {
  const d = attempts.filter(succeeded).map((a) => a.end - a.start).sort((x, y) => x - y);
  return Math.round(d[Math.min(d.length - 1, Math.floor(d.length * 0.99))] ?? 0);
}

export function summarize(attempts: readonly Attempt[]): Summary {
  const failed: Record<string, number> = {};
  let ok = 0;
  for (const a of attempts) {
    if (succeeded(a)) ok += 1;
    else failed[failureLabel(a)] = (failed[failureLabel(a)] ?? 0) + 1;
  }
  const ends = attempts.filter(succeeded).map((a) => a.end).sort((x, y) => x - y);
  const first = Math.min(...attempts.map((a) => a.start));
  const last = Math.max(...attempts.map((a) => a.end));
  let gap = 0;
  let prev = first;
  for (const e of [...ends, last]) {
    gap = Math.max(gap, e - prev);
    prev = Math.max(prev, e);
  }
  return {
    sent: attempts.length,
    ok,
    failed,
    longestGapMs: Math.round(gap),
    p99Ms: p99(attempts),
    ratePerSecond: Math.round((attempts.length / Math.max(1, last - first)) * 10_000) / 10,
    slowestMs: Math.round(Math.max(0, ...attempts.map((a) => a.end - a.start))),
    retriedOrders: attempts.filter((a) => a.kind === 'order' && a.attempt > 1).length,
  };
}

export function describeFailures(attempts: readonly Attempt[], max = 8): string {
  return attempts
    .filter((a) => !succeeded(a))
    .slice(0, max)
    .map((a) => `${(a.start / 1000).toFixed(2)}s ${a.method} ${a.path}${a.key ? ` key ${a.key.slice(0, 8)} #${a.attempt}` : ''}: ${a.status ?? a.error}`)
    .join('\n');
}
