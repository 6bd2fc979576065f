// Prometheus, Alertmanager and Grafana configuration against the Compose files that run
// them, without an engine: every scrape target is a real service and port, every mounted
// path is where the configs expect it, the API's memory limit matches the alert's.
import test from 'ava';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import YAML from 'yaml';
import { ROOT } from './lib/catalogue.js';

interface Service {
  image?: string;
  profiles?: string[];
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment?: Record<string, string | null> | string[];
  volumes?: (string | { source?: string; target: string })[];
  networks?: string[] | Record<string, unknown>;
  ports?: unknown[];
  mem_limit?: string | number;
  deploy?: { resources?: { limits?: { memory?: string | number } } };
  secrets?: (string | { source: string; target?: string })[];
}
interface Compose {
  services: Record<string, Service>;
}

const COMPOSE_FILES = ['docker-compose.yml', 'docker-compose.production.yml'];
const MONITORING = ['prometheus', 'alertmanager', 'grafana', 'postgres-exporter', 'redis-exporter', 'nginx-exporter'];

const read = async (path: string) => readFile(new URL(path, ROOT), 'utf8');
const prometheus = YAML.parse(await read('config/prometheus.yml')) as {
  global: Record<string, unknown>;
  rule_files: string[];
  alerting: { alertmanagers: { static_configs: { targets: string[] }[] }[] };
  scrape_configs: {
    job_name: string;
    metrics_path?: string;
    static_configs?: { targets: string[] }[];
    dns_sd_configs?: { names: string[]; type: string; port: number }[];
  }[];
};

/** "src:dst[:mode]" with `${VAR:-default}` sources, or the long syntax. */
function mounts(s: Service): { source: string; target: string }[] {
  return (s.volumes ?? []).map((v) => {
    if (typeof v !== 'string') return { source: v.source ?? '', target: v.target };
    // Colons inside ${VAR:-default} are not separators.
    const masked = v.replace(/\$\{[^}]*\}/g, (m) => m.replaceAll(':', '\u0000'));
    const [source = '', target = ''] = masked.split(':').map((p) => p.replaceAll('\u0000', ':'));
    return { source, target };
  });
}
function env(s: Service): Record<string, string> {
  if (Array.isArray(s.environment)) {
    return Object.fromEntries(s.environment.map((e) => [e.split('=')[0] ?? '', e.slice(e.indexOf('=') + 1)]));
  }
  return Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, String(v ?? '')]));
}
const args = (v: string[] | string | undefined) => (Array.isArray(v) ? v : v ? [v] : []);
const networks = (s: Service) => (Array.isArray(s.networks) ? s.networks : Object.keys(s.networks ?? {}));
const target = (s: Service, source: string) => mounts(s).find((m) => m.source === source)?.target;

function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`);
}
function bytes(limit: string | number | undefined): number {
  const m = /^(\d+)([kmg]?)b?$/i.exec(String(limit ?? ''));
  if (!m) return NaN;
  return Number(m[1]) * { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] ?? '').toLowerCase() as '' | 'k' | 'm' | 'g'];
}

test('Prometheus scrapes every API replica by DNS, each exporter, the backup metrics and itself', (t) => {
  const jobs = Object.fromEntries(prometheus.scrape_configs.map((s) => [s.job_name, s]));
  t.deepEqual(Object.keys(jobs).sort(), ['alertmanager', 'api', 'backup', 'nginx', 'postgres', 'prometheus', 'redis']);
  t.deepEqual(jobs.api?.dns_sd_configs, [{ names: ['api'], type: 'A', port: 8000, refresh_interval: '15s' }]);
  t.is(jobs.api?.static_configs, undefined);
  const targets = (job: string) => jobs[job]?.static_configs?.flatMap((c) => c.targets);
  t.deepEqual(targets('postgres'), ['postgres-exporter:9187']);
  t.deepEqual(targets('redis'), ['redis-exporter:9121']);
  t.deepEqual(targets('nginx'), ['nginx-exporter:9113']);
  t.deepEqual(targets('backup'), ['proxy:8081']);
  t.is(jobs.backup?.metrics_path, '/backup-metrics');
  t.deepEqual(targets('alertmanager'), ['alertmanager:9093']);
  t.deepEqual(prometheus.alerting.alertmanagers.flatMap((a) => a.static_configs.flatMap((c) => c.targets)), ['alertmanager:9093']);
});

test('the Prometheus config avoids what 3.x removed and what 2.42 does not know', async (t) => {
  const text = await read('config/prometheus.yml');
  for (const key of ['scrape_classic_histograms', 'api_version: v1', 'holt_winters', 'docker_sd_configs']) t.false(text.includes(key), key);
  for (const key of ['fallback_scrape_protocol', 'always_scrape_classic_histograms', 'scrape_native_histograms', 'metric_name_validation_scheme']) {
    t.false(text.includes(key), `${key} is 3.x only`);
  }
  // 3.x expands $VAR in external labels.
  t.false(JSON.stringify(prometheus.global).includes('$'));
});

test('the dashboards\' datasource and the Prometheus service agree', async (t) => {
  const ds = YAML.parse(await read('config/grafana/provisioning/datasources/prometheus.yml')) as {
    datasources: { uid: string; type: string; url: string; jsonData: { timeInterval: string } }[];
  };
  t.is(ds.datasources.length, 1);
  t.is(ds.datasources[0]?.uid, 'prometheus');
  t.is(ds.datasources[0]?.url, 'http://prometheus:9090');
  t.is(ds.datasources[0]?.jsonData.timeInterval, String(prometheus.global.scrape_interval));
  const ini = await read('config/grafana/grafana.ini');
  t.regex(ini, /\[auth\.anonymous\]\s*\nenabled = false/);
  t.regex(ini, /allow_sign_up = false/);
  t.notRegex(ini, /^\s*admin_password\s*=/m, 'no password in grafana.ini');
});

for (const file of COMPOSE_FILES) {
  test(`${file}: the monitoring services mount the configs where they are read`, async (t) => {
    t.true(existsSync(new URL(file, ROOT)), `${file} is missing`);
    const compose = YAML.parse(await read(file)) as Compose;
    const s = compose.services;
    for (const name of MONITORING) {
      t.truthy(s[name], `service ${name}`);
      // Production has no profiles (docker stack deploy ignores them): monitoring always runs.
      if (file === 'docker-compose.yml') t.deepEqual(s[name]?.profiles, ['monitoring'], `${name} is in the monitoring profile`);
      else t.true(s[name]?.profiles === undefined || s[name]?.profiles?.includes('monitoring'), `${name} profiles`);
    }
    for (const target of ['postgres-exporter', 'redis-exporter', 'nginx-exporter', 'proxy', 'api']) t.truthy(s[target], target);

    const prom = s.prometheus as Service;
    t.is(target(prom, './config/prometheus.yml'), '/etc/prometheus/prometheus.yml');
    t.true(args(prom.command).includes('--config.file=/etc/prometheus/prometheus.yml'));
    const rulesAt = target(prom, './monitoring/alerts.yml') ?? '';
    t.true(prometheus.rule_files.some((g) => globToRegExp(g).test(rulesAt)), `alerts.yml mounted at ${rulesAt}, rule_files ${prometheus.rule_files}`);
    t.true(networks(prom).includes('backend'));

    const am = s.alertmanager as Service;
    t.is(target(am, './config/alertmanager.yml'), '/etc/alertmanager/alertmanager.yml', 'the entrypoint reads the config there');
    const entry = target(am, './monitoring/alertmanager-entrypoint.sh');
    t.truthy(entry);
    t.deepEqual(args(am.entrypoint).slice(-1), [entry]);
    t.false(args(am.command).some((a) => a.startsWith('--config.file')), 'the entrypoint sets --config.file');
    t.true('ALERTMANAGER_WEBHOOK_URL' in env(am) || 'ALERTMANAGER_WEBHOOK_URL_FILE' in env(am), 'webhook URL configurable');

    const gf = s.grafana as Service;
    t.is(target(gf, './config/grafana/provisioning'), '/etc/grafana/provisioning');
    const provider = YAML.parse(await read('config/grafana/provisioning/dashboards/shop.yml')) as { providers: { options: { path: string } }[] };
    const path = provider.providers[0]?.options.path ?? '';
    t.true((target(gf, './config/grafana-dashboard.json') ?? '').startsWith(`${path}/`), 'overview dashboard under the provider path');
    t.true((target(gf, './monitoring/dashboards') ?? '').startsWith(`${path}/`), 'dashboards under the provider path');
    t.true(networks(gf).includes('frontend'), 'Grafana is reached on the frontend network');
    const gfEnv = env(gf);
    t.not(gfEnv.GF_AUTH_ANONYMOUS_ENABLED, 'true');
    t.true('GF_SECURITY_ADMIN_PASSWORD__FILE' in gfEnv || /^\$\{/.test(gfEnv.GF_SECURITY_ADMIN_PASSWORD ?? ''), 'admin password from a secret or the env file');

    const pgx = s['postgres-exporter'] as Service;
    t.is(target(pgx, './monitoring/postgres-exporter/queries.yml'), env(pgx).PG_EXPORTER_EXTEND_QUERY_PATH);
    t.true(args(s['nginx-exporter']?.command).some((a) => /^--?nginx\.scrape-uri=http:\/\/proxy:8081\/stub_status$/.test(a)));
  });

  test(`${file}: the alert's API memory limit is the api service's memory limit`, async (t) => {
    const compose = YAML.parse(await read(file)) as Compose;
    const rules = YAML.parse(await read('monitoring/alerts.yml')) as { groups: { rules: { record?: string; expr: string }[] }[] };
    const rule = rules.groups.flatMap((g) => g.rules).find((r) => r.record === 'shop:api_memory_limit_bytes');
    // vector(512 * 1024 * 1024): a product of integers.
    const limit = (/vector\((.+)\)/.exec(rule?.expr ?? '')?.[1] ?? 'NaN').split('*').reduce((p, n) => p * Number(n.trim()), 1);
    const api = compose.services.api;
    t.is(bytes(api?.deploy?.resources?.limits?.memory ?? api?.mem_limit), limit, 'update shop:api_memory_limit_bytes in monitoring/alerts.yml with the api memory limit');
  });
}
