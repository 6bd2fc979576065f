// Inputs at the edges of what the columns hold: the priciest product in large quantities, a
// full cart, an order of 101 units. Each is either served exactly or refused with a 422 that
// names the field, and a refused request writes nothing.
import test from 'ava';
import { apiPerFile, adminLogin, insertProduct, registerAndLogin, stockOf } from './helpers/harness.js';

const file = apiPerFile(test);

const MAX_PRICE = '99999999.99';

test('a 99999999.99 product: 2 then 99 units in the cart -> exact totals, then an order of them (no numeric overflow)', async (t) => {
  const s = await registerAndLogin(file.api, 'rich');
  const p = await insertProduct(file.env, { name: 'Yacht', price: MAX_PRICE, stock: 1000 });
  t.is((await file.api.request('POST', '/cart/add', { token: s.token, body: { product_id: p.id, quantity: 2 } })).status, 200);
  const more = await file.api.request('POST', '/cart/add', { token: s.token, body: { product_id: p.id, quantity: 99 } });
  t.is(more.status, 200, more.text);
  t.like(more.body.items[0], { quantity: 101, unit_price: MAX_PRICE, line_total: '10099999998.99' });
  t.is(more.body.total, '10099999998.99');
  const cart = await file.api.request('GET', '/cart', { token: s.token });
  t.is(cart.status, 200);
  t.is(cart.body.total, '10099999998.99');
  const order = await file.api.request('POST', '/orders', { token: s.token });
  t.is(order.status, 201, order.text);
  t.is(order.body.total, '10099999998.99');
  t.is(order.body.items[0].line_total, '10099999998.99');
  t.is((await file.api.request('GET', `/orders/${order.body.id}`, { token: s.token })).body.total, '10099999998.99');
  t.is(await stockOf(file.env, p.id), 899);
});

test('POST /orders with quantity 101 of the priciest product -> 201, and the largest order the schema allows fits', async (t) => {
  const s = await registerAndLogin(file.api, 'bulk');
  const p = await insertProduct(file.env, { price: MAX_PRICE, stock: 1_000_000 });
  const small = await file.api.request('POST', '/orders', { token: s.token, body: { items: [{ product_id: p.id, quantity: 101 }] } });
  t.is(small.status, 201, small.text);
  t.is(small.body.total, '10099999998.99');
  // 100 lines of 10,000 units at the highest price: the most an order can hold.
  const products = await Promise.all(Array.from({ length: 100 }, () => insertProduct(file.env, { price: MAX_PRICE, stock: 10_000 })));
  const big = await file.api.request('POST', '/orders', { token: s.token, body: { items: products.map((x) => ({ product_id: x.id, quantity: 10_000 })) } });
  t.is(big.status, 201, big.text);
  t.is(big.body.total, '99999999990000.00');
  const admin = await adminLogin(file.env, file.api);
  const dashboard = await file.api.request('GET', '/admin/dashboard', { token: admin.token });
  t.is(dashboard.status, 200);
  // Revenue sums orders of this whole file: more than any one column holds, and still exact.
  const { revenue } = await file.env.db.one<{ revenue: string }>("SELECT sum(total)::text AS revenue FROM orders WHERE status <> 'cancelled'");
  t.true(revenue.length > '99999999990000.00'.length - 1);
  t.is(dashboard.body.revenue_today, revenue);
  const analytics = await file.api.request('GET', '/admin/analytics?days=1', { token: admin.token });
  t.is(analytics.status, 200);
  t.is(analytics.body.sales_by_day[0].revenue, revenue);
});

test('over-large requests -> 422 naming the field, and nothing is written', async (t) => {
  const s = await registerAndLogin(file.api, 'over');
  const p = await insertProduct(file.env, { price: MAX_PRICE, stock: 1_000_000 });
  const tooMany = await file.api.request('POST', '/cart/add', { token: s.token, body: { product_id: p.id, quantity: 1001 } });
  t.is(tooMany.status, 422);
  t.deepEqual(tooMany.body.errors.map((e: { path: string }) => e.path), ['quantity']);
  const order = await file.api.request('POST', '/orders', { token: s.token, body: { items: [{ product_id: p.id, quantity: 10_001 }] } });
  t.is(order.status, 422);
  t.deepEqual(order.body.errors.map((e: { path: string }) => e.path), ['items.0.quantity']);
  const lines = await file.api.request('POST', '/orders', { token: s.token, body: { items: Array.from({ length: 101 }, (_, i) => ({ product_id: p.id + i, quantity: 1 })) } });
  t.is(lines.status, 422);
  t.deepEqual(lines.body.errors.map((e: { path: string }) => e.path), ['items']);
  const price = await file.api.request('POST', '/products', { token: (await adminLogin(file.env, file.api)).token, body: { name: 'Too dear', price: '100000000.00' } });
  t.is(price.status, 422);
  t.deepEqual(price.body.errors.map((e: { path: string }) => e.path), ['price']);
  t.deepEqual((await file.api.request('GET', '/cart', { token: s.token })).body, { items: [], total: '0.00' });
  t.is((await file.env.db.one<{ n: number }>('SELECT count(*)::int AS n FROM orders WHERE user_id = $1', [s.id])).n, 0);
  t.is(await stockOf(file.env, p.id), 1_000_000);
});

test('a cart holds at most 100 products: the 101st -> 422 cart_line_limit naming product_id, and is not added', async (t) => {
  const s = await registerAndLogin(file.api, 'lines');
  const products = await Promise.all(Array.from({ length: 101 }, () => insertProduct(file.env, { price: MAX_PRICE, stock: 1000 })));
  await file.env.db.none('INSERT INTO cart_items (user_id, product_id, quantity) SELECT $1, unnest($2::int[]), 1000', [s.id, products.slice(0, 99).map((p) => p.id)]);
  t.is((await file.api.request('POST', '/cart/add', { token: s.token, body: { product_id: products[99]!.id, quantity: 1000 } })).status, 200);
  const last = await file.api.request('POST', '/cart/add', { token: s.token, body: { product_id: products[100]!.id } });
  t.is(last.status, 422);
  t.like(last.body, { code: 'cart_line_limit', errors: [{ path: 'product_id' }] });
  // Adding to a line already there is still fine.
  t.is((await file.api.request('POST', '/cart/add', { token: s.token, body: { product_id: products[0]!.id, quantity: 0 } })).status, 422);
  const full = await file.api.request('GET', '/cart', { token: s.token });
  t.is(full.body.items.length, 100);
  t.is(full.body.total, '9999999999000.00');
  const order = await file.api.request('POST', '/orders', { token: s.token });
  t.is(order.status, 201, order.text);
  t.is(order.body.total, '9999999999000.00');
});
