import test from 'ava';
import { createTestEnv, insertProduct, registerAndLogin, type TestApi, type TestEnv } from './helpers/harness.js';

let env: TestEnv;
let api: TestApi;

test.before(async () => {
  env = await createTestEnv();
  api = await env.start();
});
test.after.always(async () => {
  await env?.close();
});

test('add (merging lines of one product), view with NUMERIC totals, change quantity, remove', async (t) => {
  const s = await registerAndLogin(api, 'cart');
  const a = await insertProduct(env, { name: 'Mug', price: '19.99', stock: 50 });
  const b = await insertProduct(env, { name: 'Plate', price: '0.10', stock: 50 });
  t.deepEqual((await api.request('GET', '/cart', { token: s.token })).body, { items: [], total: '0.00' });

  const first = await api.request('POST', '/cart/add', { token: s.token, body: { product_id: a.id, quantity: 2 } });
  t.is(first.status, 200);
  await api.request('POST', '/cart/add', { token: s.token, body: { product_id: a.id, quantity: 1 } });
  await api.request('POST', '/cart/add', { token: s.token, body: { product_id: b.id, quantity: 3 } });
  const cart = await api.request('GET', '/cart', { token: s.token });
  t.is(cart.status, 200);
  t.is(cart.body.items.length, 2);
  const mug = cart.body.items.find((i: { product_id: number }) => i.product_id === a.id);
  t.deepEqual(Object.keys(mug).sort(), ['id', 'line_total', 'name', 'product_id', 'quantity', 'unit_price']);
  t.like(mug, { name: 'Mug', unit_price: '19.99', quantity: 3, line_total: '59.97' });
  // 59.97 + 0.30: exact decimal arithmetic, never 60.269999...
  t.is(cart.body.total, '60.27');

  const changed = await api.request('PUT', `/cart/${mug.id}`, { token: s.token, body: { quantity: 1 } });
  t.is(changed.status, 200);
  t.is(changed.body.total, '20.29');
  t.is((await api.request('PUT', `/cart/${mug.id}`, { token: s.token, body: { quantity: 0 } })).status, 422);
  t.is((await api.request('DELETE', `/cart/${mug.id}`, { token: s.token })).status, 204);
  t.is((await api.request('DELETE', `/cart/${mug.id}`, { token: s.token })).status, 404);
  t.is((await api.request('GET', '/cart', { token: s.token })).body.total, '0.30');
});

test('cart errors: 401 without a token, unknown product 404, bad quantity 422, per-line limit 422, another user\'s line 404', async (t) => {
  const s = await registerAndLogin(api, 'carterr');
  const other = await registerAndLogin(api, 'carterr2');
  const p = await insertProduct(env, { stock: 5 });
  t.is((await api.request('GET', '/cart')).status, 401);
  t.is((await api.request('POST', '/cart/add', { body: { product_id: p.id, quantity: 1 } })).status, 401);
  const missing = await api.request('POST', '/cart/add', { token: s.token, body: { product_id: 987654, quantity: 1 } });
  t.is(missing.status, 404);
  t.is(missing.body.code, 'product_not_found');
  for (const quantity of [0, -1, 1.5, '2', 1001]) {
    t.is((await api.request('POST', '/cart/add', { token: s.token, body: { product_id: p.id, quantity } })).status, 422, String(quantity));
  }
  t.is((await api.request('POST', '/cart/add', { token: s.token, body: { product_id: p.id, quantity: 1, price: '0.01' } })).status, 422);
  await api.request('POST', '/cart/add', { token: s.token, body: { product_id: p.id, quantity: 1000 } });
  const over = await api.request('POST', '/cart/add', { token: s.token, body: { product_id: p.id, quantity: 1 } });
  t.is(over.status, 422);
  t.is(over.body.code, 'cart_quantity_limit');
  const line = (await api.request('GET', '/cart', { token: s.token })).body.items[0];
  t.is((await api.request('PUT', `/cart/${line.id}`, { token: other.token, body: { quantity: 2 } })).status, 404);
  t.is((await api.request('DELETE', `/cart/${line.id}`, { token: other.token })).status, 404);
  t.is((await api.request('PUT', '/cart/abc', { token: s.token, body: { quantity: 2 } })).status, 422);
});

test.serial('a cart survives losing every Redis key and an API restart', async (t) => {
  const s = await registerAndLogin(api, 'durable');
  const p = await insertProduct(env, { price: '2.50', stock: 10 });
  await api.request('POST', '/cart/add', { token: s.token, body: { product_id: p.id, quantity: 4 } });
  await env.deletePrefixKeys();
  await api.close();
  api = await env.start();
  const cart = await api.request('GET', '/cart', { token: s.token });
  t.is(cart.status, 200);
  t.is(cart.body.items.length, 1);
  t.like(cart.body.items[0], { product_id: p.id, quantity: 4, line_total: '10.00' });
});

test('a deleted product disappears from carts', async (t) => {
  const s = await registerAndLogin(api, 'gone');
  const p = await insertProduct(env, { stock: 10 });
  await api.request('POST', '/cart/add', { token: s.token, body: { product_id: p.id, quantity: 1 } });
  const { deleteProduct } = await import('../../api/src/data/repos/products.js');
  await deleteProduct(env.db, p.id);
  t.deepEqual((await api.request('GET', '/cart', { token: s.token })).body, { items: [], total: '0.00' });
});
