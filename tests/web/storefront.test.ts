// The storefront's pure parts (URL <-> catalogue query, money as strings, one Idempotency-Key
// per checkout attempt) and its build: hashed assets and the 40 KB gzipped JavaScript budget.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { catalogueHash, DEFAULT_QUERY, parseHash, productsPath, type CatalogueQuery } from '../../web/src/route.js';
import { cents, formatMoney } from '../../web/src/money.js';
import { attemptKey, endAttempt, type AttemptStore } from '../../web/src/checkout.js';
import type { Cart } from '../../web/src/types.js';

const WEB = fileURLToPath(new URL('../../web/', import.meta.url));

test('a catalogue query survives the URL both ways, with only the non-default values in it', (t) => {
  const query: CatalogueQuery = { q: 'usb charger', category_id: '3', min_price: '10', max_price: '49.99', in_stock: true, sort: 'price', page: 2 };
  const hash = catalogueHash(query);
  t.is(hash, '#/?q=usb+charger&category_id=3&min_price=10&max_price=49.99&in_stock=true&sort=price&page=2');
  t.deepEqual(parseHash(hash), { page: 'catalogue', query });
  t.is(catalogueHash(DEFAULT_QUERY), '#/');
  t.deepEqual(parseHash(''), { page: 'catalogue', query: DEFAULT_QUERY });
  t.is(productsPath(query), '/products?q=usb+charger&category_id=3&min_price=10&max_price=49.99&in_stock=true&sort=price&limit=12&offset=12');
});

test('routes: product, orders, login with a safe next; junk falls back to defaults', (t) => {
  t.deepEqual(parseHash('#/products/42'), { page: 'product', id: 42 });
  t.deepEqual(parseHash('#/orders/7'), { page: 'order', id: 7 });
  t.deepEqual(parseHash('#/orders?page=3'), { page: 'orders', pageNo: 3 });
  t.deepEqual(parseHash('#/login?next=%23%2Fcart'), { page: 'login', next: '#/cart' });
  t.deepEqual(parseHash('#/login?next=https%3A%2F%2Fevil.example'), { page: 'login', next: '#/' }, 'never another origin');
  t.deepEqual(parseHash('#/products/0'), { page: 'not-found' });
  const junk = parseHash('#/?sort=DROP&page=-1&category_id=abc&in_stock=yes');
  t.deepEqual(junk, { page: 'catalogue', query: DEFAULT_QUERY });
});

test('money: compared as integer cents, shown as the API wrote it', (t) => {
  t.is(cents('19.99'), 1999);
  t.is(cents('19.9'), 1990);
  t.is(cents('20'), 2000);
  t.is(cents('0.1'), 10);
  t.is(cents('1e3'), null);
  t.is(cents('-1'), null);
  t.is(formatMoney('189.00'), '189.00');
  t.is(formatMoney('19.9'), '19.90');
  // 0.1 + 0.2 in floats is 0.30000000000000004; the strings never go through a float sum.
  t.is(formatMoney('0.30'), '0.30');
});

function memoryStore(): AttemptStore & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return { data, getItem: (k) => data.get(k) ?? null, setItem: (k, v) => void data.set(k, v), removeItem: (k) => void data.delete(k) };
}

test('checkout: one key per attempt, kept for retries, new when the cart changes or the attempt ends', (t) => {
  const store = memoryStore();
  let n = 0;
  const newKey = () => `key-${++n}`;
  const cart: Cart = { items: [{ id: 1, product_id: 5, name: 'Mouse', unit_price: '24.99', quantity: 2, line_total: '49.98' }], total: '49.98' };
  const first = attemptKey(cart, store, newKey);
  t.is(attemptKey(cart, store, newKey), first, 'a double click or a retry sends the same key');
  const changed: Cart = { ...cart, items: [{ ...cart.items[0]!, quantity: 3, line_total: '74.97' }], total: '74.97' };
  const second = attemptKey(changed, store, newKey);
  t.not(second, first, 'another cart is another attempt');
  endAttempt(store);
  t.not(attemptKey(changed, store, newKey), second, 'after an answer, the next checkout is a new attempt');
  store.setItem('shop.checkout', '{not json');
  t.regex(attemptKey(cart, store, newKey), /^key-\d+$/, 'a damaged entry starts a new attempt');
});

test('the build: index.html names content-hashed assets; JavaScript within 40 KB gzipped', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'storefront-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));
  const { stdout } = await promisify(execFile)(process.execPath, [join(WEB, 'build.mjs'), '--out', out]);
  t.regex(stdout, /JS \d+\.\d KB gzipped \(budget 40 KB\)/);
  const html = await readFile(join(out, 'index.html'), 'utf8');
  const assets = await readdir(join(out, 'assets'));
  for (const file of assets) t.regex(file, /^main-[A-Z0-9]{8}\.(js|css)$/);
  for (const file of assets) t.true(html.includes(`/assets/${file}`), `index.html references ${file}`);
  t.notRegex(html, /<script>/, 'no inline script (CSP script-src self)');
  const weights = JSON.parse(await readFile(join(out, 'weights.json'), 'utf8')) as { js_gzip_bytes: number; js_budget_bytes: number };
  t.is(weights.js_budget_bytes, 40 * 1024);
  t.true(weights.js_gzip_bytes > 1000 && weights.js_gzip_bytes <= weights.js_budget_bytes, `${weights.js_gzip_bytes} bytes`);
});
