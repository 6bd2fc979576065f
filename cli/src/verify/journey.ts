import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Context } from '../context.js';
import { jsonBody, request, type HttpResponse } from '../http.js';
import { inspectContainer } from '../docker/containers.js';
import { execIn } from '../docker/exec.js';
import { SERVICES } from '../orchestrators/orchestrator.js';
import { PG_EXEC_USER, containerSetting, postgresTarget } from '../backup/postgres.js';
import { fail, pass } from './checks.js';
import { expectStatus, type Runner } from './run.js';

/** A secret as the compose files name it (`secrets: <name>: file:`), read from this host; undefined when absent. */
async function secretFromFiles(ctx: Context, name: string): Promise<string | undefined> {
  try {
    const file = (await ctx.orchestrator.model()).secrets.get(name)?.file;
    return file ? (await readFile(resolve(ctx.projectDir, file), 'utf8')).replace(/\r?\n$/, '') : undefined;
  } catch {
    return undefined;
  }
}

export async function journey(ctx: Context, runner: Runner, get: (path: string, init?: Parameters<typeof request>[1]) => Promise<HttpResponse>): Promise<void> {
  const docker = await ctx.docker();
  const api = (await ctx.orchestrator.containers(SERVICES.api)).at(-1);
  const apiInfo = api ? await inspectContainer(docker, api.Id) : undefined;
  const adminUser = apiInfo ? ((await containerSetting(docker, apiInfo, 'ADMIN_USERNAME').catch(() => undefined)) ?? 'admin') : (ctx.envValues.get('ADMIN_USERNAME') ?? 'admin');
  // No api task on this node (swarm): the secret file the stack was deployed from.
  const adminPassword = apiInfo ? await containerSetting(docker, apiInfo, 'ADMIN_PASSWORD').catch(() => undefined) : await secretFromFiles(ctx, 'admin_password');
  const tag = `verify${randomBytes(4).toString('hex')}`;
  const password = randomBytes(18).toString('base64url');
  const created: { userId?: number; productId?: number; orderId?: number } = {};
  const auth = (token: string) => ({ authorization: `Bearer ${token}` });
  let adminToken: string | undefined;
  let userToken: string | undefined;

  try {
    const adminOk = await runner.check('journey', 'admin-login', async () => {
      if (!adminPassword) return fail('no ADMIN_PASSWORD (or ADMIN_PASSWORD_FILE) in the api container');
      const res = await get('/auth/login', { method: 'POST', body: { username: adminUser, password: adminPassword } });
      expectStatus(res, 200);
      adminToken = jsonBody<{ access_token?: string }>(res)?.access_token;
      return adminToken ? pass(`admin "${adminUser}" logged in`) : fail('no access_token');
    });
    if (adminOk.status === 'pass' && adminToken) {
      await runner.check('journey', 'admin-create-product', async () => {
        const res = await get('/products', { method: 'POST', headers: auth(adminToken!), body: { name: `${tag} product`, description: 'created and removed by shopctl verify', price: '1.50', stock: 5 } });
        expectStatus(res, 201);
        created.productId = jsonBody<{ id?: number }>(res)?.id;
        return created.productId ? pass(`product ${created.productId}`) : fail('no id');
      });
    }
    const reg = await runner.check('journey', 'register', async () => {
      const res = await get('/auth/register', { method: 'POST', body: { username: tag, email: `${tag}@example.com`, password } });
      expectStatus(res, 201);
      created.userId = jsonBody<{ id?: number }>(res)?.id;
      return pass(`user ${tag} (${created.userId})`);
    });
    if (reg.status === 'pass') {
      await runner.check('journey', 'login', async () => {
        const res = await get('/auth/login', { method: 'POST', body: { username: tag, password } });
        expectStatus(res, 200);
        userToken = jsonBody<{ access_token?: string }>(res)?.access_token;
        return userToken ? pass('token issued') : fail('no access_token');
      });
    }
    if (userToken && created.productId) {
      await runner.check('journey', 'cart', async () => {
        const add = await get('/cart/add', { method: 'POST', headers: auth(userToken!), body: { product_id: created.productId, quantity: 2 } });
        expectStatus(add, 200);
        const cart = jsonBody<{ total?: string; items?: unknown[] }>(await get('/cart', { headers: auth(userToken!) }));
        return cart?.total === '3.00' ? pass('2 x 1.50 = 3.00 in the cart') : fail(`cart total ${cart?.total}, expected 3.00`);
      });
      await runner.check('journey', 'order', async () => {
        const res = await get('/orders', { method: 'POST', headers: { ...auth(userToken!), 'idempotency-key': `${tag}-order` }, body: {} });
        expectStatus(res, 201);
        const order = jsonBody<{ id?: number; total?: string; status?: string }>(res);
        created.orderId = order?.id;
        const product = jsonBody<{ stock?: number }>(await get(`/products/${created.productId}`));
        if (order?.total !== '3.00' || order.status !== 'pending') return fail(`order ${order?.id}: total ${order?.total}, status ${order?.status}`);
        return product?.stock === 3 ? pass(`order ${order.id}, total 3.00, stock 5 -> 3`) : fail(`stock ${product?.stock} after the order, expected 3`);
      });
    } else {
      runner.record('journey', 'order', fail('skipped: no user token or no product'));
    }
    if (adminToken && created.orderId) {
      await runner.check('journey', 'admin-order-status', async () => {
        const paid = await get(`/orders/${created.orderId}/status`, { method: 'PUT', headers: auth(adminToken!), body: { status: 'paid' } });
        expectStatus(paid, 200);
        const cancelled = await get(`/orders/${created.orderId}/status`, { method: 'PUT', headers: auth(adminToken!), body: { status: 'cancelled' } });
        expectStatus(cancelled, 200);
        const product = jsonBody<{ stock?: number }>(await get(`/products/${created.productId}`));
        return product?.stock === 5 ? pass('pending -> paid -> cancelled, stock restored to 5') : fail(`stock ${product?.stock} after cancel, expected 5`);
      });
    }
  } finally {
    await runner.check('journey', 'cleanup', async () => {
      if (adminToken && created.productId) await get(`/products/${created.productId}`, { method: 'DELETE', headers: auth(adminToken) }).catch(() => undefined);
      if (userToken) await get('/auth/logout', { method: 'POST', headers: auth(userToken) }).catch(() => undefined);
      if (!created.userId && !created.productId) return pass('nothing was created');
      const ids = [created.userId, created.productId].filter((n) => n !== undefined);
      if (!ids.every((n) => Number.isInteger(n))) return fail('ids returned by the API are not integers: not removing by them');
      const target = await postgresTarget(ctx);
      // One transaction: the verify user, its orders (lines cascade), its cart and the product.
      const sql = [
        'BEGIN',
        created.userId ? `DELETE FROM orders WHERE user_id = ${created.userId}` : '',
        created.userId ? `DELETE FROM revoked_tokens WHERE user_id = ${created.userId}` : '',
        created.userId ? `DELETE FROM users WHERE id = ${created.userId} AND username = '${tag}'` : '',
        created.productId ? `DELETE FROM products WHERE id = ${created.productId} AND name = '${tag} product'` : '',
        'COMMIT',
      ]
        .filter(Boolean)
        .join('; ');
      const r = await execIn(docker, target.container.Id, ['psql', '-X', '-v', 'ON_ERROR_STOP=1', '-q', '-U', target.user, '-d', target.database, '-c', sql], { user: PG_EXEC_USER });
      return r.exitCode === 0 ? pass(`removed user ${created.userId ?? '-'}, product ${created.productId ?? '-'}, order ${created.orderId ?? '-'}`) : fail(`could not remove the verify data: ${r.stderr.trim()}`);
    });
  }
}

