// The monitoring profile against real software: promtool and amtool on the shipped files,
// then the stack, a real `shopctl backup`, Prometheus, Alertmanager and the exporters
// (Grafana has no image here), traffic through Nginx, every scrape target up, every
// dashboard query answered by Prometheus, and a stopped exporter raising its alert in
// Alertmanager and at the webhook.
import test from 'ava';
import https from 'node:https';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EXPORTER_METRICS, contractMetrics } from '../monitoring/lib/catalogue.js';
import { loadDashboards, panelQueries, variableSelectors, type PanelQuery } from '../monitoring/lib/dashboards.js';
import {
  amtool,
  BackendProbe,
  composeNetwork,
  containersOf,
  docker,
  poll,
  promQuery,
  promtool,
  ROOT,
  run,
  sampleCount,
  WebhookSink,
  writeMonitoringOverride,
  type PromResponse,
} from './lib/monitoring.js';
import { ComposeStack } from './lib/stack.js';

const started = Date.now();
const CORE = ['api', 'db', 'cache', 'tls', 'proxy'];
const MONITORING = ['prometheus', 'alertmanager', 'postgres-exporter', 'redis-exporter', 'nginx-exporter'];
// Alerts the test raises, with `for:` shortened in a test-only copy of the rules: long
// enough (two evaluations) that an exporter still starting is not an alert.
const SHORT_FOR = { ExporterDown: '20s' };

let override: Awaited<ReturnType<typeof writeMonitoringOverride>>;
let stack: ComposeStack;
let probe: BackendProbe | undefined;
let sink: WebhookSink | undefined;
let trickle: NodeJS.Timeout | undefined;

test.before(async () => {
  const info = await docker(['info', '--format', '{{.ServerVersion}}']);
  if (info.code !== 0) throw new Error(`Docker Engine not reachable (${info.stderr.trim()}): is dockerd running?`);
  override = await writeMonitoringOverride(SHORT_FOR);
  stack = await ComposeStack.create({ prefix: 'monitoring', files: ['docker-compose.yml', override.file], profiles: ['monitoring'] });
});

test.after.always(async (t) => {
  if (trickle) clearInterval(trickle);
  await probe?.stop();
  await sink?.stop();
  await stack?.destroy();
  await override?.cleanup();
  t.log(`monitoring e2e took ${Math.round((Date.now() - started) / 1000)} s`);
});

// ---------------------------------------------------------------------------------------
// HTTP through Nginx on the published loopback port (self-signed certificate).

interface Reply {
  status: number;
  body: string;
}
function request(method: string, path: string, body?: unknown, token?: string, headers: Record<string, string> = {}): Promise<Reply> {
  const data = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port: stack.httpsPort,
        method,
        path,
        rejectUnauthorized: false,
        servername: 'localhost',
        headers: {
          accept: 'application/json',
          ...(data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {}),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...headers,
        },
        timeout: 10_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(data);
  });
}

/** Later steps need the running stack: fail at once instead of waiting out their timeouts. */
function stackUp(): BackendProbe {
  if (!probe) throw new Error('the stack did not come up (see the first failure)');
  return probe;
}

async function prom(expr: string): Promise<PromResponse> {
  return (await probe!.getJson<PromResponse>(promQuery(expr))) as PromResponse;
}

async function promValue(expr: string): Promise<number | undefined> {
  const r = await prom(expr);
  const first = (r.data?.result as { value?: [number, string] }[] | undefined)?.[0];
  return first?.value ? Number(first.value[1]) : undefined;
}

// ---------------------------------------------------------------------------------------

test.serial('promtool checks the config, checks the rules and passes their unit tests; amtool checks Alertmanager', async (t) => {
  const config = await promtool(
    ['check', 'config', '/etc/prometheus/prometheus.yml'],
    [`${ROOT}config/prometheus.yml:/etc/prometheus/prometheus.yml:ro`, `${ROOT}monitoring/alerts.yml:/etc/prometheus/rules/alerts.yml:ro`],
  );
  t.is(config.code, 0, config.stdout + config.stderr);
  t.regex(config.stdout, /SUCCESS: \d+ rules found/, 'check config also read the rule file');
  const rules = await promtool(['check', 'rules', 'monitoring/alerts.yml']);
  t.is(rules.code, 0, rules.stdout + rules.stderr);
  const unit = await promtool(['test', 'rules', 'alerts.test.yml'], [`${ROOT}monitoring:/w:ro`]);
  t.is(unit.code, 0, unit.stdout + unit.stderr);
  t.regex(unit.stdout, /SUCCESS/);

  const am = await amtool(['check-config', '/w/alertmanager.yml'], [`${ROOT}config:/w:ro`]);
  t.is(am.code, 0, am.stdout + am.stderr);
  // The documented email/Slack examples must be valid once uncommented.
  const { readFile } = await import('node:fs/promises');
  const text = await readFile(join(ROOT, 'config/alertmanager.yml'), 'utf8');
  const examples = text
    .split('\n')
    .map((l) => (/^\s*# (?:[a-z_]+:(?: |$)|- | {2})/.test(l) && !/webhook:(begin|end)/.test(l) ? l.replace('# ', '') : l))
    .join('\n');
  t.not(examples, text);
  const dir = override.dir;
  await writeFile(join(dir, 'alertmanager-examples.yml'), examples);
  const ex = await amtool(['check-config', '/w/alertmanager-examples.yml'], [`${dir}:/w:ro`]);
  t.is(ex.code, 0, ex.stdout + ex.stderr);
  t.regex(examples, /^\s+email_configs:/m);
  t.regex(examples, /^\s+slack_configs:/m);
});

let backupSize = 0;

test.serial('the stack comes up healthy, shopctl backs it up, then the monitoring profile (without Grafana) starts', async (t) => {
  const t0 = Date.now();
  const built = await stack.build(['api']);
  await stack.up({ services: CORE, timeoutMs: 240_000 });

  // The real `shopctl backup`: it writes backups/metrics/backup.prom, which the proxy serves.
  const backup = await run(
    process.execPath,
    ['--import=tsx', 'cli/src/bin.ts', '--project-dir', ROOT, '--project-name', stack.project, '--backup-dir', stack.env.BACKUP_DIR as string, '--json', 'backup'],
    { cwd: ROOT, env: stack.env, timeoutMs: 180_000 },
  );
  t.is(backup.code, 0, `shopctl backup: ${backup.stdout}${backup.stderr}`);
  backupSize = (JSON.parse(backup.stdout) as { backup: { sizeBytes: number } }).backup.sizeBytes;
  t.true(backupSize > 0);
  t.true(existsSync(join(stack.env.BACKUP_DIR as string, 'metrics', 'backup.prom')));

  await stack.up({ services: MONITORING, timeoutMs: 180_000 });
  const backend = await composeNetwork(stack.project, 'backend');
  probe = await BackendProbe.start(stack.project, backend);
  sink = await WebhookSink.start(stack.project, backend);
  t.log(`API image built in ${Math.round(built / 1000)} s; up, backed up and healthy in ${Math.round((Date.now() - t0) / 1000)} s`);
  t.deepEqual(await containersOf(stack.project, 'grafana', true), []);
});

test.serial('every scrape target is up, found by DNS for the API', async (t) => {
  stackUp();
  const targets = await poll(
    'all scrape targets up',
    async () => {
      const r = await probe!.getJson<{ data: { activeTargets: { labels: { job: string; instance: string }; scrapeUrl: string; health: string; lastError: string }[] } }>(
        'http://prometheus:9090/api/v1/targets?state=active',
      );
      const active = r.data.activeTargets;
      const jobs = new Set(active.map((a) => a.labels.job));
      const ready = ['api', 'postgres', 'redis', 'nginx', 'backup', 'prometheus', 'alertmanager'].every((j) => jobs.has(j));
      const down = active.filter((a) => a.health !== 'up').map((a) => `${a.labels.job} ${a.health} ${a.lastError}`);
      const failing = active.filter((a) => a.health === 'down').map((a) => `${a.labels.job}: ${a.lastError}`);
      if (failing.length) t.log(`down: ${failing.join('; ')}`);
      return ready && down.length === 0 ? active : undefined;
    },
    90_000,
    2000,
  );
  t.is(targets.filter((a) => a.labels.job === 'api').length, 1);
  t.regex(targets.find((a) => a.labels.job === 'api')?.labels.instance ?? '', /^\d+\.\d+\.\d+\.\d+:8000$/);
  t.log(targets.map((a) => `${a.labels.job} ${a.labels.instance} ${a.health}`).join('\n'));

  // Prometheus 3.x fails a scrape whose Content-Type is missing or unparsable (2.x guessed).
  const types = await probe!.contentTypes(targets.map((a) => a.scrapeUrl.replace('//localhost:9090', '//prometheus:9090')));
  for (const [url, type] of Object.entries(types)) {
    t.regex(type, /^(text\/plain|application\/openmetrics-text)(;\s*[a-z]+=[^;,\s]+)*$/i, `${url} answers Content-Type "${type}"`);
  }
  t.log(Object.entries(types).map(([u, c]) => `${u}: ${c}`).join('\n'));
});

const unknownPath = `/no-such-page-${randomBytes(6).toString('hex')}`;

test.serial('traffic through Nginx (catalogue, 404s, a registered shopper\'s order) is scraped', async (t) => {
  stackUp();
  const list = await request('GET', '/products?limit=20');
  t.is(list.status, 200, list.body);
  const products = (JSON.parse(list.body) as { items: { id: number; stock: number }[] }).items;
  t.true(products.length > 0, 'the development stack loads sample products');
  for (let i = 0; i < 15; i++) t.is((await request('GET', '/products?limit=20')).status, 200);
  for (const p of products.slice(0, 5)) t.is((await request('GET', `/products/${p.id}`)).status, 200);
  for (let i = 0; i < 3; i++) t.is((await request('GET', unknownPath)).status, 404);

  const user = `mon${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('base64url');
  const reg = await request('POST', '/auth/register', { username: user, email: `${user}@example.com`, password });
  t.is(reg.status, 201, reg.body);
  const login = await request('POST', '/auth/login', { username: user, password });
  t.is(login.status, 200, login.body);
  const token = (JSON.parse(login.body) as { access_token: string }).access_token;
  const product = products.find((p) => p.stock > 0);
  t.truthy(product);
  const add = await request('POST', '/cart/add', { product_id: product!.id, quantity: 1 }, token);
  t.is(add.status, 200, add.body);
  const order = await request('POST', '/orders', {}, token, { 'idempotency-key': randomBytes(8).toString('hex') });
  t.is(order.status, 201, order.body);
  t.is((await request('GET', '/orders', undefined, token)).status, 200);

  // A light, steady load while the dashboards are queried, so rates have samples.
  trickle = setInterval(() => {
    request('GET', '/products?limit=20').catch(() => undefined);
  }, 500);

  const t0 = Date.now();
  await poll(
    'Prometheus to scrape the traffic twice',
    async () => {
      const seen = await promValue('sum(http_requests_total{job="api", route!~"/health.*|/metrics"})');
      const rate = await promValue('sum(rate(http_requests_total{job="api"}[1m]))');
      const orders = await promValue('sum(shop_orders_created_total{job="api"})');
      return seen !== undefined && seen >= 28 && rate !== undefined && rate > 0 && orders !== undefined && orders >= 1 ? seen : undefined;
    },
    90_000,
    2000,
  );
  t.log(`traffic visible in Prometheus after ${Math.round((Date.now() - t0) / 1000)} s`);
});

test.serial('every query of every dashboard panel succeeds on the real Prometheus; rate, latency, cache and business panels have data', async (t) => {
  stackUp();
  const dashboards = await loadDashboards();
  const queries: PanelQuery[] = dashboards.flatMap(({ file, dashboard }) => panelQueries(file, dashboard));
  const variables = dashboards.flatMap(({ dashboard }) => variableSelectors(dashboard));
  t.true(queries.length > 60);
  const key = (q: PanelQuery) => `${q.dashboard} / ${q.panel} [${q.refId}]`;
  // The issue's list (request rate, latency, cache, business) and everything else as well,
  // except panels that only have data after an incident (5xx, 429).
  const issueList = (q: PanelQuery) => /http_requests_total|http_request_duration_seconds|cache_(hits|misses)_total|shop_/.test(q.raw);
  const incidentOnly = (q: PanelQuery) => /status_code=~"5\.\."|status_code="429"/.test(q.raw);
  const expectData = queries.filter((q) => !incidentOnly(q));
  t.true(expectData.filter(issueList).length > 30);

  const urls = [...queries.map((q) => promQuery(q.expr)), ...variables.map((v) => `http://prometheus:9090/api/v1/label/${v.label}/values?match[]=${encodeURIComponent(v.selector)}`)];
  const askAll = async () => {
    const t0 = Date.now();
    const answers = await probe!.get(urls);
    const bodies = answers.map((a) => (a.ok ? (JSON.parse(a.body) as PromResponse) : ({ status: 'http error' } as PromResponse)));
    const empty = new Set(queries.filter((q, i) => sampleCount(bodies[i]!) === 0).map(key));
    return { bodies, empty, ms: Date.now() - t0 };
  };
  // A series born during the traffic needs two scrapes before rate() has a value: ask
  // again until every panel that should have data has it (or the wait runs out).
  let round = 0;
  let last = await askAll();
  await poll(
    'every panel to have data',
    async () => {
      round++;
      if (round > 1) last = await askAll();
      const failing = last.bodies.some((b) => b.status !== 'success');
      return failing || expectData.every((q) => !last.empty.has(key(q))) ? true : undefined;
    },
    60_000,
    3000,
  ).catch(() => undefined);
  t.log(`${urls.length} queries in ${last.ms} ms; ${round} round(s); empty: ${[...last.empty].join('; ') || 'none'}`);

  queries.forEach((q, i) => {
    const body = last.bodies[i]!;
    t.is(body.status, 'success', `${q.file} "${q.panel}" ${q.refId}: ${body.error ?? ''} ${q.expr}`);
  });
  variables.forEach((v, i) => {
    const body = last.bodies[queries.length + i] as unknown as { status: string; data?: string[] };
    t.is(body.status, 'success', `$${v.variable}`);
    t.true((body.data ?? []).length > 0, `$${v.variable} has values`);
  });
  for (const q of expectData) t.false(last.empty.has(key(q)), `${key(q)} has no data: ${q.expr}`);
});

test.serial('route labels are bounded templates: no raw path or id reaches Prometheus', async (t) => {
  stackUp();
  const r = await prom('count by (route) (http_requests_total{job="api"})');
  const routes = (r.data?.result as { metric: { route: string } }[]).map((s) => s.metric.route);
  t.true(routes.includes('/products'), routes.join(' '));
  t.true(routes.includes('/products/:id'), routes.join(' '));
  t.true(routes.includes('unmatched'), routes.join(' '));
  t.false(routes.includes(unknownPath));
  for (const route of routes) t.regex(route, /^(unmatched|\/[A-Za-z0-9_:./-]*)$/, `route ${route}`);
  for (const route of routes) t.notRegex(route, /\/\d+(\/|$)/, `route ${route} has an id in it`);
});

test.serial('every metric the dashboards and alerts expect from the API and the exporters exists', async (t) => {
  stackUp();
  const names = [...(await contractMetrics()).map((m) => m.name), ...EXPORTER_METRICS.map((m) => m.name)];
  const answers = await probe!.get(names.map((n) => promQuery(`count(${n})`)));
  // Written by events this suite does not cause (it takes one dump): a base backup, a verify, a failed
  // backup. tests/e2e/pitr.test.ts and the faults suite cause them and check what they write.
  const afterOtherEvents = new Set([
    'shopctl_base_backup_last_success_timestamp_seconds',
    'shopctl_base_backup_last_size_bytes',
    'shopctl_backup_last_verified_timestamp_seconds',
    'shopctl_backup_last_failure_timestamp_seconds',
  ]);
  const missing = names.filter((n, i) => !afterOtherEvents.has(n) && sampleCount(JSON.parse(answers[i]!.body) as PromResponse) === 0);
  t.deepEqual(missing, [], `no series for ${missing.join(', ')}`);
  t.is(await promValue('max(shopctl_backup_last_size_bytes)'), backupSize, 'shopctl\'s backup.prom is served by the proxy and scraped');
  const age = await promValue('time() - max(shopctl_backup_last_success_timestamp_seconds)');
  t.true(age !== undefined && age >= 0 && age < 600, `backup age ${age} s`);
});

test.serial('a scaled API is followed without a Prometheus restart', async (t) => {
  stackUp();
  const t0 = Date.now();
  const r = await stack.compose(['up', '-d', '--no-deps', '--no-recreate', '--no-build', '--scale', 'api=2', 'api']);
  t.is(r.exitCode, 0, r.stderr);
  const up = await poll('two API targets up', async () => {
    const v = await promValue('sum(up{job="api"})');
    return v === 2 ? v : undefined;
  }, 120_000, 2000);
  t.is(up, 2);
  t.log(`second replica scraped after ${Math.round((Date.now() - t0) / 1000)} s`);
});

test.serial('a stopped exporter raises ExporterDown in Alertmanager, delivered to the webhook', async (t) => {
  stackUp();
  const quiet = await probe!.getJson<{ labels: Record<string, string> }[]>('http://alertmanager:9093/api/v2/alerts?filter=alertname%3D%22ExporterDown%22');
  t.deepEqual(quiet, [], 'no ExporterDown while every exporter is up');
  // Nor since the start: an earlier ExporterDown would hold its Alertmanager group, whose
  // next notification then waits for group_interval (5 min) instead of group_wait.
  const history = await prom('count_over_time(ALERTS{alertname="ExporterDown"}[30m])');
  t.is(sampleCount(history), 0, `ExporterDown fired during start-up: ${JSON.stringify(history.data?.result)}`);

  const [exporter] = await containersOf(stack.project, 'redis-exporter');
  t.truthy(exporter);
  const t0 = Date.now();
  t.is((await docker(['stop', '-t', '2', exporter!])).code, 0);

  const alert = await poll(
    'ExporterDown for redis in Alertmanager',
    async () => {
      const alerts = await probe!.getJson<{ labels: Record<string, string>; annotations: Record<string, string>; status: { state: string } }[]>(
        'http://alertmanager:9093/api/v2/alerts?filter=alertname%3D%22ExporterDown%22',
      );
      return alerts.find((a) => a.labels.job === 'redis');
    },
    120_000,
    2000,
  );
  t.log(`ExporterDown in Alertmanager ${Math.round((Date.now() - t0) / 1000)} s after the stop`);
  t.is(alert.labels.severity, 'warning');
  t.is(alert.status.state, 'active');
  t.regex(alert.annotations.summary ?? '', /redis exporter/);
  t.true((alert.annotations.runbook ?? '').length > 40);

  const note = await poll(
    'the webhook notification',
    async () => (await sink!.received()).find((n) => n.status === 'firing' && n.alerts.some((a) => a.labels.alertname === 'ExporterDown' && a.labels.job === 'redis')),
    90_000,
    2000,
  ).catch(async (error: unknown) => {
    const [am] = await containersOf(stack.project, 'alertmanager');
    const logs = am ? await docker(['logs', '--tail', '30', am]) : undefined;
    const got = JSON.stringify(await sink!.received()).slice(0, 2000);
    throw new Error(`${String(error)}\nwebhook received: ${got}\nalertmanager: ${logs?.stdout}${logs?.stderr}`);
  });
  t.is(note.receiver, 'team', 'warnings go to the team receiver');
  t.log(`webhook notified ${Math.round((Date.now() - t0) / 1000)} s after the stop`);
});
