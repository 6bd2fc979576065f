import test from 'ava';
import { adminLogin, createTestEnv, insertProduct, registerAndLogin, stockOf, type Shopper, type TestApi, type TestEnv } from './helpers/harness.js';

let env: TestEnv;
let api: TestApi;
let admin: Shopper;

test.before(async () => {
  // A pool as large as the concurrency, so the race really happens inside PostgreSQL.
  env = await createTestEnv();
  api = await env.start({ DATABASE_POOL_MAX: '20' });
  admin = await adminLogin(env, api);
});
test.after.always(async () => {
  await env?.close();
});

const orderCount = async (userId: number) => (await env.db.one<{ n: number }>('SELECT count(*)::int AS n FROM orders WHERE user_id = $1', [userId])).n;

test('POST /orders from the cart: 201 pending with NUMERIC total, prices snapshotted, stock taken, cart emptied', async (t) => {
  const s = await registerAndLogin(api, 'order');
  const a = await insertProduct(env, { name: 'Lamp', price: '19.99', stock: 5 });
  const b = await insertProduct(env, { name: 'Bulb', price: '0.10', stock: 100 });
  await api.request('POST', '/cart/add', { token: s.token, body: { product_id: b.id, quantity: 3 } });
  await api.request('POST', '/cart/add', { token: s.token, body: { product_id: a.id, quantity: 2 } });
  const res = await api.request('POST', '/orders', { token: s.token });
  t.is(res.status, 201);
  t.is(res.headers.get('location'), `/orders/${res.body.id}`);
  t.like(res.body, { status: 'pending', total: '40.28', user_id: s.id });
  t.regex(res.body.created_at, /Z$/);
  t.deepEqual(res.body.items, [
    { product_id: a.id, name: 'Lamp', unit_price: '19.99', quantity: 2, line_total: '39.98' },
    { product_id: b.id, name: 'Bulb', unit_price: '0.10', quantity: 3, line_total: '0.30' },
  ]);
  t.is(await stockOf(env, a.id), 3);
  t.is(await stockOf(env, b.id), 97);
  t.deepEqual((await api.request('GET', '/cart', { token: s.token })).body.items, []);
  // A later price change does not alter the order.
  await api.request('PUT', `/products/${a.id}`, { token: admin.token, body: { price: '25.00' } });
  t.is((await api.request('GET', `/orders/${res.body.id}`, { token: s.token })).body.total, '40.28');
});

test('POST /orders with items orders those (merging duplicates) and leaves the cart alone', async (t) => {
  const s = await registerAndLogin(api, 'items');
  const a = await insertProduct(env, { price: '1.50', stock: 10 });
  const c = await insertProduct(env, { price: '3.00', stock: 10 });
  await api.request('POST', '/cart/add', { token: s.token, body: { product_id: c.id, quantity: 1 } });
  const res = await api.request('POST', '/orders', { token: s.token, body: { items: [{ product_id: a.id, quantity: 2 }, { product_id: a.id, quantity: 1 }] } });
  t.is(res.status, 201);
  t.is(res.body.total, '4.50');
  t.deepEqual(res.body.items.map((i: { quantity: number }) => i.quantity), [3]);
  t.is(await stockOf(env, a.id), 7);
  t.is((await api.request('GET', '/cart', { token: s.token })).body.items.length, 1);
});

test('any line short of stock -> 409 insufficient_stock naming the product, and nothing changes', async (t) => {
  const s = await registerAndLogin(api, 'short');
  const plenty = await insertProduct(env, { name: 'Plenty', stock: 10 });
  const scarce = await insertProduct(env, { name: 'Scarce', stock: 1 });
  await api.request('POST', '/cart/add', { token: s.token, body: { product_id: plenty.id, quantity: 2 } });
  await api.request('POST', '/cart/add', { token: s.token, body: { product_id: scarce.id, quantity: 2 } });
  const res = await api.request('POST', '/orders', { token: s.token });
  t.is(res.status, 409);
  t.regex(res.headers.get('content-type') ?? '', /application\/problem\+json/);
  t.is(res.body.code, 'insufficient_stock');
  t.deepEqual(res.body.product, { id: scarce.id, name: 'Scarce' });
  t.like(res.body, { requested: 2, available: 1 });
  t.regex(res.body.detail, /Scarce/);
  t.is(await stockOf(env, plenty.id), 10);
  t.is(await stockOf(env, scarce.id), 1);
  t.is((await api.request('GET', '/cart', { token: s.token })).body.items.length, 2);
  t.is(await orderCount(s.id), 0);
});

test('order errors: empty cart 422, unknown product 404, bad items 422, no token 401', async (t) => {
  const s = await registerAndLogin(api, 'oerr');
  const empty = await api.request('POST', '/orders', { token: s.token, body: {} });
  t.is(empty.status, 422);
  t.is(empty.body.code, 'cart_empty');
  const unknown = await api.request('POST', '/orders', { token: s.token, body: { items: [{ product_id: 987654, quantity: 1 }] } });
  t.is(unknown.status, 404);
  t.is(unknown.body.code, 'product_not_found');
  for (const body of [{ items: [] }, { items: [{ product_id: 1, quantity: 0 }] }, { items: [{ product_id: 1 }] }, { items: [{ product_id: 1, quantity: 1, price: '0' }] }, { total: '1.00' }]) {
    t.is((await api.request('POST', '/orders', { token: s.token, body })).status, 422, JSON.stringify(body));
  }
  t.is((await api.request('POST', '/orders', { body: {} })).status, 401);
});

test('50 concurrent orders for a product with stock 10: exactly 10 succeed and stock ends at 0', async (t) => {
  const p = await insertProduct(env, { name: 'Limited edition', price: '99.00', stock: 10 });
  const shoppers = await Promise.all(Array.from({ length: 10 }, (_, i) => registerAndLogin(api, `rush${i}`)));
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, i) => api.request('POST', '/orders', { token: shoppers[i % 10]!.token, body: { items: [{ product_id: p.id, quantity: 1 }] } })),
  );
  const statuses = results.map((r) => r.status);
  t.is(statuses.filter((s) => s === 201).length, 10, statuses.join(','));
  t.is(statuses.filter((s) => s === 409).length, 40);
  t.true(results.filter((r) => r.status === 409).every((r) => r.body.code === 'insufficient_stock' && r.body.product.id === p.id));
  t.is(await stockOf(env, p.id), 0);
  const sold = await env.db.one<{ n: number }>('SELECT COALESCE(sum(quantity), 0)::int AS n FROM order_items WHERE product_id = $1', [p.id]);
  t.is(sold.n, 10);
});

test('concurrent multi-line orders over the same products in opposite orders neither deadlock nor oversell', async (t) => {
  const a = await insertProduct(env, { stock: 15 });
  const b = await insertProduct(env, { stock: 15 });
  const shoppers = await Promise.all(Array.from({ length: 4 }, (_, i) => registerAndLogin(api, `multi${i}`)));
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      api.request('POST', '/orders', {
        token: shoppers[i % 4]!.token,
        body: { items: i % 2 ? [{ product_id: a.id, quantity: 1 }, { product_id: b.id, quantity: 1 }] : [{ product_id: b.id, quantity: 1 }, { product_id: a.id, quantity: 1 }] },
      }),
    ),
  );
  t.true(results.every((r) => r.status === 201 || (r.status === 409 && r.body.code === 'insufficient_stock')), results.map((r) => r.status).join(','));
  t.is(results.filter((r) => r.status === 201).length, 15);
  t.is(await stockOf(env, a.id), 0);
  t.is(await stockOf(env, b.id), 0);
});

test('Idempotency-Key: a retry returns the first order (replayed), creates nothing; another body -> 422', async (t) => {
  const s = await registerAndLogin(api, 'idem');
  const p = await insertProduct(env, { price: '5.00', stock: 10 });
  const body = { items: [{ product_id: p.id, quantity: 2 }] };
  const first = await api.request('POST', '/orders', { token: s.token, body, headers: { 'idempotency-key': 'order-123' } });
  t.is(first.status, 201);
  t.is(first.headers.get('idempotent-replayed'), null);
  const retry = await api.request('POST', '/orders', { token: s.token, body: { items: [{ quantity: 2, product_id: p.id }] }, headers: { 'idempotency-key': 'order-123' } });
  t.is(retry.status, 201);
  t.is(retry.headers.get('idempotent-replayed'), 'true');
  t.is(retry.text, first.text);
  t.is(await orderCount(s.id), 1);
  t.is(await stockOf(env, p.id), 8);

  const different = await api.request('POST', '/orders', { token: s.token, body: { items: [{ product_id: p.id, quantity: 3 }] }, headers: { 'idempotency-key': 'order-123' } });
  t.is(different.status, 422);
  t.is(different.body.code, 'idempotency_key_reused');
  // Keys are per user: another shopper may use the same key.
  const other = await registerAndLogin(api, 'idem2');
  t.is((await api.request('POST', '/orders', { token: other.token, body, headers: { 'idempotency-key': 'order-123' } })).status, 201);
  // A failed order stores no key: the same key works once stock allows it.
  const tooMany = { items: [{ product_id: p.id, quantity: 50 }] };
  t.is((await api.request('POST', '/orders', { token: s.token, body: tooMany, headers: { 'idempotency-key': 'order-456' } })).status, 409);
  await env.db.none('UPDATE products SET stock = 100 WHERE id = $1', [p.id]);
  t.is((await api.request('POST', '/orders', { token: s.token, body: tooMany, headers: { 'idempotency-key': 'order-456' } })).status, 201);
  const invalid = await api.request('POST', '/orders', { token: s.token, body, headers: { 'idempotency-key': 'x'.repeat(256) } });
  t.is(invalid.status, 422);
});

test('concurrent retries with one Idempotency-Key create exactly one order', async (t) => {
  const s = await registerAndLogin(api, 'idemrace');
  const p = await insertProduct(env, { price: '1.00', stock: 100 });
  const results = await Promise.all(
    Array.from({ length: 10 }, () => api.request('POST', '/orders', { token: s.token, body: { items: [{ product_id: p.id, quantity: 1 }] }, headers: { 'idempotency-key': 'same-key' } })),
  );
  t.true(results.every((r) => r.status === 201 || (r.status === 409 && r.body.code === 'idempotency_key_in_use')), results.map((r) => r.status).join(','));
  const created = results.filter((r) => r.status === 201);
  t.true(created.length >= 1);
  t.is(new Set(created.map((r) => r.body.id)).size, 1);
  t.is(await orderCount(s.id), 1);
  t.is(await stockOf(env, p.id), 99);
});

test('GET /orders: mine only, newest first, paginated; GET /orders/{id}: another user\'s -> 404, admins see all', async (t) => {
  const s = await registerAndLogin(api, 'list');
  const other = await registerAndLogin(api, 'list2');
  const p = await insertProduct(env, { stock: 100 });
  const ids: number[] = [];
  for (let i = 1; i <= 3; i++) {
    ids.push((await api.request('POST', '/orders', { token: s.token, body: { items: [{ product_id: p.id, quantity: i }] } })).body.id);
  }
  const theirs = (await api.request('POST', '/orders', { token: other.token, body: { items: [{ product_id: p.id, quantity: 1 }] } })).body.id;
  const page = await api.request('GET', '/orders?limit=2', { token: s.token });
  t.is(page.status, 200);
  t.like(page.body, { total: 3, limit: 2, offset: 0 });
  t.deepEqual(page.body.items.map((o: { id: number }) => o.id), [ids[2], ids[1]]);
  t.deepEqual((await api.request('GET', '/orders?limit=2&offset=2', { token: s.token })).body.items.map((o: { id: number }) => o.id), [ids[0]]);
  t.is((await api.request('GET', '/orders?limit=500', { token: s.token })).status, 422);
  t.is((await api.request('GET', '/orders')).status, 401);

  t.is((await api.request('GET', `/orders/${ids[0]}`, { token: s.token })).status, 200);
  const foreign = await api.request('GET', `/orders/${theirs}`, { token: s.token });
  t.is(foreign.status, 404);
  t.is(foreign.body.code, 'order_not_found');
  t.is((await api.request('GET', '/orders/987654', { token: s.token })).status, 404);
  const asAdmin = await api.request('GET', `/orders/${theirs}`, { token: admin.token });
  t.is(asAdmin.status, 200);
  t.is(asAdmin.body.user_id, other.id);
});

test('status transitions follow pending -> paid -> shipped -> delivered; anything else -> 409; admin only', async (t) => {
  const s = await registerAndLogin(api, 'status');
  const p = await insertProduct(env, { stock: 10 });
  const order = (await api.request('POST', '/orders', { token: s.token, body: { items: [{ product_id: p.id, quantity: 1 }] } })).body;
  const put = (status: string, token = admin.token) => api.request('PUT', `/orders/${order.id}/status`, { token, body: { status } });
  t.is((await put('paid', s.token)).status, 403);
  t.is((await api.request('PUT', `/orders/${order.id}/status`, { body: { status: 'paid' } })).status, 401);
  t.is((await put('shipped')).status, 409);
  t.is((await put('delivered')).status, 409);
  t.is((await put('pending')).status, 409);
  t.is((await put('refunded')).status, 422);
  const paid = await put('paid');
  t.is(paid.status, 200);
  t.is(paid.body.status, 'paid');
  const shipped = await put('shipped');
  t.is(shipped.body.status, 'shipped');
  const noCancel = await put('cancelled');
  t.is(noCancel.status, 409);
  t.is(noCancel.body.code, 'invalid_transition');
  t.is((await put('delivered')).body.status, 'delivered');
  t.is((await put('cancelled')).status, 409);
  t.is((await api.request('PUT', '/orders/987654/status', { token: admin.token, body: { status: 'paid' } })).status, 404);
  t.is(await stockOf(env, p.id), 9);
});

test('cancel restocks exactly once, even when cancels race', async (t) => {
  const s = await registerAndLogin(api, 'cancel');
  const p = await insertProduct(env, { stock: 10 });
  const q = await insertProduct(env, { stock: 10 });
  const pending = (await api.request('POST', '/orders', { token: s.token, body: { items: [{ product_id: p.id, quantity: 3 }, { product_id: q.id, quantity: 1 }] } })).body;
  t.is(await stockOf(env, p.id), 7);
  const cancels = await Promise.all(Array.from({ length: 5 }, () => api.request('PUT', `/orders/${pending.id}/status`, { token: admin.token, body: { status: 'cancelled' } })));
  t.deepEqual(cancels.map((r) => r.status).sort(), [200, 409, 409, 409, 409]);
  t.is(await stockOf(env, p.id), 10);
  t.is(await stockOf(env, q.id), 10);

  const paid = (await api.request('POST', '/orders', { token: s.token, body: { items: [{ product_id: p.id, quantity: 2 }] } })).body;
  await api.request('PUT', `/orders/${paid.id}/status`, { token: admin.token, body: { status: 'paid' } });
  t.is(await stockOf(env, p.id), 8);
  t.is((await api.request('PUT', `/orders/${paid.id}/status`, { token: admin.token, body: { status: 'cancelled' } })).body.status, 'cancelled');
  t.is(await stockOf(env, p.id), 10);
  // The product page shows restocked stock at once (cache invalidated).
  t.is((await api.request('GET', `/products/${p.id}`)).body.stock, 10);
});

test('orders show up in the business metrics', async (t) => {
  const s = await registerAndLogin(api, 'metric');
  const p = await insertProduct(env, { price: '2.50', stock: 10 });
  await api.request('POST', '/orders', { token: s.token, body: { items: [{ product_id: p.id, quantity: 2 }] } });
  const m = await api.request('GET', '/metrics');
  t.regex(m.text, /shop_orders_created_total [1-9]/);
  t.regex(m.text, /shop_order_revenue_total [1-9]/);
  t.regex(m.text, /shop_orders_today [1-9]/);
  t.regex(m.text, /shop_products_in_stock [1-9]/);
});

test('idempotency keys older than 24 h and expired revocations are purged; newer ones stay', async (t) => {
  const { purgeOldKeys } = await import('../../api/src/data/repos/idempotency.js');
  const { purgeExpiredRevocations } = await import('../../api/src/data/repos/revokedTokens.js');
  const s = await registerAndLogin(api, 'purge');
  await env.db.none(
    "INSERT INTO idempotency_keys (user_id, key, fingerprint, response_status, response_body, created_at) VALUES ($1, 'old', 'f', 201, '{}', now() - interval '25 hours'), ($1, 'recent', 'f', 201, '{}', now() - interval '23 hours')",
    [s.id],
  );
  await env.db.none(
    "INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES (gen_random_uuid(), $1, now() - interval '1 second'), (gen_random_uuid(), $1, now() + interval '1 hour')",
    [s.id],
  );
  t.true((await purgeOldKeys(env.db)) >= 1);
  t.true((await purgeExpiredRevocations(env.db)) >= 1);
  t.deepEqual((await env.db.any('SELECT key FROM idempotency_keys WHERE user_id = $1', [s.id])).map((r: { key: string }) => r.key), ['recent']);
  t.is((await env.db.one<{ n: number }>('SELECT count(*)::int AS n FROM revoked_tokens WHERE user_id = $1', [s.id])).n, 1);
});

test('POST /orders/:id/cancel: a shopper cancels their own pending order once (stock back); paid, foreign and unknown orders are refused', async (t) => {
  const s = await registerAndLogin(api, 'cancel');
  const other = await registerAndLogin(api, 'cancel-other');
  const p = await insertProduct(env, { stock: 5 });
  const placed = await api.request('POST', '/orders', { token: s.token, body: { items: [{ product_id: p.id, quantity: 2 }] } });
  t.is(placed.status, 201);
  t.is(await stockOf(env, p.id), 3);

  const foreign = await api.request('POST', `/orders/${placed.body.id}/cancel`, { token: other.token });
  t.is(foreign.status, 404, 'another user\'s order is indistinguishable from a missing one');
  t.is(foreign.body.code, 'order_not_found');
  t.is((await api.request('POST', `/orders/${placed.body.id}/cancel`)).status, 401);
  t.is(await stockOf(env, p.id), 3, 'refusals change nothing');

  const cancelled = await api.request('POST', `/orders/${placed.body.id}/cancel`, { token: s.token });
  t.is(cancelled.status, 200);
  t.is(cancelled.body.status, 'cancelled');
  t.is(await stockOf(env, p.id), 5);
  const again = await api.request('POST', `/orders/${placed.body.id}/cancel`, { token: s.token });
  t.is(again.status, 409);
  t.is(again.body.code, 'invalid_transition');
  t.is(await stockOf(env, p.id), 5, 'restocked exactly once');

  // Once paid, only the shop can cancel it.
  const paid = await api.request('POST', '/orders', { token: s.token, body: { items: [{ product_id: p.id, quantity: 1 }] } });
  t.is((await api.request('PUT', `/orders/${paid.body.id}/status`, { token: admin.token, body: { status: 'paid' } })).status, 200);
  const late = await api.request('POST', `/orders/${paid.body.id}/cancel`, { token: s.token });
  t.is(late.status, 409);
  t.like(late.body, { code: 'invalid_transition', current_status: 'paid', requested_status: 'cancelled' });
  t.is(await stockOf(env, p.id), 4);
  t.is((await api.request('POST', '/orders/987654/cancel', { token: s.token })).status, 404);
});
