// In-process load generator for the shopctl e2e tests: a steady rate of mixed reads and
// writes through nginx's published HTTPS port, counting every request that fails.
import https from 'node:https';
import { randomUUID } from 'node:crypto';

export interface LoadRequest {
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** Status codes that count as success. */
  expect: readonly number[];
}

export interface LoadOptions {
  host: string;
  port: number;
  /** Requests per second to start (open model: they do not wait for earlier ones). */
  rate: number;
  /** Picks the next request; `i` counts from 0. */
  next: (i: number) => LoadRequest;
  /** Upper bound on concurrent requests (a stuck server must not make the test explode); beyond it requests are skipped, not sent. */
  maxInFlight?: number;
  /** Stop by itself after this long even if stop() is never called. */
  maxDurationMs?: number;
}

export interface LoadReport {
  sent: number;
  succeeded: number;
  failed: number;
  /** Requests retried once after the server closed a reused keep-alive connection before answering (as browsers do, RFC 9110 9.2.2); only idempotent ones or those with an Idempotency-Key. */
  retried: number;
  /** Not sent because maxInFlight requests were still waiting (the server stalled); they lower the rate. */
  skipped: number;
  reads: number;
  writes: number;
  durationMs: number;
  ratePerSecond: number;
  p50Ms: number;
  p99Ms: number;
  statuses: Record<string, number>;
  failures: string[];
}

const RETRYABLE = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

export class LoadGenerator {
  private readonly agent: https.Agent;
  /** Retries go out on a new connection, as browsers do: the other pooled ones may be closing too. */
  private readonly freshAgent: https.Agent;
  private timer: NodeJS.Timeout | undefined;
  private stopTimer: NodeJS.Timeout | undefined;
  private started = 0;
  private stoppedAt = 0;
  private inFlight = 0;
  private readonly pending = new Set<Promise<void>>();
  private readonly latencies: number[] = [];
  private readonly report: LoadReport = { sent: 0, succeeded: 0, failed: 0, retried: 0, skipped: 0, reads: 0, writes: 0, durationMs: 0, ratePerSecond: 0, p50Ms: 0, p99Ms: 0, statuses: {}, failures: [] };

  constructor(private readonly opts: LoadOptions) {
    this.agent = new https.Agent({ keepAlive: true, maxSockets: 32, rejectUnauthorized: false });
    this.freshAgent = new https.Agent({ keepAlive: false, rejectUnauthorized: false });
  }

  start(): void {
    this.started = Date.now();
    let credit = 0;
    let last = performance.now();
    this.timer = setInterval(() => {
      // Credit from elapsed time, not tick count: a late tick sends what the delay owes.
      const now = performance.now();
      credit += (this.opts.rate * (now - last)) / 1000;
      last = now;
      while (credit >= 1) {
        credit -= 1;
        if (this.inFlight >= (this.opts.maxInFlight ?? 256)) {
          this.report.skipped += 1;
          continue;
        }
        const p = this.one(this.report.sent);
        this.pending.add(p);
        void p.finally(() => this.pending.delete(p));
      }
    }, 10);
    if (this.opts.maxDurationMs) this.stopTimer = setTimeout(() => this.halt(), this.opts.maxDurationMs);
  }

  private halt(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.stopTimer) clearTimeout(this.stopTimer);
    this.timer = undefined;
    if (!this.stoppedAt) this.stoppedAt = Date.now();
  }

  /** Stops sending, waits for the requests in flight, and reports. */
  async stop(): Promise<LoadReport> {
    this.halt();
    await Promise.all([...this.pending]);
    this.agent.destroy();
    this.freshAgent.destroy();
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
    this.report.durationMs = this.stoppedAt - this.started;
    this.report.ratePerSecond = Math.round((this.report.sent / Math.max(1, this.report.durationMs)) * 1000 * 10) / 10;
    this.report.p50Ms = Math.round(at(0.5) * 10) / 10;
    this.report.p99Ms = Math.round(at(0.99) * 10) / 10;
    return this.report;
  }

  private fail(status: string, message: string): void {
    this.report.failed += 1;
    this.report.statuses[status] = (this.report.statuses[status] ?? 0) + 1;
    if (this.report.failures.length < 20) this.report.failures.push(`${new Date().toISOString()} ${message}`);
  }

  private async one(i: number): Promise<void> {
    const r = this.opts.next(i);
    this.report.sent += 1;
    if (r.method === 'GET') this.report.reads += 1;
    else this.report.writes += 1;
    const retrySafe = r.method === 'GET' || Boolean(r.headers?.['idempotency-key']);
    this.inFlight += 1;
    const t0 = performance.now();
    try {
      let outcome = await this.send(r);
      if ('error' in outcome && outcome.retryable && retrySafe) {
        this.report.retried += 1;
        outcome = await this.send(r, this.freshAgent);
      }
      if ('error' in outcome) {
        this.fail(outcome.code, `${r.method} ${r.path}: ${outcome.error}`);
      } else {
        this.report.statuses[String(outcome.status)] = (this.report.statuses[String(outcome.status)] ?? 0) + 1;
        if (r.expect.includes(outcome.status)) {
          this.report.succeeded += 1;
          this.latencies.push(performance.now() - t0);
        } else {
          this.report.failed += 1;
          if (this.report.failures.length < 20) this.report.failures.push(`${new Date().toISOString()} ${r.method} ${r.path}: HTTP ${outcome.status} ${outcome.body.slice(0, 200)}`);
        }
      }
    } finally {
      this.inFlight -= 1;
    }
  }

  private send(r: LoadRequest, agent: https.Agent = this.agent): Promise<{ status: number; body: string } | { error: string; code: string; retryable: boolean }> {
    const payload = r.body === undefined ? undefined : JSON.stringify(r.body);
    return new Promise((resolve) => {
      let answered = false;
      const req = https.request(
        {
          host: this.opts.host,
          port: this.opts.port,
          method: r.method,
          path: r.path,
          agent,
          timeout: 15_000,
          headers: {
            accept: 'application/json',
            ...(payload ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}),
            ...r.headers,
          },
        },
        (res) => {
          answered = true;
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', (e: NodeJS.ErrnoException) => resolve({ error: `response: ${e.message}`, code: e.code ?? 'error', retryable: false }));
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('timed out after 15 s'), { code: 'ETIMEDOUT' })));
      req.on('error', (e: NodeJS.ErrnoException) => {
        // Only a reused keep-alive socket closed by the server before any answer is safe to retry.
        const retryable = !answered && req.reusedSocket && (RETRYABLE.has(e.code ?? '') || /socket hang up/.test(e.message));
        resolve({ error: e.message, code: e.code ?? 'error', retryable });
      });
      req.end(payload);
    });
  }
}

/** The standard mix: 80 % catalogue reads, 20 % orders (each with its own Idempotency-Key). */
export function shopMix(opts: { token: string; productIds: readonly number[]; writeEvery?: number }): (i: number) => LoadRequest {
  const writeEvery = opts.writeEvery ?? 5;
  return (i) => {
    const id = opts.productIds[i % opts.productIds.length] ?? 1;
    if (i % writeEvery === writeEvery - 1) {
      return {
        method: 'POST',
        path: '/orders',
        body: { items: [{ product_id: id, quantity: 1 }] },
        headers: { authorization: `Bearer ${opts.token}`, 'idempotency-key': randomUUID() },
        expect: [201],
      };
    }
    return i % 2 === 0 ? { method: 'GET', path: '/products?limit=5', expect: [200] } : { method: 'GET', path: `/products/${id}`, expect: [200] };
  };
}

/**
 * Runs `action` (a shopctl command) while a shop mix of `rate` requests/s goes to the proxy,
 * with 2 s of load before and after it, and logs one line with what the client saw.
 */
export async function runUnderLoad<R extends { ms: number }>(opts: {
  port: number;
  label: string;
  fixtures: { token: string; productIds: readonly number[] };
  action: () => Promise<R>;
  log: (line: string) => void;
  rate?: number;
}): Promise<{ r: R; report: LoadReport }> {
  const gen = new LoadGenerator({ host: '127.0.0.1', port: opts.port, rate: opts.rate ?? 130, next: shopMix(opts.fixtures), maxDurationMs: 900_000 });
  gen.start();
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const r = await opts.action();
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const report = await gen.stop();
  opts.log(
    `${opts.label}: shopctl took ${(r.ms / 1000).toFixed(1)} s; ${report.sent} requests in ${(report.durationMs / 1000).toFixed(1)} s = ${report.ratePerSecond} req/s ` +
      `(${report.reads} reads, ${report.writes} order writes), ${report.failed} failed, ${report.retried} retried after the server closed an idle keep-alive connection, ` +
      `${report.skipped} not sent (client cap), p50 ${report.p50Ms} ms, p99 ${report.p99Ms} ms, statuses ${JSON.stringify(report.statuses)}`,
  );
  if (report.failures.length) opts.log(`${opts.label} failures:\n  ${report.failures.join('\n  ')}`);
  return { r, report };
}
