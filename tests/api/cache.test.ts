import test from 'ava';
import { adminLogin, createTestEnv, insertCategory, registerAndLogin, type Shopper, type TestApi, type TestEnv } from './helpers/harness.js';

let env: TestEnv;
let a: TestApi;
let b: TestApi;
let admin: Shopper;
let shopper: Shopper;

test.before(async () => {
  env = await createTestEnv();
  // Two replicas sharing PostgreSQL and Redis: writes go to one, reads to the other.
  [a, b] = await Promise.all([env.start(), env.start()]);
  admin = await adminLogin(env, a);
  shopper = await registerAndLogin(a, 'cache');
});
test.after.always(async () => {
  await env?.close();
});

type Cache = 'product' | 'products_list';
async function counts(api: TestApi): Promise<Record<`${'hits' | 'misses'}:${Cache}`, number>> {
  const text = (await api.request('GET', '/metrics')).text;
  const read = (name: string, cache: Cache) => Number(new RegExp(`^${name}\\{cache="${cache}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN);
  return {
    'hits:product': read('cache_hits_total', 'product'),
    'misses:product': read('cache_misses_total', 'product'),
    'hits:products_list': read('cache_hits_total', 'products_list'),
    'misses:products_list': read('cache_misses_total', 'products_list'),
  };
}

/** The cache lookups `fn` caused on `api`, as hit/miss deltas. */
async function lookups(api: TestApi, fn: () => Promise<unknown>): Promise<Record<string, number>> {
  const before = await counts(api);
  await fn();
  const after = await counts(api);
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - before[k as keyof typeof before]]));
}

/** Created through the API, as an admin would: the write invalidates what it must. */
async function createProduct(p: { name: string; stock: number; price?: string; category_id?: number }): Promise<{ id: number }> {
  const res = await a.request('POST', '/products', { token: admin.token, body: { price: '10.00', ...p } });
  if (res.status !== 201) throw new Error(`create failed: ${res.status} ${res.text}`);
  return res.body;
}
const order = (productId: number, quantity = 1) => a.request('POST', '/orders', { token: shopper.token, body: { items: [{ product_id: productId, quantity }] } });
const find = (body: { items: Array<{ id: number; stock: number }> }, id: number) => body.items.find((p) => p.id === id);

test.serial('after an order, the other replica shows the new stock at once, and entries of other products stay cached', async (t) => {
  const garden = await insertCategory(env, 'Cache garden');
  const kitchen = await insertCategory(env, 'Cache kitchen');
  const sold = await createProduct({ name: 'Cache lamp', stock: 5, category_id: garden });
  const untouched = await createProduct({ name: 'Cache bowl', stock: 7, category_id: kitchen });
  const lists = ['/products?limit=100', `/products?category_id=${garden}`, `/products?category_id=${kitchen}`, '/products?in_stock=true&limit=100'];
  // Warm both replicas.
  for (const api of [a, b]) {
    for (const path of [`/products/${sold.id}`, `/products/${untouched.id}`, ...lists]) t.is((await api.request('GET', path)).status, 200);
  }

  t.is((await order(sold.id, 2)).status, 201);

  const seen = await lookups(b, async () => {
    t.is((await b.request('GET', `/products/${sold.id}`)).body.stock, 3);
    t.is(find((await b.request('GET', '/products?limit=100')).body, sold.id)?.stock, 3);
    t.is(find((await b.request('GET', `/products?category_id=${garden}`)).body, sold.id)?.stock, 3);
    t.is(find((await b.request('GET', '/products?in_stock=true&limit=100')).body, sold.id)?.stock, 3);
  });
  t.like(seen, { 'misses:product': 1, 'misses:products_list': 3 });

  // What the order did not touch is still served from the cache, on both replicas.
  for (const api of [a, b]) {
    const kept = await lookups(api, async () => {
      t.is((await api.request('GET', `/products/${untouched.id}`)).body.stock, 7);
      t.is(find((await api.request('GET', `/products?category_id=${kitchen}`)).body, untouched.id)?.stock, 7);
    });
    t.like(kept, { 'hits:product': 1, 'misses:product': 0, 'hits:products_list': 1, 'misses:products_list': 0 });
  }
});

test.serial('selling out and cancelling move a product out of and back into in_stock lists on the other replica', async (t) => {
  const last = await createProduct({ name: 'Cache last one', stock: 1 });
  const inStock = async () => (await b.request('GET', '/products?in_stock=true&limit=100')).body;
  const outOfStock = async () => (await b.request('GET', '/products?in_stock=false&limit=100')).body;
  t.truthy(find(await inStock(), last.id));
  t.falsy(find(await outOfStock(), last.id));
  const totalBefore = (await inStock()).total as number;

  const placed = await order(last.id);
  t.is(placed.status, 201);
  t.falsy(find(await inStock(), last.id));
  t.is((await inStock()).total, totalBefore - 1);
  t.is(find(await outOfStock(), last.id)?.stock, 0);
  t.is((await b.request('GET', `/products/${last.id}`)).body.stock, 0);

  t.is((await a.request('PUT', `/orders/${placed.body.id}/status`, { token: admin.token, body: { status: 'cancelled' } })).status, 200);
  t.is(find(await inStock(), last.id)?.stock, 1);
  t.falsy(find(await outOfStock(), last.id));
  t.is((await b.request('GET', `/products/${last.id}`)).body.stock, 1);
});

test.serial('a product 404 is cached briefly and cleared when that product is created on another replica', async (t) => {
  const { next } = await env.db.one<{ next: number }>("SELECT last_value + 1 AS next FROM pg_sequences WHERE sequencename = 'products_id_seq'");
  t.is((await b.request('GET', `/products/${next}`)).status, 404);
  const again = await lookups(b, async () => {
    const res = await b.request('GET', `/products/${next}`);
    t.is(res.status, 404);
    t.is(res.body.code, 'product_not_found');
  });
  t.like(again, { 'hits:product': 1, 'misses:product': 0 });

  const created = await a.request('POST', '/products', { token: admin.token, body: { name: 'Cache newcomer', price: '2.00', stock: 3 } });
  t.is(created.body.id, Number(next));
  const res = await b.request('GET', `/products/${next}`);
  t.is(res.status, 200);
  t.is(res.body.name, 'Cache newcomer');
});

test.serial('a price change on one replica is seen by the other in detail and every list', async (t) => {
  const p = await createProduct({ name: 'Cache kettle', price: '20.00', stock: 2 });
  for (const api of [a, b]) {
    await api.request('GET', `/products/${p.id}`);
    await api.request('GET', '/products?sort=price&limit=100');
  }
  t.is((await a.request('PUT', `/products/${p.id}`, { token: admin.token, body: { price: '21.00', name: 'Cache kettle 2' } })).status, 200);
  t.like((await b.request('GET', `/products/${p.id}`)).body, { price: '21.00', name: 'Cache kettle 2' });
  t.like(find((await b.request('GET', '/products?sort=price&limit=100')).body, p.id), { price: '21.00', name: 'Cache kettle 2' });
});

test.serial('sync calls: one at a time, shared by the reads that wait; a write that returned before a read is seen by it', async (t) => {
  const p = await createProduct({ name: 'Cache teapot', price: '30.00', stock: 4 });
  t.is((await b.request('GET', `/products/${p.id}`)).status, 200);
  // Replica b's change check, counted, with its answer slowed down (a busy Redis): Redis answers
  // at once, the replica hears it 300 ms later.
  const client = b.runtime.cacheRedis as unknown as { shopCacheSync: (...args: unknown[]) => Promise<unknown> };
  const original = client.shopCacheSync;
  let calls = 0;
  client.shopCacheSync = async (...args: unknown[]) => {
    calls++;
    const answer = await original.apply(client, args);
    await new Promise((r) => setTimeout(r, 300));
    return answer;
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  try {
    const first = b.request('GET', `/products/${p.id}`);
    await sleep(30);
    // The change returns while b's call, answered before it, is still on its way back: a read that
    // starts now must wait for the next call, not take the answer of the one in flight.
    t.is((await a.request('PUT', `/products/${p.id}`, { token: admin.token, body: { price: '31.00' } })).status, 200);
    const after = b.request('GET', `/products/${p.id}`);
    // More reads, each in its own turn, while calls are out.
    const reads: Array<Promise<{ status: number }>> = [];
    for (let i = 0; i < 12; i++) {
      reads.push(b.request('GET', `/products/${p.id}`));
      await sleep(10);
    }
    t.is((await first).status, 200);
    t.like((await after).body, { price: '31.00' });
    t.true((await Promise.all(reads)).every((r) => r.status === 200));
    // 14 reads: one call for the first, one for everything that arrived while it was out (and
    // perhaps one more), not one per read.
    t.true(calls <= 3, `${calls} sync calls for 14 reads`);
  } finally {
    client.shopCacheSync = original;
  }
});
