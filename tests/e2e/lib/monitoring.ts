// Helpers for the monitoring e2e test: promtool/amtool from the images, a probe container
// on the stack's internal network (Prometheus and Alertmanager are not published), a
// webhook sink, and the test-only Compose override with short `for:` rules.
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export const IMAGES = {
  prometheus: process.env.PROMETHEUS_IMAGE ?? 'prom/prometheus:v3.5.0',
  alertmanager: process.env.ALERTMANAGER_IMAGE ?? 'prom/alertmanager:v0.28.1',
  busybox: process.env.BUSYBOX_IMAGE ?? 'busybox:1.37',
};

export interface Run {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs a command without a shell; never throws on a non-zero exit. */
export function run(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      args,
      { maxBuffer: 64 * 1024 * 1024, timeout: opts.timeoutMs ?? 120_000, env: opts.env ?? process.env, cwd: opts.cwd },
      (error, stdout, stderr) => {
        const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : 1) : 0;
        resolve({ stdout: String(stdout), stderr: String(stderr), code });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

export async function docker(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<Run> {
  return run('docker', args, opts);
}

/** promtool from the Prometheus image, with the repository mounted read-only at /w. */
export async function promtool(args: string[], mounts: string[] = [`${ROOT}:/w:ro`], workdir = '/w'): Promise<Run> {
  return docker(['run', '--rm', ...mounts.flatMap((m) => ['-v', m]), '-w', workdir, '--entrypoint', '/bin/promtool', IMAGES.prometheus, ...args]);
}

export async function amtool(args: string[], mounts: string[]): Promise<Run> {
  return docker(['run', '--rm', ...mounts.flatMap((m) => ['-v', m]), '--entrypoint', '/bin/amtool', IMAGES.alertmanager, ...args]);
}

/** Waits for `check` to return a value (not undefined), polling; the last error explains a timeout. */
export async function poll<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 1000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** The Compose network `name` of `project` (v1 and v2 both label it). */
export async function composeNetwork(project: string, name: string): Promise<string> {
  const r = await docker(['network', 'ls', '-q', '--filter', `label=com.docker.compose.project=${project}`, '--filter', `label=com.docker.compose.network=${name}`, '--format', '{{.Name}}']);
  const net = r.stdout.trim().split('\n').filter(Boolean)[0];
  if (!net) throw new Error(`no network ${name} for project ${project}: ${r.stderr}`);
  return net;
}

export async function containersOf(project: string, service: string, all = false): Promise<string[]> {
  const r = await docker(['ps', ...(all ? ['-a'] : []), '-q', '--filter', `label=com.docker.compose.project=${project}`, '--filter', `label=com.docker.compose.service=${service}`]);
  return r.stdout.trim().split('\n').filter(Boolean);
}

/**
 * A busybox container on the stack's backend network, labelled with the project so that a
 * teardown by label removes it too. `get` fetches many URLs in one `docker exec`.
 */
export class BackendProbe {
  private constructor(readonly id: string) {}

  static async start(project: string, network: string): Promise<BackendProbe> {
    const r = await docker([
      'run', '-d', '--rm', '--network', network, '--label', `com.docker.compose.project=${project}`, '--label', 'shop.test=monitoring-probe',
      '--user', '65534:65534', '--read-only', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges:true', '--memory', '32m',
      IMAGES.busybox, 'sleep', '3600',
    ]);
    if (r.code !== 0) throw new Error(`probe container: ${r.stderr}`);
    return new BackendProbe(r.stdout.trim());
  }

  /** GET every URL from inside the network; ok is false when wget failed (refused, HTTP >= 400). */
  async get(urls: string[]): Promise<{ url: string; ok: boolean; body: string }[]> {
    if (urls.length === 0) return [];
    const script = 'while read -r u; do printf "\\n@@@ %s\\n" "$u"; if timeout 15 wget -q -O - "$u"; then printf "\\n@@@ok\\n"; else printf "\\n@@@fail\\n"; fi; done';
    const r = await docker(['exec', '-i', this.id, 'sh', '-c', script], { input: `${urls.join('\n')}\n`, timeoutMs: 30_000 + urls.length * 2000 });
    const out: { url: string; ok: boolean; body: string }[] = [];
    for (const chunk of r.stdout.split('\n@@@ ').slice(1)) {
      const nl = chunk.indexOf('\n');
      const url = chunk.slice(0, nl);
      const rest = chunk.slice(nl + 1);
      const ok = rest.trimEnd().endsWith('@@@ok');
      out.push({ url, ok, body: rest.replace(/\n@@@(ok|fail)\s*$/, '') });
    }
    if (out.length !== urls.length) throw new Error(`probe answered ${out.length} of ${urls.length} URLs: ${r.stderr}`);
    return out;
  }

  /** The Content-Type each URL answers with (busybox wget -S prints the response headers). */
  async contentTypes(urls: string[]): Promise<Record<string, string>> {
    const script = 'while read -r u; do printf "@@@ %s\\n" "$u"; timeout 15 wget -S -q -O /dev/null "$u" 2>&1; done';
    const r = await docker(['exec', '-i', this.id, 'sh', '-c', script], { input: `${urls.join('\n')}\n`, timeoutMs: 30_000 + urls.length * 2000 });
    const out: Record<string, string> = {};
    for (const chunk of r.stdout.split('@@@ ').slice(1)) {
      const [url = '', ...lines] = chunk.split('\n');
      const header = lines.map((l) => l.trim()).find((l) => /^content-type:/i.test(l));
      out[url] = header ? header.replace(/^content-type:\s*/i, '') : '';
    }
    return out;
  }

  async getJson<T>(url: string): Promise<T> {
    const [res] = await this.get([url]);
    if (!res?.ok) throw new Error(`GET ${url} failed`);
    return JSON.parse(res.body) as T;
  }

  async stop(): Promise<void> {
    await docker(['rm', '-f', this.id]);
  }
}

export const promQuery = (expr: string) => `http://prometheus:9090/api/v1/query?query=${encodeURIComponent(expr)}`;

export interface PromResponse {
  status: string;
  errorType?: string;
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value?: [number, string] }[] | [number, string] };
}

/** The number of samples of an instant query's answer (a scalar counts as one). */
export function sampleCount(r: PromResponse): number {
  const result = r.data?.result;
  if (!result) return 0;
  if (r.data?.resultType === 'scalar' || r.data?.resultType === 'string') return 1;
  return (result as unknown[]).length;
}

/**
 * A webhook receiver for Alertmanager: busybox httpd with a CGI script that keeps each POSTed
 * body, on the backend network under the alias `webhook`.
 */
export class WebhookSink {
  static readonly URL = 'http://webhook:8080/cgi-bin/hook';
  private constructor(readonly id: string) {}

  static async start(project: string, network: string): Promise<WebhookSink> {
    const hook = '#!/bin/sh\nhead -c "${CONTENT_LENGTH:-0}" > "/tmp/hooks/$(date +%s)-$$.json"\nprintf "Content-Type: text/plain\\r\\n\\r\\nok\\n"\n';
    const setup = `mkdir -p /tmp/www/cgi-bin /tmp/hooks && printf '%s' "$HOOK" > /tmp/www/cgi-bin/hook && chmod 755 /tmp/www/cgi-bin/hook && exec httpd -f -p 8080 -h /tmp/www`;
    const r = await docker([
      'run', '-d', '--rm', '--network', network, '--network-alias', 'webhook', '--label', `com.docker.compose.project=${project}`,
      '--label', 'shop.test=monitoring-webhook', '--user', '65534:65534', '--read-only', '--tmpfs', '/tmp:mode=1777,size=8m,exec', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges:true',
      '--memory', '32m', '-e', `HOOK=${hook}`, IMAGES.busybox, 'sh', '-c', setup,
    ]);
    if (r.code !== 0) throw new Error(`webhook container: ${r.stderr}`);
    return new WebhookSink(r.stdout.trim());
  }

  /** Every notification received so far (Alertmanager's webhook JSON). */
  async received(): Promise<{ receiver: string; status: string; alerts: { labels: Record<string, string>; annotations: Record<string, string>; status: string }[] }[]> {
    const r = await docker(['exec', this.id, 'sh', '-c', 'for f in /tmp/hooks/*.json; do [ -f "$f" ] && cat "$f" && echo; done; true']);
    return r.stdout.split('\n').filter((l) => l.trim().startsWith('{')).map((l) => JSON.parse(l));
  }

  async stop(): Promise<void> {
    await docker(['rm', '-f', this.id]);
  }
}

/**
 * The test-only Compose override: the shipped rules with `for:` of the alerts under test
 * shortened (never in the shipped file), and Alertmanager's webhook pointed at the sink.
 */
export async function writeMonitoringOverride(shortFor: Record<string, string>): Promise<{ dir: string; file: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'shop-monitoring-e2e-'));
  // Readable by the images' unprivileged users (nobody) when mounted.
  await chmod(dir, 0o755);
  const rules = YAML.parse(await readFile(join(ROOT, 'monitoring/alerts.yml'), 'utf8')) as { groups: { rules: { alert?: string; for?: string }[] }[] };
  const seen = new Set<string>();
  for (const r of rules.groups.flatMap((g) => g.rules)) {
    if (r.alert && r.alert in shortFor) {
      r.for = shortFor[r.alert];
      seen.add(r.alert);
    }
  }
  for (const name of Object.keys(shortFor)) if (!seen.has(name)) throw new Error(`no alert ${name} in monitoring/alerts.yml`);
  const rulesFile = join(dir, 'alerts.yml');
  await writeFile(rulesFile, YAML.stringify(rules), { mode: 0o644 });
  const override = {
    services: {
      prometheus: { volumes: [`${rulesFile}:/etc/prometheus/rules/alerts.yml:ro`] },
      alertmanager: { environment: { ALERTMANAGER_WEBHOOK_URL: WebhookSink.URL } },
    },
  };
  const file = join(dir, 'monitoring.override.yml');
  await writeFile(file, YAML.stringify(override));
  return { dir, file, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
