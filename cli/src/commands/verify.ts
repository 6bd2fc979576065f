import type { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Context } from '../context.js';
import type { CommandModule, CommandOutcome } from '../program.js';
import { messageOf } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { renderJunit, type CheckResult } from '../core/junit.js';
import { writeFileAtomic } from '../core/fs-atomic.js';
import { jsonBody, request, type HttpResponse } from '../core/http.js';
import { renderTable } from '../core/table.js';
import { LABEL, containerNumber, findContainers, displayName, serviceOf, shortId } from '../docker/containers.js';
import { execIn } from '../docker/exec.js';
import { exitedCleanly } from '../docker/health.js';
import { snapshot } from './health.js';
import { proxyEndpoint } from './rollout.js';
import { swarmSnapshot } from './swarm-status.js';
import { swarmState } from '../swarm/engine.js';
import { PG_EXEC_USER, SERVICES, containerSetting, postgresTarget } from './shared.js';
import { HARDENING_CHECKS, exempt, fail, headerChecks, parseExemptions, pass, skip, tlsHandshake, type Verdict } from './verify-checks.js';

interface VerifyOptions {
  junit?: string;
  domain?: string;
  skipJourney?: boolean;
  allowUntrustedCert?: boolean;
}

class Runner {
  readonly results: CheckResult[] = [];
  constructor(private readonly onResult: (r: CheckResult) => void) {}

  async check(group: string, id: string, fn: () => Promise<Verdict> | Verdict): Promise<Verdict> {
    const started = Date.now();
    let verdict: Verdict;
    try {
      verdict = await fn();
    } catch (error) {
      verdict = fail(messageOf(error).split('\n')[0] ?? 'error');
    }
    const r: CheckResult = { id: `${group}.${id}`, group, status: verdict.status, detail: verdict.detail, durationMs: Date.now() - started };
    this.results.push(r);
    this.onResult(r);
    return verdict;
  }

  record(group: string, id: string, verdict: Verdict): void {
    const r: CheckResult = { id: `${group}.${id}`, group, status: verdict.status, detail: verdict.detail, durationMs: 0 };
    this.results.push(r);
    this.onResult(r);
  }
}

function expectStatus(res: HttpResponse, ...ok: number[]): void {
  if (!ok.includes(res.status)) throw new Error(`HTTP ${res.status}: ${res.body.slice(0, 200).replace(/\s+/g, ' ')}`);
}

/** Every check of `shopctl verify`; each a named row, none stops the others. */
export async function verify(ctx: Context, opts: VerifyOptions): Promise<CommandOutcome> {
  const runner = new Runner((r) => {
    if (ctx.output.verbose) ctx.output.info(`${r.status === 'pass' ? 'PASS' : r.status.toUpperCase().padEnd(4)}  ${r.id}  ${r.detail}`);
  });
  const docker = await ctx.docker();
  const env = ctx.environment;

  // ---- stack --------------------------------------------------------------------------------
  const swarm = ctx.orchestrator === 'swarm';
  if (swarm) {
    const snap = await swarmSnapshot(ctx);
    await runner.check('stack', 'services-healthy', () => {
      const bad = snap.services.filter((s) => s.defined && !s.healthy);
      if (snap.services.length === 0) return fail(`no services in swarm stack ${ctx.projectName}`);
      return bad.length
        ? fail(`not healthy: ${bad.map((s) => `${s.service} (${s.running}/${s.desired}${s.lastError ? `, ${s.lastError}` : ''}${s.update ? `, update ${s.update.state}` : ''})`).join(', ')}`)
        : pass(`${snap.services.length} service(s) run all their replicas (${snap.services.map((s) => `${s.service} ${s.running}/${s.desired}`).join(', ')})`);
    });
  } else {
    const snap = await snapshot(ctx);
    await runner.check('stack', 'services-healthy', () => {
      const bad = snap.services.filter((s) => s.defined && !s.healthy);
      if (snap.services.length === 0) return fail(`no containers in project ${ctx.projectName}`);
      return bad.length ? fail(`not healthy: ${bad.map((s) => `${s.service} (${s.containers.map((c) => c.state).join(',') || 'missing'})`).join(', ')}`) : pass(`${snap.services.length} service(s) healthy`);
    });
  }

  // ---- through nginx ------------------------------------------------------------------------
  let endpoint: Awaited<ReturnType<typeof proxyEndpoint>> | undefined;
  try {
    endpoint = await proxyEndpoint(ctx);
  } catch (error) {
    runner.record('http', 'proxy', fail(messageOf(error)));
  }
  const https = endpoint?.https;
  const hostHeader = opts.domain;
  const base = https ? `https://${https.host.includes(':') ? `[${https.host}]` : https.host}:${https.port}` : undefined;
  const get = (path: string, init: Parameters<typeof request>[1] = {}) => request(`${base}${path}`, { hostHeader, timeoutMs: 10_000, ...init });

  if (base && https) {
    await runner.check('http', 'health', async () => {
      const res = await get('/health');
      expectStatus(res, 200);
      const body = jsonBody<{ status?: string; version?: string; checks?: Record<string, { status?: string }> }>(res);
      if (body?.status !== 'ok') return fail(`status ${body?.status ?? '?'}: ${JSON.stringify(body?.checks ?? {})}`);
      return pass(`ok, version ${body.version ?? '?'}, ${Object.entries(body.checks ?? {}).map(([k, v]) => `${k} ${v.status}`).join(', ')}`);
    });
    await runner.check('http', 'docs', async () => {
      const res = await get('/docs', { headers: { accept: 'text/html' } });
      expectStatus(res, 200);
      return /text\/html/.test(String(res.headers['content-type'])) ? pass('/docs serves HTML') : fail(`content-type ${res.headers['content-type']}`);
    });
    await runner.check('http', 'openapi', async () => {
      const res = await get('/openapi.json');
      expectStatus(res, 200);
      const doc = jsonBody<{ openapi?: string; paths?: Record<string, unknown> }>(res);
      if (!doc?.openapi?.startsWith('3.')) return fail('not an OpenAPI document');
      return pass(`OpenAPI ${doc.openapi}, ${Object.keys(doc.paths ?? {}).length} paths`);
    });
    await runner.check('http', 'products', async () => {
      const res = await get('/products?limit=5');
      expectStatus(res, 200);
      const body = jsonBody<{ items?: unknown[]; total?: number }>(res);
      return Array.isArray(body?.items) ? pass(`${body.total ?? body.items.length} product(s)`) : fail('no items array');
    });
    await runner.check('http', 'metrics-not-public', async () => {
      const res = await get('/metrics');
      return res.status === 200 ? fail('/metrics is reachable from outside') : pass(`/metrics answers ${res.status} through the proxy`);
    });
    await runner.check('http', 'redirect-to-https', async () => {
      const http = endpoint?.http;
      if (!http) return fail('the proxy publishes no HTTP port (8080/tcp)');
      const res = await request(`http://${http.host.includes(':') ? `[${http.host}]` : http.host}:${http.port}/some/path?x=1`, { hostHeader, timeoutMs: 10_000 });
      const location = String(res.headers.location ?? '');
      return [301, 308].includes(res.status) && location.startsWith('https://') ? pass(`${res.status} -> ${location}`) : fail(`HTTP ${res.status}, Location ${location || '(none)'}`);
    });

    // ---- TLS ------------------------------------------------------------------------------
    const servername = hostHeader && !/^[\d.:]+$/.test(hostHeader) ? hostHeader : undefined;
    await runner.check('tls', 'protocols', async () => {
      const modern = await tlsHandshake({ host: https.host, port: https.port, servername });
      if (!['TLSv1.2', 'TLSv1.3'].includes(modern.protocol ?? '')) return fail(`negotiated ${modern.protocol}`);
      for (const old of ['TLSv1', 'TLSv1.1'] as const) {
        const accepted = await tlsHandshake({ host: https.host, port: https.port, servername, minVersion: old, maxVersion: old }).then(
          () => true,
          () => false,
        );
        if (accepted) return fail(`the server accepts ${old}`);
      }
      return pass(`negotiates ${modern.protocol}; refuses TLS 1.0 and 1.1`);
    });
    await runner.check('tls', 'http2', async () => {
      const r = await tlsHandshake({ host: https.host, port: https.port, servername, alpn: ['h2', 'http/1.1'] });
      return r.alpn === 'h2' ? pass('ALPN h2') : fail(`ALPN ${r.alpn || 'none'}: no HTTP/2`);
    });
    await runner.check('tls', 'certificate', async () => {
      const r = await tlsHandshake({ host: https.host, port: https.port, servername });
      const validTo = Date.parse(r.cert.valid_to);
      const days = Math.floor((validTo - Date.now()) / 86_400_000);
      if (Number.isNaN(validTo) || days < 0) return fail(`expired (${r.cert.valid_to})`);
      if (days < 14) return fail(`expires in ${days} day(s) (${r.cert.valid_to})`);
      if (r.authorized) return pass(`trusted, expires in ${days} days`);
      if (env === 'development' || opts.allowUntrustedCert) return exempt(`not trusted (${r.authorizationError}); ${env === 'development' ? 'development uses a self-signed certificate' : '--allow-untrusted-cert'}; expires in ${days} days`);
      return fail(`not trusted: ${r.authorizationError} (${untrustedHint(String(r.authorizationError), Boolean(servername))})`);
    });

    // ---- headers --------------------------------------------------------------------------
    let headersOf: HttpResponse | undefined;
    try {
      headersOf = await get('/', { headers: { accept: 'text/html' } });
    } catch (error) {
      runner.record('headers', 'response', fail(messageOf(error)));
    }
    if (headersOf) for (const h of headerChecks(headersOf.headers, env)) runner.record('headers', h.id, h.verdict);

    // ---- a shopper's journey and an admin action, with data created and removed -----------
    if (opts.skipJourney) runner.record('journey', 'all', skip('--skip-journey'));
    else await journey(ctx, runner, get);
  }

  // ---- container hardening ------------------------------------------------------------------
  // Swarm: the running tasks on this node (exited containers there are swarm's task history).
  const containers = await findContainers(docker, ctx.scope, { all: !swarm });
  const daemonNoNewPrivileges = swarm ? (await swarmState(docker)).daemonNoNewPrivileges : false;
  const perService = new Map<string, number>();
  for (const c of containers) perService.set(serviceOf(c), (perService.get(serviceOf(c)) ?? 0) + 1);
  for (const c of containers) {
    const info = await docker.getContainer(c.Id).inspect();
    const service = serviceOf(info);
    // Replicas get their container number (swarm: task slot), so every row has its own id.
    const group = (perService.get(service) ?? 0) > 1 ? `hardening.${service}-${containerNumber(c) || shortId(c.Id)}` : `hardening.${service}`;
    if (!info.State.Running) {
      runner.record(group, 'running', exitedCleanly(info) ? skip(`${displayName(info)} is a one-shot helper that completed; not checked at run time`) : fail(`${displayName(info)} is ${info.State.Status}`));
      continue;
    }
    let uids: number[] | undefined;
    try {
      const top = (await docker.getContainer(c.Id).top({ ps_args: '-eo uid,pid,args' })) as { Titles: string[]; Processes: string[][] | null };
      const col = top.Titles.findIndex((t) => t.toUpperCase() === 'UID');
      uids = (top.Processes ?? []).map((p) => Number(p[col]));
    } catch {
      uids = undefined;
    }
    const exemptions = parseExemptions(info.Config.Labels?.[LABEL.verifyExempt]);
    for (const check of HARDENING_CHECKS) {
      await runner.check(group, check.id, () => {
        const verdict = check.run(info, { environment: env, service, proxyService: SERVICES.proxy, processUids: uids, swarm, daemonNoNewPrivileges });
        const reason = exemptions.get(check.id);
        return verdict.status === 'fail' && reason ? exempt(`${reason} (${verdict.detail})`) : verdict;
      });
    }
  }

  const results = runner.results;
  const failed = results.filter((r) => r.status === 'fail');
  if (opts.junit) await writeFileAtomic(resolve(opts.junit), renderJunit(results), 0o644);
  const counts = { pass: results.filter((r) => r.status === 'pass').length, fail: failed.length, exempt: results.filter((r) => r.status === 'exempt').length, skip: results.filter((r) => r.status === 'skip').length };
  const table = renderTable(
    ['check', 'result', 'detail'],
    results.map((r) => [r.id, r.status.toUpperCase(), r.detail.length > 110 ? `${r.detail.slice(0, 107)}...` : r.detail]),
  );
  const verdict = failed.length ? `FAILED: ${failed.length} check(s): ${failed.map((r) => r.id).join(', ')}` : `PASSED: ${counts.pass} passed, ${counts.exempt} exempt (documented), ${counts.skip} skipped`;
  return {
    exitCode: failed.length ? ExitCode.VERIFY_FAILED : ExitCode.OK,
    data: { environment: env, passed: failed.length === 0, counts, checks: results, junit: opts.junit ? resolve(opts.junit) : null },
    human: `\n${table}\n\n${verdict}${opts.junit ? `\nJUnit: ${resolve(opts.junit)}` : ''}`,
  };
}

/** A secret as the compose files name it (`secrets: <name>: file:`), read from this host; undefined when absent. */
async function secretFromFiles(ctx: Context, name: string): Promise<string | undefined> {
  try {
    const file = (await ctx.model()).secrets.get(name)?.file;
    return file ? (await readFile(resolve(ctx.projectDir, file), 'utf8')).replace(/\r?\n$/, '') : undefined;
  } catch {
    return undefined;
  }
}

async function journey(ctx: Context, runner: Runner, get: (path: string, init?: Parameters<typeof request>[1]) => Promise<HttpResponse>): Promise<void> {
  const docker = await ctx.docker();
  const api = (await findContainers(docker, ctx.scope, { service: SERVICES.api })).at(-1);
  const apiInfo = api ? await docker.getContainer(api.Id).inspect() : undefined;
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

export const verifyModule: CommandModule = {
  register(program: Command, run, { example }) {
    program
      .command('verify')
      .description(
        'The CI gate for a running stack: health; /health, /docs, /openapi.json, /products through nginx; TLS, HTTP/2, redirect, security headers; a shopper journey and an admin action (their data removed after); container hardening by inspection. A pass/fail table; exit 7 when a check fails.',
      )
      .option('--junit <file>', 'also write JUnit XML (for CI test reports)')
      .option('--domain <name>', 'Host header and TLS server name to use (production certificate check)')
      .option('--skip-journey', 'no shopper journey (read-only verify)')
      .option('--allow-untrusted-cert', 'production: a self-signed or private-CA certificate is exempt, not a failure')
      .addHelpText(
        'after',
        example(`
          shopctl verify
          shopctl verify --junit reports/verify.xml
          shopctl verify --env production --domain shop.example.com`),
      )
      .action(async (opts: VerifyOptions, cmd: Command) => run('verify', cmd, (ctx) => verify(ctx, opts)));
  },
};

/** The way out of an untrusted certificate that applies: self-signed -> the flag that accepts it. */
export function untrustedHint(error: string, servernameGiven: boolean): string {
  if (/SELF_SIGNED/.test(error)) return 'self-signed: install a certificate from a trusted CA (docs/stack.md, "TLS in production"), or accept it with --allow-untrusted-cert';
  if (!servernameGiven) return 'pass --domain so the right certificate is asked for, or --allow-untrusted-cert for a private CA';
  return 'a private CA or an incomplete chain: serve the full chain, or accept it with --allow-untrusted-cert';
}
