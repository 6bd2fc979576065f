import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../api/src/config.js';

const base = { DATABASE_URL: 'postgres://shop@db:5432/shop', REDIS_URL: 'redis://cache:6379', API_SECRET_KEY: 'dev-secret-for-tests' };

const problems = (env: Record<string, string>, purpose: 'server' | 'migrate' = 'server'): string[] => {
  try {
    loadConfig(env, purpose);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
};

let dir: string;
test.before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'shop-config-'));
});
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

test('defaults match the documented table, and the result is frozen', (t) => {
  const c = loadConfig(base);
  t.like(c, {
    port: 8000,
    environment: 'development',
    logLevel: 'info',
    databasePoolMax: 10,
    jwtTtlSeconds: 3600,
    rateLimitAuthPerMinute: 10,
    rateLimitPerMinute: 600,
    trustProxy: false,
    accessLogReads: 'info',
    shutdownTimeoutMs: 10000,
    migrateOnStart: false,
    seedSampleData: false,
    redisKeyPrefix: 'shop:',
    admin: null,
  });
  t.is(c.cacheRedisUrl, c.redisUrl);
  t.regex(c.appVersion, /^\d+\.\d+\.\d+/);
  t.regex(c.databaseDir, /database\/$/);
  t.true(Object.isFrozen(c));
});

test('every problem is reported at once, one clear line each', (t) => {
  const p = problems({ PORT: 'x', ENVIRONMENT: 'staging', LOG_LEVEL: 'loud', RATE_LIMIT_PER_MINUTE: '-1', TRUST_PROXY: 'maybe', ACCESS_LOG_READS: 'warn' });
  t.is(p.length, 9, p.join('\n'));
  t.true(p.some((l) => l.startsWith('ACCESS_LOG_READS must be info or debug')));
  t.true(p.some((l) => l.startsWith('PORT must be')));
  t.true(p.some((l) => l.startsWith('ENVIRONMENT must be development, production or test')));
  t.true(p.some((l) => l.startsWith('LOG_LEVEL must be one of')));
  t.true(p.some((l) => l.startsWith('RATE_LIMIT_PER_MINUTE must be')));
  t.true(p.some((l) => l.startsWith('TRUST_PROXY must be true or false')));
  t.true(p.some((l) => l.startsWith('DATABASE_URL is required')));
  t.true(p.some((l) => l.startsWith('REDIS_URL is required')));
  t.true(p.some((l) => l.startsWith('API_SECRET_KEY is required')));
});

test('production refuses a short or known-default API_SECRET_KEY', (t) => {
  t.true(problems({ ...base, ENVIRONMENT: 'production', API_SECRET_KEY: 'short' }).some((p) => p.includes('at least 32 bytes')));
  t.true(problems({ ...base, ENVIRONMENT: 'production', API_SECRET_KEY: 'changeme' }).some((p) => p.includes('known default')));
  t.true(problems({ ...base, ENVIRONMENT: 'production', API_SECRET_KEY: '__GENERATE__' }).some((p) => p.includes('known default')));
  t.deepEqual(problems({ ...base, ENVIRONMENT: 'production', API_SECRET_KEY: 'k'.repeat(16) + 'x'.repeat(16) }), []);
  // Development tolerates a short key.
  t.deepEqual(problems({ ...base, API_SECRET_KEY: 'short' }), []);
});

test('NAME_FILE reads a secret (one trailing newline trimmed); NAME and NAME_FILE together is an error', (t) => {
  const file = path.join(dir, 'api_secret_key');
  writeFileSync(file, 'from-a-file-0123456789-0123456789\n');
  const c = loadConfig({ ...base, API_SECRET_KEY: '', API_SECRET_KEY_FILE: file });
  t.is(c.apiSecretKey, 'from-a-file-0123456789-0123456789');
  t.true(problems({ ...base, API_SECRET_KEY_FILE: file }).some((p) => p.startsWith('API_SECRET_KEY and API_SECRET_KEY_FILE are both set')));
  t.true(problems({ ...base, API_SECRET_KEY: '', API_SECRET_KEY_FILE: path.join(dir, 'missing') }).some((p) => p.includes('cannot be read: ENOENT')));
});

test('DATABASE_PASSWORD and REDIS_PASSWORD (also as files) replace the password inside the URLs', (t) => {
  const pw = path.join(dir, 'pg');
  writeFileSync(pw, 'p@ss/word:1\n');
  const c = loadConfig({ ...base, DATABASE_URL: 'postgres://shop:old@db:5432/shop', DATABASE_PASSWORD_FILE: pw, REDIS_PASSWORD: 'r3dis', CACHE_REDIS_URL: 'redis://cache2:6379/1' });
  t.is(new URL(c.databaseUrl).username, 'shop');
  t.is(decodeURIComponent(new URL(c.databaseUrl).password), 'p@ss/word:1');
  t.is(new URL(c.redisUrl).password, 'r3dis');
  t.is(new URL(c.cacheRedisUrl).password, 'r3dis');
  t.is(new URL(c.cacheRedisUrl).host, 'cache2:6379');
  t.true(problems({ ...base, DATABASE_URL: 'mysql://db/x' }).some((p) => p.startsWith('DATABASE_URL must start with postgres://')));
});

test('migrate needs only the database; the first admin needs all three ADMIN_ variables', (t) => {
  const c = loadConfig({ DATABASE_URL: base.DATABASE_URL }, 'migrate');
  t.is(c.admin, null);
  const withAdmin = loadConfig({ DATABASE_URL: base.DATABASE_URL, ADMIN_USERNAME: 'root', ADMIN_EMAIL: 'root@example.com', ADMIN_PASSWORD: 'long-password' }, 'migrate');
  t.deepEqual(withAdmin.admin, { username: 'root', email: 'root@example.com', password: 'long-password' });
  t.true(problems({ DATABASE_URL: base.DATABASE_URL, ADMIN_USERNAME: 'root' }, 'migrate').some((p) => p.includes('missing: ADMIN_EMAIL, ADMIN_PASSWORD')));
  t.true(problems({ DATABASE_URL: base.DATABASE_URL, ADMIN_USERNAME: 'root', ADMIN_EMAIL: 'bad', ADMIN_PASSWORD: 'short' }, 'migrate').length === 2);
});
