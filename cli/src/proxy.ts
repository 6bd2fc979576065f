import type { Context } from './context.js';
import { ShopctlError, messageOf } from './errors.js';
import { ExitCode } from './exit-codes.js';
import { jsonBody, request } from './http.js';
import type { Address } from './orchestrators/orchestrator.js';

/** Reaching the stack as a client does: through the proxy's published ports, wherever the orchestrator says they are. */

export function urlOf(a: Address, scheme: 'https' | 'http', path: string): string {
  const host = a.host.includes(':') ? `[${a.host}]` : a.host;
  return `${scheme}://${host}:${a.port}${path}`;
}

/**
 * Requests through the published proxy port, as a client would: /health/ready must answer 200
 * and /health must report the expected version every time (so nginx routes to nothing else).
 */
export async function smokeCheck(ctx: Context, expectVersion: string | undefined, requests = 6, opts: { sideBySide?: boolean } = {}): Promise<{ requests: number; version: string | null }> {
  const { https } = await ctx.orchestrator.proxyEndpoint();
  if (!https) throw new ShopctlError('The proxy publishes no HTTPS port (8443/tcp)', { exitCode: ExitCode.PREFLIGHT });
  if (opts.sideBySide && expectVersion) return smokeSideBySide(https, expectVersion, requests);
  let seen: string | null = null;
  for (let i = 0; i < requests; i += 1) {
    const ready = await getPatiently(https, '/health/ready');
    if (ready.status !== 200) throw new ShopctlError(`Smoke check: GET /health/ready through nginx answered ${ready.status}`, { detail: ready.body.slice(0, 500) });
    const health = await getPatiently(https, '/health');
    const body = jsonBody<{ status?: string; version?: string }>(health);
    if (health.status !== 200) throw new ShopctlError(`Smoke check: GET /health through nginx answered ${health.status}`, { detail: health.body.slice(0, 500) });
    if (expectVersion && body?.version && body.version !== expectVersion) {
      throw new ShopctlError(`Smoke check: nginx still reaches version ${body.version}, expected ${expectVersion}`);
    }
    seen = body?.version ?? null;
  }
  return { requests: requests * 2, version: seen };
}

/**
 * GET through the proxy; a 503 (the API's "retry shortly": a database check slowed by load, a
 * pool briefly full) is asked again after its Retry-After, within 10 s: only one that persists
 * fails the check. Any other status is returned at once.
 */
async function getPatiently(https: Address, path: string): Promise<Awaited<ReturnType<typeof request>>> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await request(urlOf(https, 'https', path), { timeoutMs: 5000 });
    if (r.status !== 503 || Date.now() >= deadline) return r;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/**
 * While old and new replicas both serve: every answer 200, and `wanted` answers from the new
 * version within 15 s (nginx spreads new connections over the socket slots, half of them new;
 * the old replicas close their kept-alive ones within a second of losing slots).
 */
async function smokeSideBySide(https: Address, expectVersion: string, wanted: number): Promise<{ requests: number; version: string | null }> {
  let fromNew = 0;
  let sent = 0;
  const others = new Set<string>();
  const deadline = Date.now() + 15_000;
  while (fromNew < wanted && (sent < 40 || Date.now() < deadline)) {
    sent += 1;
    const ready = await getPatiently(https, '/health/ready');
    if (ready.status !== 200) throw new ShopctlError(`Smoke check: GET /health/ready through nginx answered ${ready.status}`, { detail: ready.body.slice(0, 500) });
    const health = await getPatiently(https, '/health');
    if (health.status !== 200) throw new ShopctlError(`Smoke check: GET /health through nginx answered ${health.status}`, { detail: health.body.slice(0, 500) });
    const version = jsonBody<{ version?: string }>(health)?.version;
    if (version === expectVersion) fromNew += 1;
    else if (version) others.add(version);
  }
  if (fromNew < wanted) {
    throw new ShopctlError(`Smoke check: ${fromNew} of ${sent} answers through nginx came from ${expectVersion} (wanted ${wanted}); the others from ${[...others].join(', ') || 'unknown'}`, {
      hint: "The new containers may not own any of nginx's socket slots: docker compose exec api node api/dist/cli/slots.js show",
    });
  }
  return { requests: sent * 2, version: expectVersion };
}

export interface ApiHealth {
  url: string | null;
  status: number | null;
  healthy: boolean;
  body: unknown;
  error?: string | undefined;
}

/** GET /health through nginx's published port: the API's own view of PostgreSQL and Redis. */
export async function apiHealth(ctx: Context): Promise<ApiHealth> {
  try {
    const { https } = await ctx.orchestrator.proxyEndpoint();
    if (!https) return { url: null, status: null, healthy: false, body: null, error: 'the proxy publishes no HTTPS port' };
    const url = urlOf(https, 'https', '/health');
    const res = await request(url, { timeoutMs: 5000 });
    const body = jsonBody<{ status?: string }>(res) ?? res.body.slice(0, 300);
    return { url, status: res.status, healthy: res.status === 200 && (body as { status?: string }).status === 'ok', body };
  } catch (error) {
    return { url: null, status: null, healthy: false, body: null, error: messageOf(error) };
  }
}
