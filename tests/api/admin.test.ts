import test from 'ava';
import { adminLogin, createTestEnv, insertProduct, registerAndLogin, type Shopper, type TestApi, type TestEnv } from './helpers/harness.js';

let env: TestEnv;
let api: TestApi;
let admin: Shopper;

test.before(async () => {
  env = await createTestEnv();
  api = await env.start();
  admin = await adminLogin(env, api);
});
test.after.always(async () => {
  await env?.close();
});

test('admin endpoints: 401 without a token, 403 for shoppers, 403 for a demoted admin whose token still says admin', async (t) => {
  const s = await registerAndLogin(api, 'nosy');
  for (const path of ['/admin/dashboard', '/admin/analytics']) {
    t.is((await api.request('GET', path)).status, 401);
    t.is((await api.request('GET', path, { token: s.token })).status, 403);
  }
  const demoted = await adminLogin(env, api);
  await env.db.none("UPDATE users SET role = 'customer' WHERE id = $1", [demoted.id]);
  t.is((await api.request('GET', '/admin/dashboard', { token: demoted.token })).status, 403);
});

test.serial('GET /admin/dashboard aggregates users, products, today\'s orders and revenue, pending orders, low stock', async (t) => {
  const s = await registerAndLogin(api, 'dash');
  const cheap = await insertProduct(env, { name: 'Low one', price: '10.00', stock: 3 });
  const big = await insertProduct(env, { name: 'Big one', price: '100.00', stock: 50 });
  const o1 = await api.request('POST', '/orders', { token: s.token, body: { items: [{ product_id: cheap.id, quantity: 1 }, { product_id: big.id, quantity: 2 }] } });
  const o2 = await api.request('POST', '/orders', { token: s.token, body: { items: [{ product_id: big.id, quantity: 1 }] } });
  await api.request('PUT', `/orders/${o2.body.id}/status`, { token: admin.token, body: { status: 'cancelled' } });
  t.is(o1.status, 201);

  const res = await api.request('GET', '/admin/dashboard', { token: admin.token });
  t.is(res.status, 200);
  t.deepEqual(Object.keys(res.body).sort(), ['low_stock', 'orders_today', 'pending_orders', 'products', 'revenue_today', 'users']);
  t.like(res.body, { users: 2, products: 2, orders_today: 2, pending_orders: 1, revenue_today: '210.00' });
  t.deepEqual(res.body.low_stock, [{ id: cheap.id, name: 'Low one', stock: 2 }]);
});

test.serial('GET /admin/analytics?days=N: sales by UTC day (zero-filled), top products, average order value; cancelled excluded', async (t) => {
  const s = await registerAndLogin(api, 'ana');
  const p = await insertProduct(env, { name: 'Analysed', price: '4.00', stock: 100 });
  await api.request('POST', '/orders', { token: s.token, body: { items: [{ product_id: p.id, quantity: 5 }] } });
  // An order from three days ago, written straight into the database.
  const old = await env.db.one<{ id: number }>("INSERT INTO orders (user_id, status, total, created_at) VALUES ($1, 'delivered', 8.00, now() - interval '3 days') RETURNING id", [s.id]);
  await env.db.none("INSERT INTO order_items (order_id, product_id, product_name, unit_price, quantity) VALUES ($1, $2, 'Analysed', 4.00, 2)", [old.id, p.id]);

  const res = await api.request('GET', '/admin/analytics?days=7', { token: admin.token });
  t.is(res.status, 200);
  t.is(res.body.sales_by_day.length, 7);
  const today = new Date().toISOString().slice(0, 10);
  const threeDaysAgo = new Date(Date.now() - 3 * 86400_000).toISOString().slice(0, 10);
  const byDate = Object.fromEntries(res.body.sales_by_day.map((d: { date: string }) => [d.date, d]));
  t.is(res.body.sales_by_day.at(-1).date, today);
  t.like(byDate[threeDaysAgo], { orders: 1, revenue: '8.00' });
  t.true(res.body.sales_by_day.every((d: { revenue: string }) => /^\d+\.\d\d$/.test(d.revenue)));
  const top = res.body.top_products.find((x: { product_id: number }) => x.product_id === p.id);
  t.like(top, { name: 'Analysed', quantity: 7, revenue: '28.00' });
  t.regex(res.body.average_order_value, /^\d+\.\d\d$/);

  const oneDay = await api.request('GET', '/admin/analytics?days=1', { token: admin.token });
  t.is(oneDay.body.sales_by_day.length, 1);
  t.false(oneDay.body.top_products.some((x: { quantity: number; product_id: number }) => x.product_id === p.id && x.quantity === 7));
  const def = await api.request('GET', '/admin/analytics', { token: admin.token });
  t.is(def.body.sales_by_day.length, 30);
  for (const days of ['0', '366', 'x']) t.is((await api.request('GET', `/admin/analytics?days=${days}`, { token: admin.token })).status, 422);
});
