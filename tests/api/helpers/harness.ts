import type { TestFn } from 'ava';
import http from 'node:http';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import pgPromise from 'pg-promise';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { loadConfig, type Config } from '../../../api/src/config.js';
import { runMigrations } from '../../../api/src/data/migrations.js';
import { ensureAdmin } from '../../../api/src/data/repos/users.js';
import { hashPassword } from '../../../api/src/domain/passwords.js';
import { createRuntime, type Runtime } from '../../../api/src/runtime.js';
import { REDACT_PATHS } from '../../../api/src/observability/logger.js';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const DATABASE_DIR = new URL('../../../database/', import.meta.url).pathname;
export const TEST_SECRET = 'test-secret-key-that-is-long-enough-0123456789';

const pgp = pgPromise({ noWarnings: true });

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** Drops a test database once its last backend is gone (pg's pool.end() resolves before the server closes them). */
export async function dropDatabase(name: string): Promise<void> {
  const admin = pgp(TEST_DATABASE_URL);
  try {
    for (let i = 0; i < 200; i++) {
      const { n } = await admin.one<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [name]);
      if (n === 0) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    // FORCE only for backends that outlived the wait (a test that failed half-way).
    await admin.none('DROP DATABASE IF EXISTS $1:name WITH (FORCE)', [name]);
  } finally {
    await admin.$pool.end();
  }
}

export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

export interface TestEnv {
  databaseUrl: string;
  databaseName: string;
  prefix: string;
  /** A direct connection to this file's database, for setup and assertions. */
  db: pgPromise.IDatabase<unknown>;
  /** A direct Redis client (shared server), for assertions on this file's prefix. */
  redis: Redis;
  apps: TestApi[];
  start(overrides?: Record<string, string>): Promise<TestApi>;
  /** Deletes every key under this file's prefix (never FLUSHALL: the server is shared). */
  deletePrefixKeys(): Promise<number>;
  prefixKeys(): Promise<string[]>;
  close(): Promise<void>;
}

/** A fresh database (migrated) and a unique Redis prefix for one test file, so files run in parallel. */
export async function createTestEnv(): Promise<TestEnv> {
  const databaseName = `test_api_${randomBytes(6).toString('hex')}`;
  const admin = pgp(TEST_DATABASE_URL);
  await admin.none('CREATE DATABASE $1:name', [databaseName]);
  await admin.$pool.end();
  const databaseUrl = withDatabase(TEST_DATABASE_URL, databaseName);
  const db = pgp({ connectionString: databaseUrl, max: 4 });
  await runMigrations(db, `${DATABASE_DIR}migrations`);
  const prefix = `test:${databaseName}:`;
  const redis = new Redis(TEST_REDIS_URL, { lazyConnect: false, maxRetriesPerRequest: 1 });
  const apps: TestApi[] = [];

  const env: TestEnv = {
    databaseUrl,
    databaseName,
    prefix,
    db,
    redis,
    apps,
    async start(overrides = {}) {
      const api = await startApi({
        DATABASE_URL: databaseUrl,
        REDIS_URL: TEST_REDIS_URL,
        REDIS_KEY_PREFIX: prefix,
        API_SECRET_KEY: TEST_SECRET,
        ENVIRONMENT: 'test',
        LOG_LEVEL: 'info',
        DATABASE_POOL_MAX: '10',
        DATABASE_DIR,
        // Many logins per file: the auth limiter gets its own tests with a low limit.
        RATE_LIMIT_AUTH_PER_MINUTE: '100000',
        RATE_LIMIT_PER_MINUTE: '100000',
        ...overrides,
      });
      apps.push(api);
      return api;
    },
    async deletePrefixKeys() {
      const keys = await env.prefixKeys();
      for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
      return keys.length;
    },
    async prefixKeys() {
      const keys: string[] = [];
      let cursor = '0';
      do {
        const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        keys.push(...batch);
      } while (cursor !== '0');
      return keys;
    },
    async close() {
      await Promise.allSettled(apps.map((a) => a.close()));
      await env.deletePrefixKeys().catch(() => undefined);
      redis.disconnect();
      await db.$pool.end();
      await dropDatabase(databaseName);
    },
  };
  return env;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON bodies
export interface Response<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export interface RequestOptions {
  body?: unknown;
  /** Sent as is (no JSON encoding). */
  raw?: string | Buffer;
  token?: string;
  headers?: Record<string, string>;
}

export interface TestApi {
  url: string;
  runtime: Runtime;
  config: Config;
  /** Every log line this app wrote, parsed. */
  logs: string[];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see Response
  request<T = any>(method: string, path: string, opts?: RequestOptions): Promise<Response<T>>;
  close(): Promise<void>;
}

export async function startApi(env: Record<string, string>): Promise<TestApi> {
  const config = loadConfig(env, 'server');
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      cb();
    },
  });
  const logger = pino({ level: config.logLevel, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, sink);
  const runtime = await createRuntime(config, logger);
  const server = http.createServer(runtime.app.koa.callback());
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let closed = false;
  return {
    url,
    runtime,
    config,
    logs,
    async request(method, path, opts = {}) {
      const headers: Record<string, string> = { ...opts.headers };
      let body: string | Buffer | undefined;
      if (opts.raw !== undefined) body = opts.raw;
      else if (opts.body !== undefined) {
        body = JSON.stringify(opts.body);
        headers['content-type'] ??= 'application/json';
      }
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      const res = await fetch(url + path, { method, headers, body });
      const text = await res.text();
      let parsed: unknown = text;
      if ((res.headers.get('content-type') ?? '').includes('json') && text !== '') parsed = JSON.parse(text);
      return { status: res.status, headers: res.headers, body: parsed as never, text };
    },
    async close() {
      if (closed) return;
      closed = true;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await runtime.close();
    },
  };
}

let counter = 0;
export const unique = (base = 'user') => `${base}${process.pid}${Date.now().toString(36)}${(counter++).toString(36)}`.slice(0, 50);

export interface Shopper {
  id: number;
  username: string;
  email: string;
  password: string;
  token: string;
}

export async function registerAndLogin(api: TestApi, base = 'shopper'): Promise<Shopper> {
  const username = unique(base);
  const email = `${username}@example.com`;
  const password = 'correct-horse-battery';
  const reg = await api.request('POST', '/auth/register', { body: { username, email, password } });
  if (reg.status !== 201) throw new Error(`register failed: ${reg.status} ${reg.text}`);
  const login = await api.request('POST', '/auth/login', { body: { username, password } });
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${login.text}`);
  return { id: reg.body.id, username, email, password, token: login.body.access_token };
}

export async function adminLogin(env: TestEnv, api: TestApi): Promise<Shopper> {
  const username = unique('admin');
  const password = 'admin-password-123';
  await ensureAdmin(env.db, { username, email: `${username}@example.com`, passwordHash: await hashPassword(password) });
  const login = await api.request('POST', '/auth/login', { body: { username, password } });
  if (login.status !== 200) throw new Error(`admin login failed: ${login.status} ${login.text}`);
  const { id } = await env.db.one<{ id: number }>('SELECT id FROM users WHERE username = $1', [username]);
  return { id, username, email: `${username}@example.com`, password, token: login.body.access_token };
}

export async function insertProduct(env: TestEnv, p: { name?: string; price?: string; stock?: number; description?: string; category_id?: number | null } = {}): Promise<{ id: number; name: string; price: string; stock: number }> {
  return env.db.one(
    'INSERT INTO products (name, description, price, stock, category_id) VALUES ($1, $2, $3::numeric, $4, $5) RETURNING id, name, price::text AS price, stock',
    [p.name ?? unique('product'), p.description ?? '', p.price ?? '10.00', p.stock ?? 100, p.category_id ?? null],
  );
}

export async function insertCategory(env: TestEnv, name = unique('cat')): Promise<number> {
  const slug = name.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 100);
  const r = await env.db.one<{ id: number }>('INSERT INTO categories (name, slug) VALUES ($1, $2) RETURNING id', [name, slug]);
  return r.id;
}

export async function stockOf(env: TestEnv, productId: number): Promise<number> {
  const r = await env.db.one<{ stock: number }>('SELECT stock FROM products WHERE id = $1', [productId]);
  return r.stock;
}

/** One database, Redis prefix and API for a whole test file, closed after its last test. */
export function apiPerFile(test: TestFn, overrides?: Record<string, string>): { env: TestEnv; api: TestApi } {
  const file = {} as { env: TestEnv; api: TestApi };
  test.before(async () => {
    file.env = await createTestEnv();
    file.api = await file.env.start(overrides);
  });
  test.after.always(async () => {
    await file.env?.close();
  });
  return file;
}
