// In-process load generators for the shopctl e2e tests: a steady rate of mixed reads and
// writes through nginx's published HTTPS port from three kinds of client side by side (HTTP/2,
// HTTP/1.1 keep-alive, HTTP/1.1 with a new connection per request), counting every request
// that fails. No client retries anything: a request a user's client would lose counts as lost.
import http2 from 'node:http2';
import https from 'node:https';
import { randomUUID } from 'node:crypto';
import type { ExecutionContext } from 'ava';

export interface LoadRequest {
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** Status codes that count as success. */
  expect: readonly number[];
}

/**
 * h1-keepalive: Node's https.Agent({keepAlive: true}), the default of most HTTP libraries;
 * h1-new: a new TLS connection per request (curl in a loop); h2: one HTTP/2 session, as browsers.
 */
export type ClientKind = 'h2' | 'h1-keepalive' | 'h1-new';
export const CLIENT_KINDS: readonly ClientKind[] = ['h2', 'h1-keepalive', 'h1-new'];

export interface LoadOptions {
  host: string;
  port: number;
  client: ClientKind;
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

type Outcome = { status: number; body: string } | { error: string; code: string };

export class LoadGenerator {
  private readonly agent: https.Agent | undefined;
  private session: http2.ClientHttp2Session | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopTimer: NodeJS.Timeout | undefined;
  private started = 0;
  private stoppedAt = 0;
  private inFlight = 0;
  private readonly pending = new Set<Promise<void>>();
  private readonly latencies: number[] = [];
  private readonly report: LoadReport = { sent: 0, succeeded: 0, failed: 0, skipped: 0, reads: 0, writes: 0, durationMs: 0, ratePerSecond: 0, p50Ms: 0, p99Ms: 0, statuses: {}, failures: [] };

  constructor(private readonly opts: LoadOptions) {
    // Node's defaults (no maxSockets: a request never queues behind a busy socket), as a user's
    // client has them. A cap of 32 made the client queue during a slow second on CI and count the
    // queue's overflow as requests not sent (a rate shortfall the server never caused).
    if (opts.client === 'h1-keepalive') this.agent = new https.Agent({ keepAlive: true, rejectUnauthorized: false });
    if (opts.client === 'h1-new') this.agent = new https.Agent({ keepAlive: false, rejectUnauthorized: false });
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
        // HTTP/2: at most what nginx allows on one connection (http2_max_concurrent_streams 128), as browsers queue.
        if (this.inFlight >= (this.opts.maxInFlight ?? (this.opts.client === 'h2' ? 100 : 256))) {
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
    this.agent?.destroy();
    this.session?.close();
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
    this.report.durationMs = this.stoppedAt - this.started;
    this.report.ratePerSecond = Math.round((this.report.sent / Math.max(1, this.report.durationMs)) * 1000 * 10) / 10;
    this.report.p50Ms = Math.round(at(0.5) * 10) / 10;
    this.report.p99Ms = Math.round(at(0.99) * 10) / 10;
    return this.report;
  }

  private async one(i: number): Promise<void> {
    const r = this.opts.next(i);
    this.report.sent += 1;
    if (r.method === 'GET') this.report.reads += 1;
    else this.report.writes += 1;
    this.inFlight += 1;
    const t0 = performance.now();
    try {
      const outcome = this.opts.client === 'h2' ? await this.sendH2(r) : await this.sendH1(r);
      const key = 'error' in outcome ? outcome.code : String(outcome.status);
      this.report.statuses[key] = (this.report.statuses[key] ?? 0) + 1;
      if ('status' in outcome && r.expect.includes(outcome.status)) {
        this.report.succeeded += 1;
        this.latencies.push(performance.now() - t0);
        return;
      }
      this.report.failed += 1;
      const what = 'error' in outcome ? outcome.error : `HTTP ${outcome.status} ${outcome.body.slice(0, 200)}`;
      if (this.report.failures.length < 20) this.report.failures.push(`${new Date().toISOString()} ${this.opts.client} ${r.method} ${r.path}: ${what}`);
    } finally {
      this.inFlight -= 1;
    }
  }

  private payload(r: LoadRequest): { payload: string | undefined; headers: Record<string, string> } {
    const payload = r.body === undefined ? undefined : JSON.stringify(r.body);
    return { payload, headers: { accept: 'application/json', ...(payload ? { 'content-type': 'application/json' } : {}), ...r.headers } };
  }

  private sendH1(r: LoadRequest): Promise<Outcome> {
    const { payload, headers } = this.payload(r);
    return new Promise((resolve) => {
      const req = https.request(
        {
          host: this.opts.host,
          port: this.opts.port,
          method: r.method,
          path: r.path,
          agent: this.agent,
          timeout: 15_000,
          headers: { ...headers, ...(payload ? { 'content-length': String(Buffer.byteLength(payload)) } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', (e: NodeJS.ErrnoException) => resolve({ error: `response: ${e.message}`, code: e.code ?? 'error' }));
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('timed out after 15 s'), { code: 'ETIMEDOUT' })));
      req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: `${e.message}${req.reusedSocket ? ' (on a reused keep-alive connection)' : ''}`, code: e.code ?? 'error' }));
      req.end(payload);
    });
  }

  /** One session for every request; a closed or GOAWAY'd session is replaced for later requests, nothing is resent. */
  private h2(): http2.ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const session = http2.connect(`https://${this.opts.host}:${this.opts.port}`, { rejectUnauthorized: false });
    session.on('error', () => undefined);
    const drop = () => {
      if (this.session === session) this.session = undefined;
    };
    session.once('goaway', drop);
    session.once('close', drop);
    this.session = session;
    return session;
  }

  private sendH2(r: LoadRequest): Promise<Outcome> {
    const { payload, headers } = this.payload(r);
    return new Promise((resolve) => {
      let req: http2.ClientHttp2Stream;
      try {
        req = this.h2().request({ ':method': r.method, ':path': r.path, ...headers });
      } catch (e) {
        resolve({ error: (e as Error).message, code: (e as NodeJS.ErrnoException).code ?? 'error' });
        return;
      }
      const timer = setTimeout(() => {
        req.close(http2.constants.NGHTTP2_CANCEL);
        resolve({ error: 'timed out after 15 s', code: 'ETIMEDOUT' });
      }, 15_000);
      let status = 0;
      req.on('response', (h) => (status = Number(h[':status'])));
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        clearTimeout(timer);
        resolve({ status, body: Buffer.concat(chunks).toString('utf8') });
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        resolve({ error: e.message, code: e.code ?? 'error' });
      });
      req.end(payload);
    });
  }
}

/**
 * Requests/s of each client kind in the deploy and rollback tests: 52 (the acceptance is >= 50
 * each). E2E_RATE_PER_CLIENT lowers it on a machine that cannot carry the stack at that rate
 * (the tests then assert at least 95 % of what was asked, and print it).
 */
export const RATE_PER_CLIENT = Number(process.env.E2E_RATE_PER_CLIENT ?? 52);

/** The standard mix: 90 % catalogue reads, 10 % orders (each with its own Idempotency-Key). */
export function shopMix(opts: { token: string; productIds: readonly number[]; writeEvery?: number }): (i: number) => LoadRequest {
  const writeEvery = opts.writeEvery ?? 10;
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
 * Long-lived requests: `POST /cart/add` whose body trickles in over `spreadMs` on an HTTP/1.1
 * keep-alive connection, one after another per lane, so that some are always in flight while
 * shopctl works. Each must end in 200.
 */
class SlowLanes {
  private stopped = false;
  private readonly agent = new https.Agent({ keepAlive: true, rejectUnauthorized: false });
  readonly report = { sent: 0, failed: 0, failures: [] as string[] };
  private readonly lanes: Array<Promise<void>> = [];

  constructor(private readonly port: number, private readonly fixtures: { token: string; productIds: readonly number[] }, lanes = 2, private readonly spreadMs = 6000) {
    for (let i = 0; i < lanes; i++) this.lanes.push(this.lane(i));
  }

  private async lane(i: number): Promise<void> {
    while (!this.stopped) {
      const id = this.fixtures.productIds[i % this.fixtures.productIds.length] ?? 1;
      const outcome = await this.one(JSON.stringify({ product_id: id, quantity: 1 }));
      this.report.sent += 1;
      if (outcome !== 200) {
        this.report.failed += 1;
        if (this.report.failures.length < 10) this.report.failures.push(`${new Date().toISOString()} slow POST /cart/add: ${outcome}`);
      }
    }
  }

  private one(body: string): Promise<number | string> {
    return new Promise((resolve) => {
      const req = https.request(
        { host: '127.0.0.1', port: this.port, method: 'POST', path: '/cart/add', agent: this.agent, timeout: 30_000, headers: { authorization: `Bearer ${this.fixtures.token}`, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', (e) => resolve(e.message));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timed out after 30 s')));
      req.on('error', (e) => resolve(e.message));
      const step = this.spreadMs / body.length;
      let k = 0;
      const tick = () => {
        if (k >= body.length) return void req.end();
        req.write(body[k++]);
        setTimeout(tick, step);
      };
      tick();
    });
  }

  async stop(): Promise<{ sent: number; failed: number; failures: string[] }> {
    this.stopped = true;
    await Promise.all(this.lanes);
    this.agent.destroy();
    return this.report;
  }
}

/** The three clients' reports added up (rates too: they ran side by side). */
function combine(reports: LoadReport[]): LoadReport {
  const total: LoadReport = { sent: 0, succeeded: 0, failed: 0, skipped: 0, reads: 0, writes: 0, durationMs: 0, ratePerSecond: 0, p50Ms: 0, p99Ms: 0, statuses: {}, failures: [] };
  for (const r of reports) {
    for (const k of ['sent', 'succeeded', 'failed', 'skipped', 'reads', 'writes', 'ratePerSecond'] as const) total[k] += r[k];
    total.durationMs = Math.max(total.durationMs, r.durationMs);
    total.p50Ms = Math.max(total.p50Ms, r.p50Ms);
    total.p99Ms = Math.max(total.p99Ms, r.p99Ms);
    for (const [s, n] of Object.entries(r.statuses)) total.statuses[s] = (total.statuses[s] ?? 0) + n;
    total.failures.push(...r.failures);
  }
  total.ratePerSecond = Math.round(total.ratePerSecond * 10) / 10;
  return total;
}

/**
 * Runs `action` (a shopctl command) while the three kinds of client each send a shop mix of
 * `rate / 3` requests/s to the proxy, with 2 s of load before and after it, and logs one line
 * per client with what it saw. `report` adds them up; `clients` has each one's.
 */
export async function runUnderLoad<R extends { ms: number }>(opts: {
  port: number;
  label: string;
  fixtures: { token: string; productIds: readonly number[] };
  action: () => Promise<R>;
  log: (line: string) => void;
  /** All three clients together (default: RATE_PER_CLIENT each). */
  rate?: number;
}): Promise<{ r: R; report: LoadReport; clients: Record<ClientKind, LoadReport>; slow: { sent: number; failed: number; failures: string[] } }> {
  const perClient = opts.rate === undefined ? RATE_PER_CLIENT : opts.rate / CLIENT_KINDS.length;
  const gens = CLIENT_KINDS.map((client) => new LoadGenerator({ host: '127.0.0.1', port: opts.port, client, rate: perClient, next: shopMix(opts.fixtures), maxDurationMs: 900_000 }));
  for (const g of gens) g.start();
  const slow = new SlowLanes(opts.port, opts.fixtures);
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const r = await opts.action();
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const [reports, slowReport] = await Promise.all([Promise.all(gens.map((g) => g.stop())), slow.stop()]);
  const clients = Object.fromEntries(CLIENT_KINDS.map((k, i) => [k, reports[i]!])) as Record<ClientKind, LoadReport>;
  const report = combine(reports);
  opts.log(`${opts.label}: shopctl took ${(r.ms / 1000).toFixed(1)} s; ${report.sent} requests, ${report.failed} failed, no client retries anything`);
  for (const k of CLIENT_KINDS) {
    const c = clients[k];
    opts.log(
      `  ${k.padEnd(12)} ${c.sent} requests in ${(c.durationMs / 1000).toFixed(1)} s = ${c.ratePerSecond} req/s (${c.reads} reads, ${c.writes} order writes), ` +
        `${c.failed} failed, ${c.skipped} not sent (client cap), p50 ${c.p50Ms} ms, p99 ${c.p99Ms} ms, statuses ${JSON.stringify(c.statuses)}`,
    );
  }
  opts.log(`  slow uploads ${slowReport.sent} POST /cart/add with a body trickling in over 6 s (HTTP/1.1 keep-alive), ${slowReport.failed} failed`);
  report.sent += slowReport.sent;
  report.failed += slowReport.failed;
  report.failures.push(...slowReport.failures);
  if (report.failures.length) opts.log(`${opts.label} failures:\n  ${report.failures.join('\n  ')}`);
  return { r, report, clients, slow: slowReport };
}

/** What the deploy and rollback tests assert for each client kind: nothing failed, >= minRate requests/s, POSTs among them. */
export function everyClientSucceeded(t: ExecutionContext, clients: Record<ClientKind, LoadReport>, minRate = Math.min(50, RATE_PER_CLIENT * 0.95), slow?: { sent: number; failed: number; failures: string[] }): void {
  if (slow) {
    t.is(slow.failed, 0, `slow uploads: ${slow.failures.join('\n')}`);
    t.true(slow.sent > 0, 'no slow upload finished');
  }
  for (const k of CLIENT_KINDS) {
    const c = clients[k];
    t.is(c.failed, 0, `${k}: ${c.failed} failed\n${c.failures.join('\n')}`);
    t.true(c.ratePerSecond >= minRate, `${k}: only ${c.ratePerSecond} req/s`);
    t.true(c.writes > 0, `${k}: sent no POST`);
  }
}
