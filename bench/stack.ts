// `npm run bench:stack`: the front door measured as shoppers reach it. It starts the development
// stack (its own Compose project and ports, removed afterwards), then measures over HTTPS
// keep-alive, in alternated rounds, the same bytes of `GET /products?limit=20`:
//   - proxied: through nginx to the API (the API's cached answer), and
//   - static:  nginx serving those bytes as a file from the same server block (/assets/),
// and prints requests/s, p50 and p99 of each, and their ratio. The stack runs with the limits it
// ships (cpus, mem_limit); only the per-client rate limits are set out of reach, since a
// benchmark is one client. wrk when installed (as the numbers in README), else autocannon.
//
// Two routes to nginx, each measured in every round:
//   - published: https://127.0.0.1:<HTTPS_PORT>, as a browser on the host would. A connection to
//     a published port from the host itself goes through docker-proxy, a userland copy of every
//     byte that took ~45 % of a core here, on the same cores as everything measured;
//   - direct: the proxy container's address on the frontend network (port 8443), the kernel path
//     that clients from other machines take (published ports are DNAT rules for them).
// BENCH_ROUTES=published (or direct) measures one only.
//
//   BENCH_ROUNDS=3 BENCH_DURATION=10 BENCH_CONNECTIONS=50 npm run bench:stack
//   BENCH_KEEP=1 keeps the stack (prints its project name).
//   ACCESS_LOG_READS=info: the API logs every successful read as well (the stacks ship debug).
import { execFileSync, spawnSync } from 'node:child_process';
import https from 'node:https';
import { ComposeStack } from '../tests/e2e/lib/stack.js';

const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const PATH = '/products?limit=20';
const STATIC = '/assets/bench-products.json';

interface Result {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

const hasWrk = spawnSync('wrk', ['--version']).error === undefined;

/** Milliseconds from wrk's "50%  1.23ms" style. */
function ms(value: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(value.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 's' ? n * 1000 : n;
}

function wrk(url: string, seconds: number): Result {
  const out = execFileSync('wrk', ['-t2', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', url], { encoding: 'utf8' });
  const pct = (p: string) => ms(new RegExp(`^\\s*${p}%\\s+(\\S+)`, 'm').exec(out)?.[1] ?? '');
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    p50: pct('50'),
    p99: pct('99'),
    errors: Number(errors?.[1] ?? 0) + (socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0),
  };
}

async function autocannon(url: string, seconds: number): Promise<Result> {
  const { default: run } = await import('autocannon');
  const r = await run({ url, connections: CONNECTIONS, duration: seconds, tlsOptions: { rejectUnauthorized: false } } as Parameters<typeof run>[0]);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.non2xx + r.errors };
}

const measure = (url: string, seconds: number) => (hasWrk ? Promise.resolve(wrk(url, seconds)) : autocannon(url, seconds));

function get(url: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    https.get(url, { rejectUnauthorized: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`${url}: HTTP ${res.statusCode}`))));
    }).on('error', reject);
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function main(): Promise<void> {
  const stack = await ComposeStack.create({
    prefix: 'bench-stack',
    env: {
      PROXY_RATE_LIMIT: '1000000r/s',
      PROXY_CONN_LIMIT: '50000',
      RATE_LIMIT_PER_MINUTE: '100000000',
      // For comparison only: ACCESS_LOG_READS=info npm run bench:stack (the API logs every read too).
      ...(process.env.ACCESS_LOG_READS ? { ACCESS_LOG_READS: process.env.ACCESS_LOG_READS } : {}),
    },
    services: ['db', 'cache', 'tls', 'storefront', 'api', 'proxy'],
  });
  const keep = process.env.BENCH_KEEP === '1';
  // Ctrl-C (or a CI timeout's SIGTERM) removes the stack too, by its project label.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`bench:stack: ${signal}: removing ${stack.project} ...\n`);
      void (keep ? Promise.resolve() : stack.destroy()).finally(() => process.exit(130));
    });
  }
  try {
    process.stderr.write(`bench:stack: building and starting ${stack.project} ...\n`);
    await stack.build(['api']);
    await stack.up({ services: ['db', 'cache', 'tls', 'storefront', 'api', 'proxy'] });
    const base = `https://127.0.0.1:${stack.httpsPort}`;
    const body = await get(`${base}${PATH}`);
    // The same bytes as a file in the storefront volume, which nginx serves from the same server block.
    const api = await stack.container('api');
    const image = api.Image;
    execFileSync('docker', ['run', '--rm', '-i', '--user', '1000:1000', '--network', 'none', '--entrypoint', 'sh', '-v', `${stack.project}_storefront:/v`, image, '-c', `mkdir -p /v/assets && cat > /v${STATIC}`], { input: body });
    const copy = await get(`${base}${STATIC}`);
    if (!copy.equals(body)) throw new Error('the static copy differs from the API answer');

    const proxy = await stack.container('proxy');
    const frontend = Object.entries(proxy.NetworkSettings.Networks).find(([name]) => name.endsWith('_frontend'))?.[1]?.IPAddress;
    const wanted = (process.env.BENCH_ROUTES ?? 'published,direct').split(',');
    const routes = [
      { name: 'published', base },
      ...(frontend ? [{ name: 'direct', base: `https://${frontend}:8443` }] : []),
    ].filter((r) => wanted.includes(r.name));
    for (const route of routes) if (!(await get(`${route.base}${STATIC}`)).equals(body)) throw new Error(`${route.name}: the static copy differs`);

    const tool = hasWrk ? `wrk -t2 -c${CONNECTIONS}` : `autocannon -c ${CONNECTIONS}`;
    console.log(`bench:stack: ${body.length} bytes of GET ${PATH}, ${tool}, HTTPS keep-alive, ${ROUNDS} alternated rounds of ${DURATION} s (after ${WARMUP} s warm-up each)`);
    console.log(`routes: ${routes.map((r) => `${r.name} ${r.base}`).join(', ')}`);
    const rows: Array<{ round: number; route: string; proxied: Result; static: Result }> = [];
    for (let round = 1; round <= ROUNDS; round++) {
      for (const route of routes) {
        await measure(`${route.base}${PATH}`, WARMUP);
        const proxied = await measure(`${route.base}${PATH}`, DURATION);
        await measure(`${route.base}${STATIC}`, WARMUP);
        const stat = await measure(`${route.base}${STATIC}`, DURATION);
        rows.push({ round, route: route.name, proxied, static: stat });
        console.log(
          `round ${round} ${route.name.padEnd(9)}: proxied ${proxied.rps.toFixed(0)} req/s (p50 ${proxied.p50.toFixed(2)} ms, p99 ${proxied.p99.toFixed(2)} ms, ${proxied.errors} errors)` +
            ` | static ${stat.rps.toFixed(0)} req/s (p50 ${stat.p50.toFixed(2)} ms, p99 ${stat.p99.toFixed(2)} ms, ${stat.errors} errors)` +
            ` | ratio ${(proxied.rps / stat.rps).toFixed(2)}`,
        );
      }
    }
    for (const route of routes) {
      const mine = rows.filter((r) => r.route === route.name);
      const m = (pick: (r: (typeof rows)[number]) => number) => median(mine.map(pick));
      console.log('');
      console.log(`${route.name} (medians)  req/s     p50 ms   p99 ms`);
      console.log(`proxied (API)     ${m((r) => r.proxied.rps).toFixed(0).padStart(7)}   ${m((r) => r.proxied.p50).toFixed(2).padStart(7)}  ${m((r) => r.proxied.p99).toFixed(2).padStart(7)}`);
      console.log(`static (nginx)    ${m((r) => r.static.rps).toFixed(0).padStart(7)}   ${m((r) => r.static.p50).toFixed(2).padStart(7)}  ${m((r) => r.static.p99).toFixed(2).padStart(7)}`);
      console.log(`${route.name}: median ratio proxied/static: throughput ${m((r) => r.proxied.rps / r.static.rps).toFixed(2)} (target >= 0.70), p99 ${m((r) => r.proxied.p99 / r.static.p99).toFixed(2)}x (aim <= 1.5x)`);
    }
  } finally {
    if (keep) {
      stack.keepAfterExit();
      process.stderr.write(`bench:stack: kept ${stack.project} (HTTPS port ${stack.httpsPort}); remove it by its label com.docker.compose.project=${stack.project}\n`);
    }
    else await stack.destroy();
  }
}

await main();
