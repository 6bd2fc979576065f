// A shopper's and an administrator's journey through Prism (`prism proxy --errors`), a validating
// proxy built from the served document: Prism checks every request and every answer of the real
// API against the document and turns any violation into an error answer. Zero violations.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { adminLogin, createTestEnv, freePort, insertProduct, unique, type TestApi, type TestEnv } from '../api/helpers/harness.js';

const root = resolve(import.meta.dirname, '../..');

let env: TestEnv;
let api: TestApi;
let prism: ChildProcess | undefined;
let prismUrl: string;
let dir: string;
let prismLog = '';

test.before(async () => {
  env = await createTestEnv();
  api = await env.start();
  dir = await mkdtemp(join(tmpdir(), 'prism-'));
  const document = join(dir, 'openapi.json');
  await writeFile(document, (await api.request('GET', '/openapi.json')).text);
  const port = await freePort();
  prismUrl = `http://127.0.0.1:${port}`;
  prism = spawn(join(root, 'node_modules/.bin/prism'), ['proxy', document, api.url, '--errors', '--port', String(port), '--host', '127.0.0.1', '--cors', 'false'], { stdio: ['ignore', 'pipe', 'pipe'] });
  prism.stdout!.on('data', (d: Buffer) => (prismLog += d.toString()));
  prism.stderr!.on('data', (d: Buffer) => (prismLog += d.toString()));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (prism.exitCode !== null) throw new Error(`prism exited: ${prismLog}`);
    const up = await fetch(`${prismUrl}/health/live`).then((r) => r.ok, () => false);
    if (up) break;
    if (Date.now() > deadline) throw new Error(`prism did not start within 60 s: ${prismLog}`);
    await new Promise((r) => setTimeout(r, 250));
  }
});

test.after.always(async () => {
  if (prism && prism.exitCode === null) {
    prism.kill('SIGTERM');
    await new Promise((r) => prism!.once('exit', r));
  }
  await env?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Call {
  status: number;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON read back
  body: any;
}

const violations: string[] = [];

/** One request through Prism; any violation it reports (header or error answer) is recorded. */
async function call(method: string, path: string, opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Call> {
  const headers: Record<string, string> = { accept: 'application/json, application/problem+json', ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(prismUrl + path, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  const text = await res.text();
  const body = text && (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text;
  const reported = res.headers.get('sl-violations');
  if (reported) violations.push(`${method} ${path}: ${reported}`);
  if (typeof body === 'object' && body !== null && String(body.type ?? '').includes('stoplight.io/prism')) violations.push(`${method} ${path}: ${res.status} ${text}`);
  return { status: res.status, headers: res.headers, body };
}

test.serial('a shopper and an administrator go through Prism with zero contract violations', async (t) => {
  const product = await insertProduct(env, { name: 'Prism mug', price: '12.50', stock: 5 });
  const admin = await adminLogin(env, api);

  t.is((await call('GET', '/health')).status, 200);
  t.is((await call('GET', '/health/ready')).status, 200);
  t.is((await call('GET', '/products?limit=5&sort=-price')).status, 200);
  t.is((await call('GET', `/products/${product.id}`)).status, 200);
  t.is((await call('GET', '/products/999999')).status, 404);
  t.is((await call('GET', '/categories')).status, 200);

  const username = unique('prism');
  const register = await call('POST', '/auth/register', { body: { username, email: `${username}@example.com`, password: 'a long prism passphrase' } });
  t.is(register.status, 201);
  t.is((await call('POST', '/auth/register', { body: { username, email: `${username}@example.com`, password: 'a long prism passphrase' } })).status, 409);
  t.is((await call('POST', '/auth/register', { body: { username: unique('weak'), email: `${unique('w')}@example.com`, password: 'password' } })).status, 422);
  t.is((await call('POST', '/auth/login', { body: { username, password: 'not the password' } })).status, 401);
  const login = await call('POST', '/auth/login', { body: { username, password: 'a long prism passphrase' } });
  t.is(login.status, 200);
  const token = login.body.access_token as string;
  t.is((await call('GET', '/auth/me', { token })).status, 200);
  t.is((await call('GET', '/cart', { token })).status, 200);

  const added = await call('POST', '/cart/add', { token, body: { product_id: product.id, quantity: 2 } });
  t.is(added.status, 200);
  t.is((await call('PUT', `/cart/${added.body.items[0].id}`, { token, body: { quantity: 3 } })).status, 200);
  t.is((await call('PUT', '/cart/999999', { token, body: { quantity: 3 } })).status, 404);
  t.is((await call('POST', '/cart/add', { token, body: { product_id: 999999 } })).status, 404);

  const key = `prism-${unique()}`;
  const order = await call('POST', '/orders', { token, body: {}, headers: { 'idempotency-key': key } });
  t.is(order.status, 201);
  const replay = await call('POST', '/orders', { token, body: {}, headers: { 'idempotency-key': key } });
  t.is(replay.status, 201);
  t.is(replay.headers.get('idempotent-replayed'), 'true');
  t.is((await call('POST', '/orders', { token, body: {} })).status, 422);
  t.is((await call('POST', '/orders', { token, body: { items: [{ product_id: product.id, quantity: 3 }] } })).status, 409);
  t.is((await call('GET', '/orders?limit=10', { token })).status, 200);
  t.is((await call('GET', `/orders/${order.body.id}`, { token })).status, 200);
  t.is((await call('GET', '/orders/999999', { token })).status, 404);

  t.is((await call('PUT', `/orders/${order.body.id}/status`, { token: admin.token, body: { status: 'paid' } })).status, 200);
  t.is((await call('PUT', `/orders/${order.body.id}/status`, { token: admin.token, body: { status: 'delivered' } })).status, 409);
  t.is((await call('PUT', `/orders/${order.body.id}/status`, { token, body: { status: 'cancelled' } })).status, 403);
  t.is((await call('GET', '/admin/dashboard', { token: admin.token })).status, 200);
  t.is((await call('GET', '/admin/analytics?days=7', { token: admin.token })).status, 200);
  const created = await call('POST', '/products', { token: admin.token, body: { name: 'Prism plate', price: '99999999.99', stock: 3 } });
  t.is(created.status, 201);
  t.is((await call('PUT', `/products/${created.body.id}`, { token: admin.token, body: { stock: 4 } })).status, 200);
  t.is((await call('POST', '/products', { token: admin.token, body: { name: 'No such category', price: '1.00', category_id: 999999 } })).status, 422);
  t.is((await call('DELETE', `/products/${created.body.id}`, { token: admin.token })).status, 204);

  t.is((await call('POST', '/auth/logout', { token })).status, 204);
  t.is((await call('GET', '/auth/me', { token })).status, 401);
  t.is((await call('GET', '/metrics', { headers: { accept: 'application/json' } })).status, 200);
  t.is((await call('GET', '/openapi.json')).status, 200);

  t.deepEqual(violations, [], prismLog.split('\n').filter((l) => /violation|error/i.test(l)).slice(0, 20).join('\n'));
});

test.serial('Prism really validates: a request the document forbids is refused by Prism itself, not the API', async (t) => {
  const res = await fetch(`${prismUrl}/products?limit=1000`);
  const body = (await res.json()) as { type?: string; detail?: string };
  t.is(res.status, 422);
  t.regex(String(body.type), /stoplight\.io\/prism/, JSON.stringify(body));
});

