import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { createTestEnv, TEST_REDIS_URL, type Response, type TestApi, type TestEnv } from './helpers/harness.js';
import { createLimiter, globalRateLimit, globalReserve } from '../../api/src/http/middleware/rateLimit.js';
import { Metrics } from '../../api/src/observability/metrics.js';

const run = promisify(execFile);
let env: TestEnv;

test.before(async () => {
  env = await createTestEnv();
});
test.after.always(async () => {
  await env?.close();
});

const LIMIT = 60;
const limited = (prefix: string) => env.start({ RATE_LIMIT_PER_MINUTE: String(LIMIT), RATE_LIMIT_AUTH_PER_MINUTE: '0', REDIS_KEY_PREFIX: `${env.prefix}${prefix}:` });
const passed = (rs: Array<{ status: number }>) => rs.filter((r) => r.status === 200).length;

interface Raw {
  status: number;
  headers: Headers;
  body: { code?: string };
}

// The client of `burst`, in a process of its own so that the server receives the requests
// together (a client in the test's own event loop would interleave with the server): every
// socket is connected first, then all requests are written in one go, as a client with n open
// connections sends them. Prints one JSON array of answers.
const BURST_CLIENT = `
const net = require('node:net');
const [port, n, path] = process.argv.slice(1);
const sockets = Array.from({ length: Number(n) }, () => net.connect(Number(port), '127.0.0.1'));
Promise.all(sockets.map((s) => new Promise((ok, fail) => { s.once('connect', ok); s.once('error', fail); }))).then(() => {
  const answers = sockets.map((s) => new Promise((ok, fail) => {
    const chunks = [];
    s.on('data', (c) => chunks.push(c));
    s.once('error', fail);
    s.once('close', () => {
      const [head, body] = Buffer.concat(chunks).toString('utf8').split('\\r\\n\\r\\n');
      const [statusLine, ...lines] = head.split('\\r\\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      ok({ status: Number(statusLine.split(' ')[1]), headers, body: body.startsWith('{') ? JSON.parse(body) : {} });
    });
  }));
  for (const s of sockets) s.write('GET ' + path + ' HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nConnection: close\\r\\n\\r\\n');
  return Promise.all(answers);
}).then((a) => process.stdout.write(JSON.stringify(a)), (err) => { console.error(err); process.exit(1); });
`;

async function burst(api: TestApi, n: number, path = '/categories'): Promise<Raw[]> {
  const { stdout } = await run(process.execPath, ['-e', BURST_CLIENT, new URL(api.url).port, String(n), path], { maxBuffer: 64 * 1024 * 1024 });
  return (JSON.parse(stdout) as Array<Omit<Raw, 'headers'> & { headers: Record<string, string> }>).map((r) => ({ ...r, headers: new Headers(r.headers) }));
}

function assertRefusal(t: import('ava').ExecutionContext, r: Raw | Response, limit = LIMIT): void {
  t.is(r.status, 429);
  t.regex(r.headers.get('content-type') ?? '', /^application\/problem\+json/);
  t.is(r.body.code, 'rate_limited');
  const retryAfter = Number(r.headers.get('retry-after'));
  t.true(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After ${r.headers.get('retry-after')}`);
  t.is(r.headers.get('ratelimit-limit'), String(limit));
}

for (const [limit, n] of [
  [LIMIT, 200],
  [12, 50],
] as const) {
  test(`one read, then ${n} concurrent reads against a limit of ${limit}: exactly ${limit - 1} more pass, the rest are 429 problem+json`, async (t) => {
    const api = await env.start({ RATE_LIMIT_PER_MINUTE: String(limit), RATE_LIMIT_AUTH_PER_MINUTE: '0', REDIS_KEY_PREFIX: `${env.prefix}burst${limit}:` });
    t.is((await api.request('GET', '/categories')).status, 200);
    const rs = await burst(api, n);
    t.is(passed(rs), limit - 1);
    const refused = rs.filter((r) => r.status !== 200);
    t.is(refused.length, n - (limit - 1));
    for (const r of refused) assertRefusal(t, r, limit);
    // Writes share the budget and are refused before they do anything.
    assertRefusal(t, await api.request('POST', '/auth/logout'), limit);
  });
}

test('exactly at the limit: the 60th request passes, the 61st is refused; concurrent waves stay exact', async (t) => {
  const api = await limited('exact');
  const statuses: number[] = [];
  for (let i = 0; i < LIMIT; i++) statuses.push((await api.request('GET', '/products')).status);
  t.deepEqual(statuses, Array(LIMIT).fill(200));
  assertRefusal(t, await api.request('GET', '/products'));

  // A burst from a client the replica has never seen, in several waves.
  const fresh = await limited('waves');
  let ok = 0;
  for (let wave = 0; wave < 4; wave++) ok += passed(await burst(fresh, 25));
  t.is(ok, LIMIT);
});

test(`two replicas sharing Redis: a client never gets more than the limit in total, and at least the limit minus one reservation (${globalReserve(LIMIT)})`, async (t) => {
  const [a, b] = await Promise.all([limited('pair'), limited('pair')]);
  // Both replicas hold a reservation for the client before the burst: the worst case for stranded points.
  t.is((await a.request('GET', '/categories')).status, 200);
  t.is((await b.request('GET', '/categories')).status, 200);
  const rs = await Promise.all([burst(a, 150), burst(b, 150)]);
  const total = 2 + passed(rs[0]!) + passed(rs[1]!);
  t.true(total <= LIMIT, `${total} requests passed`);
  t.true(total >= LIMIT - globalReserve(LIMIT), `${total} requests passed`);
  // Once refused, every replica refuses for the rest of the window.
  t.is((await a.request('GET', '/categories')).status, 429);
  t.is((await b.request('GET', '/categories')).status, 429);
});

test('the middleware itself, 200 reads of one client in one event-loop turn against a limit of 60: at most 60 in all', async (t) => {
  const redis = new Redis(TEST_REDIS_URL);
  t.teardown(() => redis.disconnect());
  const l = createLimiter('global', LIMIT, redis, `${env.prefix}turn:`, globalReserve(LIMIT));
  const middleware = globalRateLimit(l, new Metrics('test'), pino({ level: 'silent' }));
  let served = 0;
  const read = () => {
    const ctx = { path: '/categories', method: 'GET', ip: '192.0.2.1', state: {}, set: () => undefined };
    return Promise.resolve(middleware(ctx as never, () => Promise.resolve(void served++))).then(
      () => 200,
      (err: { code?: string }) => (err.code === 'rate_limited' ? 429 : 500),
    );
  };
  t.is(await read(), 200);
  const statuses = await Promise.all(Array.from({ length: 200 }, read));
  t.is(statuses.filter((s) => s === 200).length, LIMIT - 1);
  t.is(served, LIMIT);
  t.true(statuses.every((s) => s === 200 || s === 429));
});
