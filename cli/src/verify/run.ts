import { resolve } from 'node:path';
import type { Context } from '../context.js';
import { messageOf } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { renderJunit, type CheckResult } from '../formats/junit.js';
import { writeFileAtomic } from '../state/fs-atomic.js';
import { jsonBody, request, type HttpResponse } from '../http.js';
import { renderTable } from '../formats/table.js';
import { LABEL, containerNumber, displayName, inspectContainer, processUids, serviceOf, shortId } from '../docker/containers.js';
import { exitedCleanly } from '../docker/health.js';
import { SERVICES, type ProxyEndpoint } from '../orchestrators/orchestrator.js';
import { HARDENING_CHECKS, exempt, fail, headerChecks, parseExemptions, pass, skip, tlsHandshake, type Verdict } from './checks.js';
import { journey } from './journey.js';

export interface VerifyOptions {
  junit?: string;
  domain?: string;
  skipJourney?: boolean;
  allowUntrustedCert?: boolean;
}

/** Runs each check, records its verdict; a check that throws fails, and never stops the others. */
export class Runner {
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

export function expectStatus(res: HttpResponse, ...ok: number[]): void {
  if (!ok.includes(res.status)) throw new Error(`HTTP ${res.status}: ${res.body.slice(0, 200).replace(/\s+/g, ' ')}`);
}

/** Every check of `shopctl verify`; each a named row, none stops the others. */
export async function verify(ctx: Context, opts: VerifyOptions): Promise<{ exitCode: 0 | 7; data: Record<string, unknown>; human: string }> {
  const runner = new Runner((r) => {
    if (ctx.output.verbose) ctx.output.info(`${r.status === 'pass' ? 'PASS' : r.status.toUpperCase().padEnd(4)}  ${r.id}  ${r.detail}`);
  });
  const docker = await ctx.docker();
  const env = ctx.environment;

  // ---- stack --------------------------------------------------------------------------------
  const targets = await ctx.orchestrator.verifyTargets();
  await runner.check('stack', 'services-healthy', () => targets.stack);

  // ---- through nginx ------------------------------------------------------------------------
  let endpoint: ProxyEndpoint | undefined;
  try {
    endpoint = await ctx.orchestrator.proxyEndpoint();
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
  const { containers, swarm, daemonNoNewPrivileges } = targets;
  const perService = new Map<string, number>();
  for (const c of containers) perService.set(serviceOf(c), (perService.get(serviceOf(c)) ?? 0) + 1);
  for (const c of containers) {
    const info = await inspectContainer(docker, c.Id);
    const service = serviceOf(info);
    // Replicas get their container number (swarm: task slot), so every row has its own id.
    const group = (perService.get(service) ?? 0) > 1 ? `hardening.${service}-${containerNumber(c) || shortId(c.Id)}` : `hardening.${service}`;
    if (!info.State.Running) {
      runner.record(group, 'running', exitedCleanly(info) ? skip(`${displayName(info)} is a one-shot helper that completed; not checked at run time`) : fail(`${displayName(info)} is ${info.State.Status}`));
      continue;
    }
    const uids = await processUids(docker, c.Id);
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
  // Each failure again with its detail, last: what an operator (or a CI log's tail) reads first.
  const verdict = failed.length ? `FAILED: ${failed.length} check(s): ${failed.map((r) => r.id).join(', ')}\n${failed.map((r) => `  ${r.id}: ${r.detail}`).join('\n')}` : `PASSED: ${counts.pass} passed, ${counts.exempt} exempt (documented), ${counts.skip} skipped`;
  return {
    exitCode: failed.length ? ExitCode.VERIFY_FAILED : ExitCode.OK,
    data: { environment: env, passed: failed.length === 0, counts, checks: results, junit: opts.junit ? resolve(opts.junit) : null },
    human: `\n${table}\n\n${verdict}${opts.junit ? `\nJUnit: ${resolve(opts.junit)}` : ''}`,
  };
}

/** The way out of an untrusted certificate that applies: self-signed -> the flag that accepts it. */
export function untrustedHint(error: string, servernameGiven: boolean): string {
  if (/SELF_SIGNED/.test(error)) return 'self-signed: install a certificate from a trusted CA (docs/stack.md, "TLS in production"), or accept it with --allow-untrusted-cert';
  if (!servernameGiven) return 'pass --domain so the right certificate is asked for, or --allow-untrusted-cert for a private CA';
  return 'a private CA or an incomplete chain: serve the full chain, or accept it with --allow-untrusted-cert';
}
