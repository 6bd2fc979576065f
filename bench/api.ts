// `npm run bench`: the real API (compiled, logging + metrics + rate limiting on) against a bare
// node:http server answering the same bytes, measured with autocannon (bench/client.ts, a fresh process per row).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pgPromise from 'pg-promise';
import { Redis } from 'ioredis';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
/** Seconds of unmeasured load before each measurement, so every server is measured JIT-compiled (steady state). */
const WARMUP = Number(process.env.BENCH_WARMUP ?? 5);
const SHOPPERS = 50;
/** Seconds every server idles after start before the first measurement (BENCH_SETTLE). */
const SETTLE = Number(process.env.BENCH_SETTLE ?? 20);
/**
 * Rounds of the read measurements (BENCH_REPEAT): bare, Koa and GET /products measured in turn,
 * medians reported. On a shared machine one 10 s run of a Node server can land 30-40 % off its usual
 * speed (see docs/api.md), so a single round decides nothing close to a target.
 */
const REPEAT = Math.max(1, Math.floor(Number(process.env.BENCH_REPEAT ?? 3)));
/** Which measurements to run (comma-separated): bare, koa, products, orders, mix. */
const ONLY = new Set((process.env.BENCH_ONLY ?? 'bare,koa,products,orders,mix').split(',').map((s) => s.trim()));
/** The cache mix: this share of orders, the rest catalogue reads over MIX_PRODUCTS products. */
const MIX_ORDER_SHARE = Number(process.env.BENCH_MIX_ORDERS ?? 0.02);
const MIX_PRODUCTS = 50;
const MIX_LISTS = ['/products', '/products?offset=20', '/products?offset=40', '/products?sort=price'];
/** Extra environment for the API server as JSON, to see what a feature costs, e.g. `{"LOG_LEVEL":"warn"}`. */
const API_ENV = JSON.parse(process.env.BENCH_API_ENV ?? '{}') as Record<string, string>;
/** Extra Node flags for the server processes, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`. */
const API_NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
/** A file the servers' stdout (their logs, and V8's output such as `--trace-gc-nvp`) is appended to; default: discarded. */
const SERVER_LOG = process.env.BENCH_SERVER_LOG ? openSync(process.env.BENCH_SERVER_LOG, 'a') : 'ignore';

/**
 * CPU lists for `taskset` (Linux), e.g. BENCH_SERVER_CPUS=0 BENCH_CLIENT_CPUS=1: on a small machine
 * the scheduler otherwise decides per run whether a server shares a core with its load client.
 */
const SERVER_CPUS = process.env.BENCH_SERVER_CPUS ?? '';
const CLIENT_CPUS = process.env.BENCH_CLIENT_CPUS ?? '';

/** node with `args`, under taskset when a CPU list is given. */
function nodeCommand(cpus: string, args: string[]): [string, string[]] {
  return cpus ? ['taskset', ['-c', cpus, process.execPath, ...args]] : [process.execPath, args];
}

const children: ChildProcess[] = [];
const pgp = pgPromise({ noWarnings: true });

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): void {
  const r = spawnSync(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
}

async function waitFor(url: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not become ready`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function start(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const [cmd, argv] = nodeCommand(SERVER_CPUS, args);
  const child = spawn(cmd, argv, { cwd: ROOT, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', SERVER_LOG, 'inherit'] });
  children.push(child);
  return child;
}

interface Row {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  /** CPU time of the server process per request, in microseconds (Linux; NaN elsewhere). */
  cpuUs: number;
  /** Lowest-highest req/s over the rounds ('' for one). */
  range: string;
}

function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** One row per target: the median of each column over its rounds, and the req/s range. */
function summarize(runs: Row[]): Row {
  const col = (f: (r: Row) => number) => median(runs.map(f));
  const rps = runs.map((r) => r.rps);
  return {
    name: runs[0]!.name,
    rps: col((r) => r.rps),
    p50: col((r) => r.p50),
    p99: col((r) => r.p99),
    cpuUs: col((r) => r.cpuUs),
    non2xx: runs.reduce((n, r) => n + r.non2xx, 0),
    errors: runs.reduce((n, r) => n + r.errors, 0),
    range: runs.length > 1 ? `${Math.min(...rps).toFixed(0)}-${Math.max(...rps).toFixed(0)}` : '',
  };
}

/** utime + stime of a process in seconds, from /proc (less noisy than req/s on a shared machine). */
function cpuSeconds(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

interface Load {
  orders?: { tokens: string[]; productIds: number[] };
  mix?: { tokens: string[]; productIds: number[]; orderShare: number; lists: string[] };
}

/**
 * Runs bench/client.ts in a fresh process against `url`; the server's CPU is read around the
 * measured part only, and `onStart` is called when it begins.
 */
function measure(name: string, server: ChildProcess, url: string, load: Load = {}, onStart?: () => void): Promise<Row> {
  const spec = JSON.stringify({ url, connections: CONNECTIONS, duration: DURATION, warmup: WARMUP, ...load });
  const [cmd, argv] = nodeCommand(CLIENT_CPUS, ['--import=tsx', path.join(ROOT, 'bench/client.ts'), spec]);
  const client = spawn(cmd, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let before = Number.NaN;
    let out = '';
    client.stdout.setEncoding('utf8');
    client.stdout.on('data', (chunk: string) => {
      out += chunk;
      if (Number.isNaN(before) && out.startsWith('start\n')) {
        before = cpuSeconds(server.pid);
        onStart?.();
      }
    });
    client.on('error', reject);
    client.on('exit', (code) => {
      const cpu = cpuSeconds(server.pid) - before;
      const last = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0 || !last.startsWith('{')) return reject(new Error(`the load client for ${name} exited ${code}: ${out}`));
      const r = JSON.parse(last) as { rps: number; p50: number; p99: number; non2xx: number; errors: number; total: number };
      resolve({ name, rps: r.rps, p50: r.p50, p99: r.p99, non2xx: r.non2xx, errors: r.errors, cpuUs: (cpu * 1e6) / Math.max(1, r.total), range: '' });
    });
  });
}

interface CacheCounts {
  hits: number;
  misses: number;
}

/** Sums of cache_hits_total and cache_misses_total over every cache, as Prometheus scrapes them. */
async function cacheCounts(api: string): Promise<CacheCounts> {
  const text = await (await fetch(`${api}/metrics`)).text();
  const sum = (name: string) => [...text.matchAll(new RegExp(`^${name}\\{[^}]*\\} (\\d+)`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
  return { hits: sum('cache_hits_total'), misses: sum('cache_misses_total') };
}

async function main(): Promise<void> {
  const dbName = `bench_${randomBytes(5).toString('hex')}`;
  const prefix = `bench:${dbName}:`;
  const admin = pgp(DATABASE_URL);
  const url = new URL(DATABASE_URL);
  url.pathname = `/${dbName}`;
  const benchDbUrl = url.toString();
  const tmp = mkdtempSync(path.join(tmpdir(), 'shop-bench-'));
  const redis = new Redis(REDIS_URL);
  await admin.none('CREATE DATABASE $1:name', [dbName]);
  try {
    process.stdout.write('building the API...\n');
    run('npm', ['run', 'build', '-w', 'api'], {});
    const common = { DATABASE_URL: benchDbUrl, LOG_LEVEL: 'info' };
    run(process.execPath, ['api/dist/cli/migrate.js'], common);
    run(process.execPath, ['api/dist/cli/seed.js'], { ...common, ENVIRONMENT: 'development' });
    const db = pgp(benchDbUrl);
    // At least MIX_PRODUCTS products for the cache mix.
    await db.none(
      `INSERT INTO products (name, description, price, stock)
       SELECT 'Bench product ' || g, 'A product of the benchmark', 9.99, 1 FROM generate_series(1, $1 - (SELECT count(*) FROM products WHERE deleted_at IS NULL)) g`,
      [MIX_PRODUCTS],
    );
    // Plenty of stock on every product, so the order benchmark measures the order path, not sold-out 409s.
    await db.none('UPDATE products SET stock = 100000000');
    const productIds = (await db.any<{ id: number }>('SELECT id FROM products ORDER BY id')).map((r) => r.id);
    await db.$pool.end();

    const port = await freePort();
    const api = `http://127.0.0.1:${port}`;
    const apiServer = start([...API_NODE_FLAGS, 'api/dist/server.js'], {
      ...common,
      PORT: String(port),
      REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
      API_SECRET_KEY: randomBytes(48).toString('base64'),
      ENVIRONMENT: 'production',
      // Limits on, high enough not to trip under load.
      RATE_LIMIT_PER_MINUTE: '100000000',
      RATE_LIMIT_AUTH_PER_MINUTE: '100000',
      DATABASE_POOL_MAX: '20',
      ...API_ENV,
    });
    await waitFor(`${api}/health/ready`);

    const tokens: string[] = [];
    // Shoppers (scrypt hashing: seconds of CPU) only when the order benchmark runs.
    for (let i = 0; (ONLY.has('orders') || ONLY.has('mix')) && i < SHOPPERS; i += 10) {
      await Promise.all(
        Array.from({ length: 10 }, async (_, j) => {
          const username = `bench${i + j}`;
          const body = { username, email: `${username}@example.com`, password: 'bench-password-123' };
          await fetch(`${api}/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
          const res = await fetch(`${api}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: body.password }) });
          tokens.push(((await res.json()) as { access_token: string }).access_token);
        }),
      );
    }

    // Warm the cache and capture the exact bytes the bare server will send.
    await fetch(`${api}/products`);
    const warm = await fetch(`${api}/products`);
    const bytes = Buffer.from(await warm.arrayBuffer());
    const bodyFile = path.join(tmp, 'products.json');
    writeFileSync(bodyFile, bytes);

    const barePort = await freePort();
    const bareServer = start(
      [
        ...API_NODE_FLAGS,
        '-e',
        `const http=require('node:http');const body=require('node:fs').readFileSync(process.env.BODY);` +
          `http.createServer((req,res)=>{res.writeHead(200,{'Content-Type':'application/json; charset=utf-8','Content-Length':body.length});res.end(body)})` +
          `.listen(Number(process.env.PORT),'127.0.0.1');process.on('SIGTERM',()=>process.exit(0))`,
      ],
      { BODY: bodyFile, PORT: String(barePort) },
    );
    // The floor the framework itself sets: a Koa app with no middleware but one answering the same bytes.
    const koaPort = await freePort();
    const koaServer = start(
      [
        ...API_NODE_FLAGS,
        '-e',
        `const Koa=require('koa');const body=require('node:fs').readFileSync(process.env.BODY);const app=new Koa();` +
          `app.use((ctx)=>{ctx.set('Content-Type','application/json; charset=utf-8');ctx.body=body});` +
          `app.listen(Number(process.env.PORT),'127.0.0.1');process.on('SIGTERM',()=>process.exit(0))`,
      ],
      { BODY: bodyFile, PORT: String(koaPort) },
    );
    await Promise.all([waitFor(`http://127.0.0.1:${barePort}/`), waitFor(`http://127.0.0.1:${koaPort}/`)]);

    // Every server idles before its load, as the API (seeded, then waiting its turn) always does: a
    // Node process loaded at once after starting measures faster than one that idled first
    // (V8 shrinks its heap when idle), which would favour whichever row goes first.
    if (SETTLE > 0) {
      process.stdout.write(`letting every server idle ${SETTLE} s before measuring...\n`);
      await new Promise((r) => setTimeout(r, SETTLE * 1000));
    }
    process.stdout.write(
      `measuring: ${CONNECTIONS} connections, ${DURATION} s each after ${WARMUP} s of warm-up, ${bytes.length}-byte /products body` +
        (REPEAT > 1 ? `, ${REPEAT} rounds (bare, Koa and GET /products in turn; medians below)` : '') +
        '\n',
    );
    const targets: Array<[key: string, name: string, server: ChildProcess, url: string]> = [
      ['bare', 'bare node:http (same bytes)', bareServer, `http://127.0.0.1:${barePort}/products`],
      ['koa', 'bare Koa (same bytes)', koaServer, `http://127.0.0.1:${koaPort}/products`],
      ['products', 'GET /products (cache warm)', apiServer, `${api}/products`],
    ];
    const runs = new Map<string, Row[]>();
    for (let round = 0; round < REPEAT; round++) {
      for (const [key, name, server, target] of targets) {
        if (!ONLY.has(key)) continue;
        const row = await measure(name, server, target);
        runs.set(key, [...(runs.get(key) ?? []), row]);
        if (REPEAT > 1) process.stdout.write(`  round ${round + 1}: ${name}: ${row.rps.toFixed(0)} req/s, p99 ${row.p99} ms, ${row.cpuUs.toFixed(0)} us CPU/req\n`);
      }
    }
    // Orders add rows to the database: measured once, after every read round.
    if (ONLY.has('orders')) runs.set('orders', [await measure('POST /orders', apiServer, `${api}/orders`, { orders: { tokens, productIds } })]);
    // The cache under a shop's traffic: its hit ratio from the Prometheus counters over the measured part.
    let mixRatio: number | null = null;
    if (ONLY.has('mix')) {
      let before: Promise<CacheCounts> | undefined;
      const mix = { tokens, productIds: productIds.slice(0, MIX_PRODUCTS), orderShare: MIX_ORDER_SHARE, lists: MIX_LISTS };
      const row = await measure(`cache mix (${MIX_ORDER_SHARE * 100} % orders)`, apiServer, api, { mix }, () => (before = cacheCounts(api)));
      runs.set('mix', [row]);
      const [b, a] = await Promise.all([before!, cacheCounts(api)]);
      mixRatio = (a.hits - b.hits) / Math.max(1, a.hits - b.hits + a.misses - b.misses);
    }
    const rows = new Map([...runs].map(([key, r]) => [key, summarize(r)]));
    const pending: Row = { name: '', rps: Number.NaN, p50: Number.NaN, p99: Number.NaN, non2xx: 0, errors: 0, cpuUs: Number.NaN, range: '' };
    const bare = rows.get('bare') ?? pending;
    const products = rows.get('products') ?? pending;
    // Each round's own API/bare ratio: the two runs of a round are seconds apart, so a machine that
    // drifts over the minutes of the whole bench moves both alike.
    const bareRuns = runs.get('bare') ?? [];
    const ratios = (runs.get('products') ?? []).map((r, i) => (100 * r.rps) / (bareRuns[i]?.rps ?? Number.NaN));
    const ratio = median(ratios);

    const fmt = (r: Row) =>
      `| ${r.name.padEnd(28)} | ${r.rps.toFixed(0).padStart(8)} | ${r.range.padStart(13)} | ${r.p50.toFixed(1).padStart(6)} | ${r.p99.toFixed(1).padStart(6)} | ${((100 * r.rps) / bare.rps).toFixed(1).padStart(6)} % | ${r.cpuUs.toFixed(0).padStart(10)} | ${String(r.non2xx + r.errors).padStart(6)} |`;
    const lines = [
      '',
      '| target                       |    req/s |   req/s range | p50 ms | p99 ms | vs bare  | CPU us/req | errors |',
      '| ---------------------------- | -------: | ------------: | -----: | -----: | -------: | ---------: | -----: |',
      ...[...rows.values()].map(fmt),
      '',
      `GET /products: ${ratio.toFixed(1)} % of the bare server (target >= 50 %)` +
        (ratios.length > 1 ? `, median of the rounds' ratios ${ratios.map((x) => x.toFixed(1)).join(', ')}` : '') +
        `; p99 ${products.p99} ms (target <= 10 ms)`,
      ...(mixRatio === null
        ? []
        : [
            `cache mix: ${MIX_ORDER_SHARE * 100} % orders, ${(100 - MIX_ORDER_SHARE * 100) * 0.7} % product pages, ${(100 - MIX_ORDER_SHARE * 100) * 0.3} % list pages over ${MIX_PRODUCTS} products: ` +
              `hit ratio ${(100 * mixRatio).toFixed(1)} % (target >= 90 %; cache_hits_total / (hits + misses) over the measured part)`,
          ]),
      '',
    ];
    process.stdout.write(lines.join('\n'));
    if ([...runs.values()].flat().some((r) => r.non2xx + r.errors > 0)) {
      process.stdout.write('warning: some requests failed (see the errors column)\n');
    }
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
    redis.disconnect();
    await admin.none('DROP DATABASE IF EXISTS $1:name WITH (FORCE)', [dbName]);
    await admin.$pool.end();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  for (const c of children) c.kill('SIGKILL');
  process.exit(1);
});
