import test from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { adminLogin, createTestEnv, freePort, insertProduct, registerAndLogin, type TestApi, type TestEnv } from './helpers/harness.js';

const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0;

let env: TestEnv;
let port: number;
let server: ChildProcess | undefined;

/** A throwaway redis-server of our own (never the shared one), answering PING before we go on. */
async function startRedis(): Promise<void> {
  server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: 0 });
  probe.on('error', () => undefined);
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      if (probe.status === 'wait') await probe.connect();
      if ((await probe.ping()) === 'PONG') break;
    } catch {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  probe.disconnect();
}

async function stopRedis(): Promise<void> {
  const s = server;
  server = undefined;
  if (!s || s.exitCode !== null) return;
  await new Promise<void>((resolve) => {
    s.once('exit', () => resolve());
    s.kill('SIGKILL');
  });
}

async function until(check: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test.before(async () => {
  env = await createTestEnv();
  port = await freePort();
  if (hasRedisServer) await startRedis();
});
test.after.always(async () => {
  await stopRedis();
  await env?.close();
});

const redisState = async (api: TestApi) => (await api.request('GET', '/health')).body.checks.redis.status as string;

test.serial('with Redis stopped the API keeps serving from PostgreSQL; logout and rate limits keep working', async (t) => {
  if (!hasRedisServer) {
    t.log('redis-server is not on PATH: skipping the Redis outage test');
    t.pass();
    return;
  }
  const redisUrl = `redis://127.0.0.1:${port}`;
  const api = await env.start({ REDIS_URL: redisUrl });
  const limited = await env.start({ REDIS_URL: redisUrl, RATE_LIMIT_AUTH_PER_MINUTE: '3' });
  const admin = await adminLogin(env, api);
  const p = await insertProduct(env, { name: 'Outage-proof', price: '7.00', stock: 5 });
  const before = await registerAndLogin(api, 'pre');
  t.is((await api.request('POST', '/auth/logout', { token: before.token })).status, 204);
  const live = await registerAndLogin(api, 'live');
  t.is((await api.request('GET', `/products/${p.id}`)).status, 200);
  t.is((await api.request('GET', '/health')).body.status, 'ok');

  await stopRedis();
  await until(async () => (await redisState(api)) === 'down', 'the API to notice Redis is gone');

  const health = await api.request('GET', '/health');
  t.is(health.status, 200);
  t.is(health.body.status, 'degraded');
  t.is(health.body.checks.database.status, 'up');
  t.is((await api.request('GET', '/health/ready')).status, 200);

  // Reads, including cached ones, come from PostgreSQL.
  const product = await api.request('GET', `/products/${p.id}`);
  t.is(product.status, 200);
  t.is(product.body.name, 'Outage-proof');
  t.is((await api.request('GET', '/products?q=Outage')).body.total, 1);
  t.is((await api.request('GET', '/categories')).status, 200);

  // Auth works: login, a token revoked before the outage stays revoked, a logout during the outage holds.
  t.is((await api.request('GET', '/auth/me', { token: live.token })).status, 200);
  t.is((await api.request('GET', '/auth/me', { token: before.token })).status, 401);
  const during = await registerAndLogin(api, 'during');
  t.is((await api.request('POST', '/auth/logout', { token: during.token })).status, 204);
  t.is((await api.request('GET', '/auth/me', { token: during.token })).status, 401);

  // Writes work too, and orders still take stock atomically.
  t.is((await api.request('PUT', `/products/${p.id}`, { token: admin.token, body: { price: '8.00' } })).status, 200);
  t.is((await api.request('GET', `/products/${p.id}`)).body.price, '8.00');
  const order = await api.request('POST', '/orders', { token: live.token, body: { items: [{ product_id: p.id, quantity: 1 }] } });
  t.is(order.status, 201);

  // Rate limits fall back to a per-replica in-memory limiter.
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) statuses.push((await limited.request('POST', '/auth/login', { body: { username: 'nobody', password: 'whatever-1' } })).status);
  t.deepEqual(statuses, [401, 401, 401, 429]);

  // Redis comes back (empty): the API uses it again, and a logout from the outage is still refused.
  await startRedis();
  await until(async () => (await redisState(api)) === 'up', 'the API to reconnect');
  t.is((await api.request('GET', '/health')).body.status, 'ok');
  t.is((await api.request('GET', '/auth/me', { token: during.token })).status, 401);
  t.is((await api.request('GET', '/auth/me', { token: before.token })).status, 401);
  t.is((await api.request('GET', `/products/${p.id}`)).body.price, '8.00');
  t.is((await api.request('GET', `/products/${p.id}`)).body.stock, 4);
});
