import test from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createTestEnv, freePort, registerAndLogin, type TestApi, type TestEnv } from './helpers/harness.js';

const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0;

let env: TestEnv;
let port: number;
let dir: string;
let server: ChildProcess | undefined;

/** A redis-server of our own that keeps its snapshot in `dir` (never the shared one). */
async function startRedis(): Promise<void> {
  server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await until(async () => {
    const probe = new Redis({ port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      return (await probe.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      probe.disconnect();
    }
  }, 'redis-server to start');
}

/** What the OOM killer or a crash does: no shutdown save, the last snapshot is what comes back. */
async function crashRedis(): Promise<void> {
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
  dir = await mkdtemp(join(tmpdir(), 'redis-restart-'));
  if (hasRedisServer) await startRedis();
});
test.after.always(async () => {
  await crashRedis();
  await env?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const redisState = async (api: TestApi) => (await api.request('GET', '/health')).body.checks.redis.status as string;

test.serial('Redis crashes and comes back from a snapshot older than a logout: the logout holds on every replica', async (t) => {
  if (!hasRedisServer) {
    t.log('redis-server is not on PATH: skipping');
    t.pass();
    return;
  }
  const url = `redis://127.0.0.1:${port}`;
  const replicas = [await env.start({ REDIS_URL: url }), await env.start({ REDIS_URL: url })];
  const [a, b] = replicas as [TestApi, TestApi];
  const shopper = await registerAndLogin(a, 'snap');
  // Both replicas have loaded the mirror (its marker is set) and trust it.
  for (const api of replicas) t.is((await api.request('GET', '/auth/me', { token: shopper.token })).status, 200);
  await until(async () => (await b.request('GET', '/auth/me', { token: shopper.token })).status === 200, 'the mirror to load');
  const direct = new Redis({ port });
  direct.on('error', () => undefined);
  t.teardown(() => direct.disconnect());
  t.is(await direct.save(), 'OK');
  // Logged out after the snapshot: the restarted Redis has the marker but not this revocation.
  t.is((await a.request('POST', '/auth/logout', { token: shopper.token })).status, 204);
  await crashRedis();
  await startRedis();
  for (const api of replicas) await until(async () => (await redisState(api)) === 'up', 'the API to reconnect');
  for (let i = 0; i < 5; i++) {
    for (const api of replicas) t.is((await api.request('GET', '/auth/me', { token: shopper.token })).status, 401);
  }
  // And a token that was never revoked still works.
  const other = await registerAndLogin(b, 'snap');
  for (const api of replicas) t.is((await api.request('GET', '/auth/me', { token: other.token })).status, 200);
});
