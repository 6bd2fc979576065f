import type Docker from 'dockerode';
import { ShopctlError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { UPSTREAM_FILE } from '../formats/upstream.js';
import { sleep } from '../time.js';
import { execIn } from './exec.js';

/** Reads the upstream file from the proxy (as the proxy's own user, like every write below). */
export async function readUpstreamFile(docker: Docker, proxyId: string): Promise<string> {
  const r = await execIn(docker, proxyId, ['cat', UPSTREAM_FILE]);
  if (r.exitCode !== 0) {
    throw new ShopctlError(`Cannot read ${UPSTREAM_FILE} in the proxy container`, {
      exitCode: ExitCode.PREFLIGHT,
      detail: r.stderr.trim() || undefined,
      hint: 'The proxy must render it at start (docs/architecture.md, "Nginx and rolling deploys").',
    });
  }
  return r.stdout;
}

/** Replaces the file in one rename (a reload never sees half a file). */
export async function writeUpstreamFile(docker: Docker, proxyId: string, content: string): Promise<void> {
  const r = await execIn(docker, proxyId, ['sh', '-c', 'cat > "$1.shopctl-new" && mv -f "$1.shopctl-new" "$1"', 'sh', UPSTREAM_FILE], { stdin: content });
  if (r.exitCode !== 0) {
    throw new ShopctlError(`Cannot write ${UPSTREAM_FILE} in the proxy container`, {
      detail: r.stderr.trim() || undefined,
      hint: 'It must be writable by the proxy container\'s default user (a tmpfs on /etc/nginx/conf.d).',
    });
  }
}

export async function testConfig(docker: Docker, proxyId: string): Promise<{ ok: boolean; output: string }> {
  const r = await execIn(docker, proxyId, ['nginx', '-t', '-q']);
  return { ok: r.exitCode === 0, output: `${r.stderr}${r.stdout}`.trim() };
}

interface Worker {
  pid: string;
  cmd: string;
}

/** nginx processes of the container, from the Engine's `top` (no ps needed in the image). */
async function workers(docker: Docker, proxyId: string): Promise<Worker[]> {
  const top = (await docker.getContainer(proxyId).top({ ps_args: '-eo pid,args' })) as { Titles: string[]; Processes: string[][] | null };
  const titles = top.Titles.map((t: string) => t.toUpperCase());
  const pidCol = titles.indexOf('PID');
  const cmdCol = titles.findIndex((t: string) => t === 'COMMAND' || t === 'CMD' || t === 'ARGS');
  return (top.Processes ?? [])
    .map((p) => ({ pid: p[pidCol] ?? '', cmd: p[cmdCol] ?? p.at(-1) ?? '' }))
    .filter((w) => /nginx: worker process/.test(w.cmd));
}

export interface ReloadResult {
  /** How long the old workers took to finish their requests. */
  drainMs: number;
  /** Old workers still running at the deadline (their connections are cut when the old containers stop). */
  leftOver: number;
}

/**
 * `nginx -s reload` and wait until it took effect: new workers replaced every worker seen
 * before, and the old ones, which finish their in-flight requests first, have exited.
 * Only then does no connection to the previous upstream servers remain.
 */
export async function reloadAndDrain(docker: Docker, proxyId: string, opts: { drainTimeoutMs: number; signal?: AbortSignal | undefined }): Promise<ReloadResult> {
  const before = new Set((await workers(docker, proxyId)).map((w) => w.pid));
  const r = await execIn(docker, proxyId, ['nginx', '-s', 'reload']);
  if (r.exitCode !== 0) throw new ShopctlError('nginx -s reload failed', { detail: `${r.stderr}${r.stdout}`.trim() || undefined });
  const started = Date.now();
  const deadline = started + opts.drainTimeoutMs;
  for (;;) {
    const now = await workers(docker, proxyId);
    const fresh = now.filter((w) => !before.has(w.pid) && !/shutting down/.test(w.cmd));
    const oldAlive = now.filter((w) => before.has(w.pid));
    if (fresh.length > 0 && oldAlive.length === 0) return { drainMs: Date.now() - started, leftOver: 0 };
    if (Date.now() >= deadline) {
      if (fresh.length === 0) throw new ShopctlError(`nginx did not start new workers within ${opts.drainTimeoutMs} ms after reload`);
      return { drainMs: Date.now() - started, leftOver: oldAlive.length };
    }
    if (opts.signal?.aborted) throw new ShopctlError('Interrupted while nginx drained', { exitCode: ExitCode.INTERRUPTED });
    await sleep(100);
  }
}

/** Writes, tests (restoring the previous content when nginx -t fails), reloads and waits for the drain. */
export async function switchUpstream(
  docker: Docker,
  proxyId: string,
  content: string,
  previous: string,
  opts: { drainTimeoutMs: number; signal?: AbortSignal | undefined },
): Promise<ReloadResult> {
  await writeUpstreamFile(docker, proxyId, content);
  const test = await testConfig(docker, proxyId);
  if (!test.ok) {
    await writeUpstreamFile(docker, proxyId, previous);
    throw new ShopctlError('nginx -t rejected the new upstream; the previous file is back in place', { detail: test.output });
  }
  return reloadAndDrain(docker, proxyId, opts);
}
