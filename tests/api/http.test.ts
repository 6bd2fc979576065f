import test from 'ava';
import { createTestEnv, registerAndLogin, unique, type TestEnv, type TestApi } from './helpers/harness.js';

let env: TestEnv;
let api: TestApi;

test.before(async () => {
  env = await createTestEnv();
  api = await env.start();
});
test.after.always(async () => {
  await env?.close();
});

test('GET /health reports both dependencies with latency, the version and uptime', async (t) => {
  const res = await api.request('GET', '/health');
  t.is(res.status, 200);
  t.is(res.body.status, 'ok');
  t.is(res.body.checks.database.status, 'up');
  t.is(res.body.checks.redis.status, 'up');
  t.is(typeof res.body.checks.database.latency_ms, 'number');
  t.is(typeof res.body.checks.redis.latency_ms, 'number');
  t.is(res.body.version, api.config.appVersion);
  t.is(typeof res.body.uptime_s, 'number');
});

test('GET /health/live and /health/ready answer 200 for orchestrators', async (t) => {
  t.deepEqual((await api.request('GET', '/health/live')).body, { status: 'ok' });
  const ready = await api.request('GET', '/health/ready');
  t.is(ready.status, 200);
  t.is(ready.body.status, 'ready');
});

test('readiness flips to 503 once shutdown starts', async (t) => {
  const other = await env.start();
  other.runtime.services.health.markShuttingDown();
  const res = await other.request('GET', '/health/ready');
  t.is(res.status, 503);
  t.is((await other.request('GET', '/health/live')).status, 200);
});

test('X-Request-Id is honoured when sane, replaced when not, and always returned', async (t) => {
  const mine = await api.request('GET', '/health/live', { headers: { 'x-request-id': 'abc-123.DEF_4' } });
  t.is(mine.headers.get('x-request-id'), 'abc-123.DEF_4');
  const bad = await api.request('GET', '/health/live', { headers: { 'x-request-id': 'bad id with spaces' } });
  t.regex(bad.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  const long = await api.request('GET', '/health/live', { headers: { 'x-request-id': 'a'.repeat(129) } });
  t.not(long.headers.get('x-request-id'), 'a'.repeat(129));
  const none = await api.request('GET', '/health/live');
  t.truthy(none.headers.get('x-request-id'));
});

test('ACCESS_LOG_READS=debug: a successful read logs at debug; changes, refusals and errors stay at info', async (t) => {
  const lines = (a: TestApi, id: string) =>
    a.logs.map((l) => JSON.parse(l) as { level: unknown; msg: string; req_id: string; status: number }).filter((l) => l.msg === 'request' && l.req_id === id);
  const ask = async (a: TestApi, method: string, path: string, id: string, body?: unknown) => {
    await a.request(method, path, { headers: { 'x-request-id': id }, body });
    // The line is written once the answer has left: give it a turn.
    await new Promise((r) => setTimeout(r, 20));
    return lines(a, id);
  };
  // The stacks' setting (nginx logs every request): the read is not written at info.
  const quiet = await env.start({ ACCESS_LOG_READS: 'debug' });
  t.deepEqual(await ask(quiet, 'GET', '/products?limit=1', 'read-quiet-1'), []);
  t.deepEqual(await ask(quiet, 'HEAD', '/products?limit=1', 'read-quiet-2'), []);
  const missing = await ask(quiet, 'GET', '/products/999999999', 'read-404');
  t.is(missing.length, 1, 'a refused read is still logged');
  t.is(missing[0]!.status, 404);
  const refused = await ask(quiet, 'POST', '/cart/add', 'write-401', { product_id: 1, quantity: 1 });
  t.is(refused.length, 1, 'a change (here refused) is still logged');
  t.is(refused[0]!.status, 401);
  const user = unique('quietlog');
  const created = await ask(quiet, 'POST', '/auth/register', 'write-201', { username: user, email: `${user}@example.com`, password: 'correct-horse-battery' });
  t.is(created.length, 1, 'a successful change is logged');
  t.is(created[0]!.status, 201);
  // LOG_LEVEL=debug brings the reads back.
  const verbose = await env.start({ ACCESS_LOG_READS: 'debug', LOG_LEVEL: 'debug' });
  const read = await ask(verbose, 'GET', '/products?limit=1', 'read-debug');
  t.is(read.length, 1);
  t.is(read[0]!.status, 200);
  t.true(read[0]!.level === 'debug' || read[0]!.level === 20, `level ${String(read[0]!.level)}`);
  // The default (the API on its own): every read at info.
  const all = await ask(api, 'GET', '/products?limit=1', 'read-info');
  t.is(all.length, 1);
  t.is(all[0]!.status, 200);
  t.true(all[0]!.level === 'info' || all[0]!.level === 30, `level ${String(all[0]!.level)}`);
});

test('unknown path -> 404 problem+json; wrong method -> 405 with Allow', async (t) => {
  const missing = await api.request('GET', '/no/such/thing');
  t.is(missing.status, 404);
  t.regex(missing.headers.get('content-type') ?? '', /^application\/problem\+json/);
  t.like(missing.body, { status: 404, code: 'not_found', title: 'Not found' });
  t.truthy(missing.body.type);
  t.truthy(missing.body.detail);
  const wrong = await api.request('PATCH', '/products');
  t.true([405, 501].includes(wrong.status));
  t.regex(wrong.headers.get('content-type') ?? '', /^application\/problem\+json/);
  const del = await api.request('DELETE', '/categories');
  t.is(del.status, 405);
  t.is(del.body.code, 'method_not_allowed');
  t.regex(del.headers.get('allow') ?? '', /GET/);
});

test('routing: trailing slash and case as before, HEAD for GET routes, OPTIONS and unknown methods answer Allow', async (t) => {
  for (const path of ['/products/', '/PRODUCTS', '/health/live/']) t.is((await api.request('GET', path)).status, 200, path);
  t.is((await api.request('GET', '/products//')).status, 404);
  const head = await api.request('HEAD', '/products');
  t.is(head.status, 200);
  t.is(head.text, '');
  const options = await api.request('OPTIONS', '/products');
  t.is(options.status, 200);
  t.is(options.headers.get('allow'), 'HEAD, GET, POST');
  const purge = await api.request('PURGE', '/products');
  t.is(purge.status, 501);
  t.is(purge.body.code, 'not_implemented');
  // A static path that a parameterised route also matches: the methods of both are allowed.
  const cart = await api.request('GET', '/cart/add');
  t.is(cart.status, 405);
  t.is(cart.headers.get('allow'), 'POST, PUT, DELETE');
  // The body is only read by a route that takes one: an unknown path is 404 whatever the body.
  t.is((await api.request('POST', '/nowhere', { raw: 'x', headers: { 'content-type': 'text/plain' } })).status, 404);
  t.is((await api.request('GET', '/products/%31')).status, (await api.request('GET', '/products/1')).status);
});

test('malformed JSON -> 400, non-JSON body -> 415, body over 1 MB -> 413', async (t) => {
  const malformed = await api.request('POST', '/auth/register', { raw: '{"username": "x",', headers: { 'content-type': 'application/json' } });
  t.is(malformed.status, 400);
  t.is(malformed.body.code, 'invalid_json');
  const form = await api.request('POST', '/auth/register', { raw: 'username=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  t.is(form.status, 415);
  t.is(form.body.code, 'unsupported_media_type');
  const huge = await api.request('POST', '/auth/register', {
    raw: JSON.stringify({ username: 'x', email: 'x@example.com', password: 'p'.repeat(1024 * 1024 + 10) }),
    headers: { 'content-type': 'application/json' },
  });
  t.is(huge.status, 413);
  t.is(huge.body.code, 'payload_too_large');
});

test('unknown fields are rejected with 422 and errors[{path,message}]', async (t) => {
  const res = await api.request('POST', '/auth/register', { body: { username: 'someone', email: 's@example.com', password: 'long-enough-1', admin: true } });
  t.is(res.status, 422);
  t.is(res.body.code, 'validation_failed');
  t.deepEqual(res.body.errors, [{ path: 'admin', message: 'unknown field' }]);
});

test('GET /metrics serves Prometheus text with the contract metric names and route templates', async (t) => {
  await api.request('GET', '/products/999999');
  await api.request('GET', '/products');
  await api.request('GET', '/nowhere');
  const res = await api.request('GET', '/metrics');
  t.is(res.status, 200);
  t.regex(res.headers.get('content-type') ?? '', /^text\/plain/);
  for (const name of [
    'process_cpu_seconds_total',
    'nodejs_eventloop_lag_seconds',
    'http_requests_total',
    'http_request_duration_seconds_bucket',
    'http_requests_in_flight',
    'cache_hits_total',
    'cache_misses_total',
    'db_query_duration_seconds_bucket',
    'db_pool_connections',
    'db_pool_max_connections',
    'rate_limited_requests_total',
    'shop_orders_created_total',
    'shop_order_revenue_total',
    'shop_products_in_stock',
    'shop_orders_today',
    'shop_active_users',
    'app_info',
  ]) {
    t.true(res.text.includes(`\n${name}`) || res.text.startsWith(name), `${name} missing`);
  }
  t.regex(res.text, /http_requests_total\{method="GET",route="\/products\/:id",status_code="404"\} [1-9]/);
  t.regex(res.text, /http_requests_total\{method="GET",route="unmatched",status_code="404"\} [1-9]/);
  t.regex(res.text, /http_request_duration_seconds_bucket\{le="0.005",method="GET",route="\/products"/);
  t.regex(res.text, /cache_misses_total\{cache="products_list"\} [1-9]/);
  t.regex(res.text, /db_query_duration_seconds_count\{operation="select"\} [1-9]/);
  t.regex(res.text, /app_info\{version="[^"]+"\} 1/);
});

test('GET /metrics with Accept: application/json answers the summary', async (t) => {
  const shopper = await registerAndLogin(api, 'metrics');
  await api.request('GET', '/auth/me', { token: shopper.token });
  const res = await api.request('GET', '/metrics', { headers: { accept: 'application/json' } });
  t.is(res.status, 200);
  const keys = ['http_requests_total', 'active_users', 'products_in_stock', 'orders_today', 'cache_hit_ratio', 'response_time_avg', 'error_rate'];
  t.deepEqual(Object.keys(res.body).sort(), keys.sort());
  for (const k of keys) t.is(typeof res.body[k], 'number');
  t.true(res.body.http_requests_total > 0);
  t.true(res.body.active_users >= 1);
});

test('GET /openapi.json is OpenAPI 3.1 and documents every route the router serves', async (t) => {
  const res = await api.request('GET', '/openapi.json');
  t.is(res.status, 200);
  t.is(res.body.openapi, '3.1.0');
  const documented = new Set<string>();
  for (const [path, ops] of Object.entries(res.body.paths as Record<string, Record<string, unknown>>)) {
    for (const method of Object.keys(ops)) documented.add(`${method.toUpperCase()} ${path}`);
  }
  const required = [
    'POST /auth/register', 'POST /auth/login', 'POST /auth/logout', 'GET /auth/me',
    'GET /products', 'GET /products/{id}', 'POST /products', 'PUT /products/{id}', 'DELETE /products/{id}', 'GET /categories',
    'POST /cart/add', 'GET /cart', 'PUT /cart/{item_id}', 'DELETE /cart/{item_id}',
    'POST /orders', 'GET /orders', 'GET /orders/{id}', 'PUT /orders/{id}/status',
    'GET /admin/dashboard', 'GET /admin/analytics',
    'GET /health', 'GET /health/live', 'GET /health/ready', 'GET /metrics', 'GET /docs', 'GET /openapi.json',
  ];
  for (const r of required) t.true(documented.has(r), `${r} is not documented`);
  for (const route of api.runtime.app.registry.routes) {
    t.true(documented.has(`${route.method.toUpperCase()} ${route.path.replace(/:(\w+)/g, '{$1}')}`));
  }
  // The request schemas are the validators': the register body rejects unknown fields and needs 8+ chars.
  const register = res.body.paths['/auth/register'].post.requestBody.content['application/json'].schema;
  t.is(register.additionalProperties, false);
  t.is(register.properties.password.minLength, 8);
  const list = res.body.paths['/products'].get.parameters.map((p: { name: string }) => p.name);
  t.deepEqual(list.sort(), ['category_id', 'in_stock', 'limit', 'max_price', 'min_price', 'offset', 'q', 'sort'].sort());
});

test('GET /docs serves Swagger UI from local assets with no inline script', async (t) => {
  const page = await api.request('GET', '/docs');
  t.is(page.status, 200);
  t.regex(page.headers.get('content-type') ?? '', /text\/html/);
  t.notRegex(page.text, /https?:\/\//, 'no CDN or external URL');
  t.regex(page.headers.get('content-security-policy') ?? '', /script-src 'self';/);
  const scripts = [...page.text.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
  t.true(scripts.length >= 2);
  for (const [, attrs, content] of scripts) {
    t.regex(attrs!, /src="\/docs\//);
    t.is(content!.trim(), '');
  }
  for (const asset of ['/docs/swagger-ui-bundle.js', '/docs/swagger-ui.css', '/docs/init.js']) {
    const res = await api.request('GET', asset);
    t.is(res.status, 200, asset);
    t.true(res.text.length > 10);
  }
  t.regex((await api.request('GET', '/docs/init.js')).text, /\/openapi\.json/);
  t.is((await api.request('GET', '/docs/../../etc/passwd')).status, 404);
  t.is((await api.request('GET', '/docs/package.json')).status, 404);
});

test('PostgreSQL unreachable -> /health 503 problem without the driver error (logged with the request id), /health/ready 503; liveness 200', async (t) => {
  const broken = await env.start({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/nowhere' });
  const health = await broken.request('GET', '/health', { headers: { 'x-request-id': 'health-probe-1' } });
  t.is(health.status, 503);
  t.is(health.headers.get('content-type'), 'application/problem+json');
  t.like(health.body, { status: 503, code: 'service_unavailable' });
  t.is(health.body.checks.database.status, 'down');
  t.is(typeof health.body.checks.database.latency_ms, 'number');
  t.is(health.body.checks.redis.status, 'up');
  t.deepEqual(Object.keys(health.body.checks.database).sort(), ['latency_ms', 'status']);
  t.notRegex(health.text, /ECONNREFUSED|127\.0\.0\.1|nowhere|connect/);
  const logged = broken.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'health check failed');
  t.is(logged?.req_id, 'health-probe-1');
  t.regex(JSON.stringify(logged?.checks), /ECONNREFUSED/);
  t.is((await broken.request('GET', '/health/ready')).status, 503);
  t.is((await broken.request('GET', '/health/live')).status, 200);
  // A request that needs the database fails cleanly, without leaking the error.
  const list = await broken.request('GET', '/products?q=nothing-cached');
  t.is(list.status, 503);
  t.is(list.body.code, 'service_unavailable');
  t.is(list.headers.get('retry-after'), '5');
  t.notRegex(list.text, /ECONNREFUSED|127\.0\.0\.1/);
});
