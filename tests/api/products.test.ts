import test from 'ava';
import { adminLogin, createTestEnv, insertCategory, insertProduct, registerAndLogin, unique, type Shopper, type TestApi, type TestEnv } from './helpers/harness.js';
import { CACHE_MAX_ENTRIES } from '../../api/src/runtime.js';

let env: TestEnv;
let api: TestApi;
let admin: Shopper;
let shopper: Shopper;
let catA: number;
let catB: number;

test.before(async () => {
  env = await createTestEnv();
  api = await env.start();
  admin = await adminLogin(env, api);
  shopper = await registerAndLogin(api, 'prod');
  catA = await insertCategory(env, 'Garden tools');
  catB = await insertCategory(env, 'Kitchen');
  await insertProduct(env, { name: 'Green watering can', description: 'Holds 10 litres', price: '15.50', stock: 4, category_id: catA });
  await insertProduct(env, { name: 'Rake', description: 'Steel rake for leaves', price: '22.00', stock: 0, category_id: catA });
  await insertProduct(env, { name: 'Spade', description: 'Ash handle, green head', price: '39.99', stock: 12, category_id: catA });
  await insertProduct(env, { name: 'Whisk', description: 'Balloon whisk 100% steel', price: '7.25', stock: 30, category_id: catB });
  await insertProduct(env, { name: 'Apron', description: 'Cotton apron with pocket', price: '12.00', stock: 9, category_id: catB });
});
test.after.always(async () => {
  await env?.close();
});

const names = (body: { items: Array<{ name: string }> }) => body.items.map((p) => p.name);

test.serial('GET /products pages with {items,total,limit,offset}; a product has the documented fields, price as a decimal string', async (t) => {
  const res = await api.request('GET', '/products?limit=2&sort=name');
  t.is(res.status, 200);
  t.like(res.body, { total: 5, limit: 2, offset: 0 });
  t.deepEqual(names(res.body), ['Apron', 'Green watering can']);
  const p = res.body.items[0];
  t.deepEqual(Object.keys(p).sort(), ['category_id', 'created_at', 'description', 'id', 'name', 'price', 'stock', 'updated_at']);
  t.is(p.price, '12.00');
  t.is(typeof p.price, 'string');
  t.regex(p.created_at, /Z$/);
  const page2 = await api.request('GET', '/products?limit=2&offset=2&sort=name');
  t.deepEqual(names(page2.body), ['Rake', 'Spade']);
  const def = await api.request('GET', '/products');
  t.is(def.body.limit, 20);
  t.is(def.body.items.length, 5);
});

test.serial('filters: q (name or description, case-insensitive), category_id, price range, in_stock; all six sorts', async (t) => {
  t.deepEqual(names((await api.request('GET', '/products?q=GREEN&sort=name')).body), ['Green watering can', 'Spade']);
  t.deepEqual(names((await api.request('GET', `/products?category_id=${catB}&sort=name`)).body), ['Apron', 'Whisk']);
  t.deepEqual(names((await api.request('GET', '/products?min_price=12&max_price=22.00&sort=price')).body), ['Apron', 'Green watering can', 'Rake']);
  t.deepEqual(names((await api.request('GET', '/products?in_stock=false')).body), ['Rake']);
  t.is((await api.request('GET', '/products?in_stock=true')).body.total, 4);
  t.deepEqual(names((await api.request('GET', '/products?sort=-price&limit=2')).body), ['Spade', 'Rake']);
  t.deepEqual(names((await api.request('GET', '/products?sort=-name&limit=1')).body), ['Whisk']);
  const created = names((await api.request('GET', '/products?sort=created_at')).body);
  t.deepEqual(names((await api.request('GET', '/products?sort=-created_at')).body), [...created].reverse());
  // LIKE wildcards in q are literal.
  t.deepEqual(names((await api.request('GET', '/products?q=100%25')).body), ['Whisk']);
  t.is((await api.request('GET', '/products?q=_')).body.total, 0);
});

test('invalid query parameters -> 422 naming each, never 500', async (t) => {
  // Twice each: validated queries are remembered by their raw string, refused ones never are.
  for (const round of [1, 2]) {
    for (const qs of ['limit=0', 'limit=101', 'limit=abc', 'offset=-1', 'sort=price;DROP', 'min_price=1.234', 'min_price=abc', 'in_stock=yes', 'category_id=0', 'category_id=99999999999', 'unknown=1', 'limit=1&limit=2']) {
      const res = await api.request('GET', `/products?${qs}`);
      t.is(res.status, 422, `${qs} (${round})`);
      t.is(res.body.code, 'validation_failed', qs);
      t.true(res.body.errors.length > 0, qs);
    }
    t.is((await api.request('GET', '/products?limit=1')).body.limit, 1);
    t.is((await api.request('GET', '/products?limit=1&unknown=1')).status, 422);
  }
});

test.serial('SQL-injection-looking input is only data', async (t) => {
  const evil = "'; DROP TABLE products; --";
  const res = await api.request('GET', `/products?q=${encodeURIComponent(evil)}`);
  t.is(res.status, 200);
  t.is(res.body.total, 0);
  const reg = await api.request('POST', '/auth/login', { body: { username: "admin' OR '1'='1", password: "' OR '1'='1" } });
  t.is(reg.status, 401);
  const created = await api.request('POST', '/products', { token: admin.token, body: { name: evil, description: 'x', price: '1.00', stock: 1 } });
  t.is(created.status, 201);
  t.is(created.body.name, evil);
  t.is((await api.request('GET', '/products?limit=100')).body.total, 6);
  await api.request('DELETE', `/products/${created.body.id}`, { token: admin.token });
});

test('GET /products/{id}; unknown -> 404; non-numeric or out-of-range ids -> 422', async (t) => {
  const p = await insertProduct(env, { name: 'Trowel', price: '5.00', stock: 3 });
  const res = await api.request('GET', `/products/${p.id}`);
  t.is(res.status, 200);
  t.like(res.body, { id: p.id, name: 'Trowel', price: '5.00', stock: 3 });
  const missing = await api.request('GET', '/products/987654');
  t.is(missing.status, 404);
  t.is(missing.body.code, 'product_not_found');
  for (const id of ['abc', '0', '-1', '1.5', '2147483648', '99999999999999999999']) {
    const r = await api.request('GET', `/products/${id}`);
    t.true([404, 422].includes(r.status), id);
  }
  await env.db.none('UPDATE products SET deleted_at = now() WHERE id = $1', [p.id]);
});

test('GET /categories lists categories with product counts', async (t) => {
  const res = await api.request('GET', '/categories');
  t.is(res.status, 200);
  const garden = res.body.find((c: { id: number }) => c.id === catA);
  t.like(garden, { name: 'Garden tools', slug: 'garden-tools' });
  t.true(garden.product_count >= 3);
});

test('product writes: 401 without a token, 403 for shoppers', async (t) => {
  const body = { name: 'Hoe', price: '9.99', stock: 1 };
  t.is((await api.request('POST', '/products', { body })).status, 401);
  const forbidden = await api.request('POST', '/products', { body, token: shopper.token });
  t.is(forbidden.status, 403);
  t.is(forbidden.body.code, 'forbidden');
  t.is((await api.request('PUT', '/products/1', { body, token: shopper.token })).status, 403);
  t.is((await api.request('DELETE', '/products/1', { token: shopper.token })).status, 403);
  t.is((await api.request('DELETE', '/products/1')).status, 401);
});

test('admin create/update/delete with validation; money stays exact', async (t) => {
  const bad = await api.request('POST', '/products', { token: admin.token, body: { name: '', price: 19.99, stock: -1, category_id: 999999 } });
  t.is(bad.status, 422);
  t.deepEqual(bad.body.errors.map((e: { path: string }) => e.path).sort(), ['name', 'price', 'stock']);
  const badCategory = await api.request('POST', '/products', { token: admin.token, body: { name: 'Hoe', price: '9.99', category_id: 999999 } });
  t.is(badCategory.status, 422);
  t.deepEqual(badCategory.body.errors, [{ path: 'category_id', message: 'category 999999 does not exist' }]);

  const created = await api.request('POST', '/products', { token: admin.token, body: { name: 'Hoe', description: 'Long handle', price: '0.10', stock: 3, category_id: catA } });
  t.is(created.status, 201);
  t.is(created.headers.get('location'), `/products/${created.body.id}`);
  t.like(created.body, { name: 'Hoe', price: '0.10', stock: 3, category_id: catA });
  const id = created.body.id;

  const updated = await api.request('PUT', `/products/${id}`, { token: admin.token, body: { price: '99999999.99', stock: 7 } });
  t.is(updated.status, 200);
  t.like(updated.body, { name: 'Hoe', description: 'Long handle', price: '99999999.99', stock: 7 });
  t.is((await api.request('PUT', `/products/${id}`, { token: admin.token, body: {} })).status, 422);
  t.is((await api.request('PUT', `/products/${id}`, { token: admin.token, body: { color: 'red' } })).status, 422);
  t.is((await api.request('PUT', '/products/987654', { token: admin.token, body: { stock: 1 } })).status, 404);

  t.is((await api.request('DELETE', `/products/${id}`, { token: admin.token })).status, 204);
  t.is((await api.request('GET', `/products/${id}`)).status, 404);
  t.is((await api.request('DELETE', `/products/${id}`, { token: admin.token })).status, 404);
});

test.serial('the cache serves hits, and a reader never sees a stale or deleted product after the write returns', async (t) => {
  const p = await api.request('POST', '/products', { token: admin.token, body: { name: unique('Cached'), price: '3.00', stock: 5 } });
  const id = p.body.id;
  const other = await env.start();
  // Warm both the detail and a list on both replicas.
  for (const a of [api, other]) {
    await a.request('GET', `/products/${id}`);
    await a.request('GET', '/products?sort=-created_at&limit=50');
  }
  const before = await other.request('GET', '/metrics');
  await other.request('GET', `/products/${id}`);
  const after = await other.request('GET', '/metrics');
  const hits = (text: string) => Number(/cache_hits_total\{cache="product"\} (\d+)/.exec(text)?.[1] ?? 0);
  t.is(hits(after.text), hits(before.text) + 1);

  // A write on one replica is seen at once by the other.
  t.is((await api.request('PUT', `/products/${id}`, { token: admin.token, body: { price: '4.00' } })).status, 200);
  t.is((await other.request('GET', `/products/${id}`)).body.price, '4.00');
  const list = await other.request('GET', '/products?sort=-created_at&limit=50');
  t.is(list.body.items.find((x: { id: number }) => x.id === id).price, '4.00');

  t.is((await api.request('DELETE', `/products/${id}`, { token: admin.token })).status, 204);
  t.is((await other.request('GET', `/products/${id}`)).status, 404);
  const list2 = await other.request('GET', '/products?sort=-created_at&limit=50');
  t.falsy(list2.body.items.find((x: { id: number }) => x.id === id));
});

test.serial('a flood of distinct queries keeps the cache bounded and leaves sessions and rate-limit counters intact', async (t) => {
  const limited = await env.start({ RATE_LIMIT_PER_MINUTE: '100000', REDIS_KEY_PREFIX: `${env.prefix}flood:` });
  const s = await registerAndLogin(limited, 'flood');
  await limited.request('POST', '/auth/logout', { token: s.token });
  const s2 = await registerAndLogin(limited, 'flood2');
  await limited.request('GET', '/auth/me', { token: s2.token });
  const rlKeysBefore = (await env.prefixKeys()).filter((k) => k.includes('flood:rl:global'));
  t.true(rlKeysBefore.length > 0);

  const distinct = CACHE_MAX_ENTRIES + 300;
  for (let i = 0; i < distinct; i += 50) {
    await Promise.all(Array.from({ length: 50 }, (_, j) => limited.request('GET', `/products?q=${encodeURIComponent(`flood-${i + j}`)}`)));
  }
  const keys = (await env.prefixKeys()).filter((k) => k.startsWith(`${env.prefix}flood:cache:v`));
  t.true(keys.length <= CACHE_MAX_ENTRIES, `${keys.length} cache entries`);
  t.true(keys.length >= CACHE_MAX_ENTRIES - 5);
  t.true((await env.redis.zcard(`${env.prefix}flood:cache:index`)) <= CACHE_MAX_ENTRIES);
  // Every entry has a TTL.
  t.true((await env.redis.ttl(keys[0]!)) > 0);
  // The revoked session and the limiter counter survived the flood.
  t.is((await limited.request('GET', '/auth/me', { token: s.token })).status, 401);
  t.is((await limited.request('GET', '/auth/me', { token: s2.token })).status, 200);
  for (const k of rlKeysBefore) t.is(await env.redis.exists(k), 1, k);
  const ipKey = rlKeysBefore.find((k) => k.includes(':ip:'))!;
  t.true(Number(await env.redis.get(ipKey)) > distinct);
});

test('NUL characters are refused with 422 and broken percent-encoding never causes a 500', async (t) => {
  const q = await api.request('GET', '/products?q=%00');
  t.is(q.status, 422);
  t.deepEqual(q.body.errors, [{ path: 'query.q', message: 'must not contain NUL characters' }]);
  const body = await api.request('POST', '/products', { token: admin.token, body: { name: 'bad\u0000name', price: '1.00' } });
  t.is(body.status, 422);
  t.deepEqual(body.body.errors, [{ path: 'name', message: 'must not contain NUL characters' }]);
  t.true([400, 404, 422].includes((await api.request('GET', '/products/%E0%A4%A')).status));
  // Undecodable query bytes become U+FFFD: a search that finds nothing, not an error.
  t.is((await api.request('GET', '/products?q=%E0%A4%A')).status, 200);
});

test('concurrent misses of one query share a single database load', async (t) => {
  const fresh = await env.start({ REDIS_KEY_PREFIX: `${env.prefix}herd:` });
  const selects = async () => Number(/db_query_duration_seconds_count\{operation="select"\} (\d+)/.exec((await fresh.request('GET', '/metrics')).text)?.[1] ?? 0);
  const before = await selects();
  const results = await Promise.all(Array.from({ length: 40 }, () => fresh.request('GET', '/products?q=stampede&limit=7')));
  t.true(results.every((r) => r.status === 200 && r.body.limit === 7));
  const delta = (await selects()) - before;
  // One load is two SELECTs (page and count); the scrapes' own gauges add a few more.
  t.true(delta <= 6, `${delta} SELECTs for 40 concurrent misses`);
});
