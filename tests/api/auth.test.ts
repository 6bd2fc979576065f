import test from 'ava';
import jwt from 'jsonwebtoken';
import { randomUUID } from 'node:crypto';
import { createTestEnv, registerAndLogin, unique, TEST_SECRET, type TestEnv, type TestApi } from './helpers/harness.js';

let env: TestEnv;
let api: TestApi;

test.before(async () => {
  env = await createTestEnv();
  api = await env.start();
});
test.after.always(async () => {
  await env?.close();
});

const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

test('register -> 201 user without any hash; login -> bearer token; /auth/me -> the user', async (t) => {
  const username = unique('Reg');
  const reg = await api.request('POST', '/auth/register', { body: { username, email: `${username}@Example.com`, password: 'a-good-password' } });
  t.is(reg.status, 201);
  t.deepEqual(Object.keys(reg.body).sort(), ['created_at', 'email', 'id', 'role', 'username']);
  t.is(reg.body.role, 'customer');
  t.regex(reg.body.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  t.notRegex(reg.text, /scrypt|hash|a-good-password/);

  const login = await api.request('POST', '/auth/login', { body: { username, password: 'a-good-password' } });
  t.is(login.status, 200);
  t.is(login.body.token_type, 'bearer');
  t.is(login.body.expires_in, 3600);
  const claims = jwt.decode(login.body.access_token, { complete: true })!;
  t.is(claims.header.alg, 'HS256');
  t.like(claims.payload as object, { sub: String(reg.body.id), role: 'customer' });
  t.truthy((claims.payload as { jti?: string }).jti);

  const me = await api.request('GET', '/auth/me', { token: login.body.access_token });
  t.is(me.status, 200);
  t.deepEqual(me.body, reg.body);

  // Login with the e-mail address (any case) works too.
  const byEmail = await api.request('POST', '/auth/login', { body: { username: `${username}@example.COM`, password: 'a-good-password' } });
  t.is(byEmail.status, 200);
  const byEmailField = await api.request('POST', '/auth/login', { body: { email: `${username}@example.com`, password: 'a-good-password' } });
  t.is(byEmailField.status, 200);
});

test('duplicate username or e-mail (any case) -> 409', async (t) => {
  const s = await registerAndLogin(api, 'dup');
  const sameName = await api.request('POST', '/auth/register', { body: { username: s.username.toUpperCase(), email: `other-${s.email}`, password: 'another-password' } });
  t.is(sameName.status, 409);
  t.is(sameName.body.code, 'username_taken');
  const sameEmail = await api.request('POST', '/auth/register', { body: { username: unique('other'), email: s.email.toUpperCase(), password: 'another-password' } });
  t.is(sameEmail.status, 409);
  t.is(sameEmail.body.code, 'email_taken');
});

test('concurrent registrations of one username: exactly one wins, the rest get 409', async (t) => {
  const username = unique('race');
  const results = await Promise.all(
    Array.from({ length: 5 }, (_, i) => api.request('POST', '/auth/register', { body: { username, email: `${username}-${i}@example.com`, password: 'a-good-password' } })),
  );
  t.deepEqual(results.map((r) => r.status).sort(), [201, 409, 409, 409, 409]);
});

test('weak password (< 8 chars), bad e-mail and bad username -> 422 with a path per problem', async (t) => {
  const res = await api.request('POST', '/auth/register', { body: { username: 'x', email: 'not-an-email', password: 'short' } });
  t.is(res.status, 422);
  t.is(res.body.code, 'validation_failed');
  t.deepEqual(res.body.errors.map((e: { path: string }) => e.path).sort(), ['email', 'password', 'username']);
  const weak = await api.request('POST', '/auth/register', { body: { username: unique('weak'), email: 'weak@example.com', password: '1234567' } });
  t.is(weak.status, 422);
  t.deepEqual(weak.body.errors.map((e: { path: string }) => e.path), ['password']);
});

test('wrong password and unknown user get the same 401 answer in similar time', async (t) => {
  const s = await registerAndLogin(api, 'timing');
  const wrong = await api.request('POST', '/auth/login', { body: { username: s.username, password: 'wrong-password' } });
  const unknown = await api.request('POST', '/auth/login', { body: { username: unique('ghost'), password: 'wrong-password' } });
  t.is(wrong.status, 401);
  t.is(unknown.status, 401);
  t.is(wrong.body.code, 'invalid_credentials');
  t.deepEqual(wrong.body, unknown.body);

  const time = async (username: string) => {
    const start = performance.now();
    await api.request('POST', '/auth/login', { body: { username, password: 'wrong-password' } });
    return performance.now() - start;
  };
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const known: number[] = [];
  const ghost: number[] = [];
  for (let i = 0; i < 5; i++) {
    known.push(await time(s.username));
    ghost.push(await time(unique('ghost')));
  }
  const ratio = median(ghost) / median(known);
  t.true(ratio > 0.5 && ratio < 2, `unknown user ${median(ghost).toFixed(1)} ms vs wrong password ${median(known).toFixed(1)} ms`);
  t.true(median(known) > 20, 'the KDF costs tens of milliseconds');
});

test('login needs exactly one of username/email and rejects unknown fields', async (t) => {
  t.is((await api.request('POST', '/auth/login', { body: { password: 'x' } })).status, 422);
  t.is((await api.request('POST', '/auth/login', { body: { username: 'a', email: 'a@b.c', password: 'x' } })).status, 422);
  t.is((await api.request('POST', '/auth/login', { body: { username: 'a', password: 'x', remember: true } })).status, 422);
});

test('no token, a malformed header, alg:none, a tampered, an expired or a wrong-alg token -> 401', async (t) => {
  const s = await registerAndLogin(api, 'jwt');
  const [header, payload, signature] = s.token.split('.');
  const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;

  const none = `${b64url({ alg: 'none', typ: 'JWT' })}.${payload}.`;
  const tampered = `${header}.${b64url({ ...claims, role: 'admin' })}.${signature}`;
  const otherSub = `${header}.${b64url({ ...claims, sub: '1' })}.${signature}`;
  const expired = jwt.sign({ role: 'customer' }, TEST_SECRET, { algorithm: 'HS256', subject: String(s.id), jwtid: randomUUID(), expiresIn: -10 });
  const hs512 = jwt.sign({ role: 'customer' }, TEST_SECRET, { algorithm: 'HS512', subject: String(s.id), jwtid: randomUUID(), expiresIn: 600 });
  const otherKey = jwt.sign({ role: 'customer' }, 'some-other-secret-of-enough-length-xxxxxxxx', { algorithm: 'HS256', subject: String(s.id), jwtid: randomUUID(), expiresIn: 600 });
  const noJti = jwt.sign({ role: 'customer' }, TEST_SECRET, { algorithm: 'HS256', subject: String(s.id), expiresIn: 600 });

  const noToken = await api.request('GET', '/auth/me');
  t.is(noToken.status, 401);
  t.is(noToken.headers.get('www-authenticate'), 'Bearer');
  t.is((await api.request('GET', '/auth/me', { headers: { authorization: `Token ${s.token}` } })).status, 401);
  for (const [name, token] of Object.entries({ none, tampered, otherSub, expired, hs512, otherKey, noJti, garbage: 'not.a.jwt' })) {
    const res = await api.request('GET', '/auth/me', { token });
    t.is(res.status, 401, name);
    t.is(res.body.code, 'unauthenticated', name);
  }
  t.regex((await api.request('GET', '/auth/me', { token: expired })).body.detail, /expired/);
  // The genuine token still works.
  t.is((await api.request('GET', '/auth/me', { token: s.token })).status, 200);
});

test('logout -> 204 and the token is refused from then on, also by another replica', async (t) => {
  const other = await env.start();
  const s = await registerAndLogin(api, 'logout');
  t.is((await other.request('GET', '/auth/me', { token: s.token })).status, 200);
  const out = await api.request('POST', '/auth/logout', { token: s.token });
  t.is(out.status, 204);
  t.is((await api.request('GET', '/auth/me', { token: s.token })).status, 401);
  const elsewhere = await other.request('GET', '/auth/me', { token: s.token });
  t.is(elsewhere.status, 401);
  t.regex(elsewhere.body.detail, /revoked/);
  // A second logout with the revoked token is itself unauthenticated.
  t.is((await api.request('POST', '/auth/logout', { token: s.token })).status, 401);
  // Other sessions of the same user are untouched.
  const again = await api.request('POST', '/auth/login', { body: { username: s.username, password: s.password } });
  t.is((await other.request('GET', '/auth/me', { token: again.body.access_token })).status, 200);
});

test.serial('a logout stays in force after the Redis keys are lost (flush of our prefix)', async (t) => {
  const s = await registerAndLogin(api, 'flush');
  t.is((await api.request('POST', '/auth/logout', { token: s.token })).status, 204);
  const deleted = await env.deletePrefixKeys();
  t.true(deleted > 0);
  t.is((await api.request('GET', '/auth/me', { token: s.token })).status, 401);
  // The mirror is reloaded from PostgreSQL (in the background of the first check) and answers on its own again.
  let marker: string | null = null;
  for (let i = 0; i < 100 && marker === null; i++) {
    await api.runtime.services.auth.isRevoked(randomUUID());
    marker = await env.redis.get(`${env.prefix}auth:revoked:loaded`);
  }
  t.truthy(marker);
  const jti = (jwt.decode(s.token) as { jti: string }).jti;
  t.is(await env.redis.exists(`${env.prefix}auth:revoked:${jti}`), 1);
  t.is((await api.request('GET', '/auth/me', { token: s.token })).status, 401);
});

test('the auth limiter answers 429 with Retry-After after RATE_LIMIT_AUTH_PER_MINUTE attempts per IP', async (t) => {
  const limited = await env.start({ RATE_LIMIT_AUTH_PER_MINUTE: '3', REDIS_KEY_PREFIX: `${env.prefix}rl1:` });
  const statuses: number[] = [];
  let last;
  for (let i = 0; i < 5; i++) {
    last = await limited.request('POST', '/auth/login', { body: { username: 'nobody', password: 'whatever-1' } });
    statuses.push(last.status);
  }
  t.deepEqual(statuses, [401, 401, 401, 429, 429]);
  t.is(last!.body.code, 'rate_limited');
  const retryAfter = Number(last!.headers.get('retry-after'));
  t.true(retryAfter >= 1 && retryAfter <= 60);
  t.is(last!.headers.get('ratelimit-limit'), '3');
  // Register shares the per-IP budget; other endpoints do not.
  t.is((await limited.request('POST', '/auth/register', { body: {} })).status, 429);
  t.is((await limited.request('GET', '/products')).status, 200);
  const metrics = await limited.request('GET', '/metrics');
  t.regex(metrics.text, /rate_limited_requests_total\{limiter="auth"\} 3/);
});

test('the global limiter counts per client and 0 turns a limiter off', async (t) => {
  const limited = await env.start({ RATE_LIMIT_PER_MINUTE: '5', RATE_LIMIT_AUTH_PER_MINUTE: '0', REDIS_KEY_PREFIX: `${env.prefix}rl2:` });
  const statuses: number[] = [];
  for (let i = 0; i < 7; i++) statuses.push((await limited.request('GET', '/categories')).status);
  t.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429]);
  // Health and metrics stay reachable for probes and scrapers.
  t.is((await limited.request('GET', '/health/ready')).status, 200);
  t.is((await limited.request('GET', '/metrics')).status, 200);

  // Reads served from the replica's reservation (no round trip) still add up exactly.
  const forty = await env.start({ RATE_LIMIT_PER_MINUTE: '40', RATE_LIMIT_AUTH_PER_MINUTE: '0', REDIS_KEY_PREFIX: `${env.prefix}rl4:` });
  const reads: number[] = [];
  for (let i = 0; i < 45; i++) reads.push((await forty.request('GET', '/products')).status);
  t.deepEqual(reads, [...Array(40).fill(200), ...Array(5).fill(429)]);
  const burst = await Promise.all(Array.from({ length: 10 }, () => forty.request('GET', '/products')));
  t.true(burst.every((r) => r.status === 429));

  // A concurrent burst is counted exactly, however the replica batches its counter updates.
  const thirty = await env.start({ RATE_LIMIT_PER_MINUTE: '30', RATE_LIMIT_AUTH_PER_MINUTE: '0', REDIS_KEY_PREFIX: `${env.prefix}rl5:` });
  const wave = await Promise.all(Array.from({ length: 50 }, () => thirty.request('GET', '/categories')));
  t.is(wave.filter((r) => r.status === 200).length, 30);
  t.is(wave.filter((r) => r.status === 429).length, 20);

  // A burst after the replica reserved points for the client still adds up exactly.
  const twoHundred = await env.start({ RATE_LIMIT_PER_MINUTE: '200', RATE_LIMIT_AUTH_PER_MINUTE: '0', REDIS_KEY_PREFIX: `${env.prefix}rl6:` });
  t.is((await twoHundred.request('GET', '/categories')).status, 200);
  const flood = await Promise.all(Array.from({ length: 250 }, () => twoHundred.request('GET', '/categories')));
  t.is(flood.filter((r) => r.status === 200).length, 199);
  t.true(flood.filter((r) => r.status === 429).every((r) => r.headers.get('retry-after') !== null));

  const off = await env.start({ RATE_LIMIT_PER_MINUTE: '0', RATE_LIMIT_AUTH_PER_MINUTE: '0', REDIS_KEY_PREFIX: `${env.prefix}rl3:` });
  const many = await Promise.all(Array.from({ length: 30 }, () => off.request('GET', '/categories')));
  t.true(many.every((r) => r.status === 200));
});

test('logs are JSON with a request id and never contain passwords or tokens', async (t) => {
  const s = await registerAndLogin(api, 'logs');
  await api.request('GET', '/auth/me', { token: s.token, headers: { 'x-request-id': 'log-check-1' } });
  await api.request('POST', '/auth/login', { body: { username: s.username, password: 'wrong-secret-pw' } });
  const all = api.logs.join('\n');
  t.false(all.includes(s.password));
  t.false(all.includes('wrong-secret-pw'));
  t.false(all.includes(s.token));
  t.false(all.includes(s.token.split('.')[2]!));
  const line = api.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.req_id === 'log-check-1');
  t.truthy(line);
  t.like(line, { method: 'GET', route: '/auth/me', status: 200, user_id: s.id });
  t.is(typeof line!.duration_ms, 'number');
});

test('with TRUST_PROXY the client IP comes from X-Forwarded-For; without it the header is ignored', async (t) => {
  const proxied = await env.start({ TRUST_PROXY: 'true', RATE_LIMIT_AUTH_PER_MINUTE: '2', REDIS_KEY_PREFIX: `${env.prefix}xff1:` });
  const attempt = (a: TestApi, ip: string) => a.request('POST', '/auth/login', { body: { username: 'nobody', password: 'whatever-1' }, headers: { 'x-forwarded-for': ip } });
  const statuses = async (a: TestApi, ip: string) => [(await attempt(a, ip)).status, (await attempt(a, ip)).status, (await attempt(a, ip)).status];
  t.deepEqual(await statuses(proxied, '203.0.113.7'), [401, 401, 429]);
  t.deepEqual(await statuses(proxied, '203.0.113.8'), [401, 401, 429]);

  const direct = await env.start({ TRUST_PROXY: 'false', RATE_LIMIT_AUTH_PER_MINUTE: '2', REDIS_KEY_PREFIX: `${env.prefix}xff2:` });
  t.deepEqual(await statuses(direct, '203.0.113.9'), [401, 401, 429]);
  // A spoofed header does not buy a fresh budget.
  t.is((await attempt(direct, '198.51.100.1')).status, 429);
});
