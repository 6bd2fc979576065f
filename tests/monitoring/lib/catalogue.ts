// Every metric name the alert rules and dashboards may use, with its label names. API metric
// names come from the contract (docs/architecture.md) and from the real prom-client registry;
// exporter names from the exporters' sources, listed below with where they come from.
import { readFile } from 'node:fs/promises';
import client from 'prom-client';
import YAML from 'yaml';
import { Metrics } from '../../../api/src/observability/metrics.js';

export const ROOT = new URL('../../../', import.meta.url);
export const TARGET_LABELS = ['job', 'instance'];

/** Metric name -> its label names (without job/instance, which every scraped series has), or 'any'. */
export type Catalogue = Map<string, Set<string> | 'any'>;

export interface MetricSource {
  name: string;
  labels: string[] | 'any';
  source: string;
}

function expand(name: string, type: string, labels: string[]): { name: string; labels: string[] }[] {
  if (type === 'histogram') {
    return [
      { name: `${name}_bucket`, labels: [...labels, 'le'] },
      { name: `${name}_sum`, labels },
      { name: `${name}_count`, labels },
    ];
  }
  if (type === 'summary') {
    return [{ name, labels: [...labels, 'quantile'] }, { name: `${name}_sum`, labels }, { name: `${name}_count`, labels }];
  }
  return [{ name, labels }];
}

/** The API metrics table and the backup metrics of docs/architecture.md. */
export async function contractMetrics(): Promise<MetricSource[]> {
  const doc = await readFile(new URL('docs/architecture.md', ROOT), 'utf8');
  const start = doc.indexOf('## Metrics');
  if (start < 0) throw new Error('docs/architecture.md has no "## Metrics" section');
  const end = doc.indexOf('\n## ', start + 3);
  const section = doc.slice(start, end < 0 ? undefined : end);
  const out: MetricSource[] = [];
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length < 5 || !cells[1]?.startsWith('`')) continue;
    const names = [...cells[1].matchAll(/`([a-zA-Z_:][a-zA-Z0-9_:]*)`/g)].map((m) => m[1] as string);
    const type = cells[2] ?? '';
    // Label names are the backticked words outside parentheses; inside are example values.
    const labels = [...(cells[3] ?? '').replace(/\([^)]*\)/g, '').matchAll(/`([a-zA-Z_][a-zA-Z0-9_]*)`/g)].map((m) => m[1] as string);
    for (const n of names) {
      for (const e of expand(n, type.startsWith('histogram') ? 'histogram' : type, labels)) {
        out.push({ ...e, source: 'docs/architecture.md' });
      }
    }
  }
  for (const m of section.matchAll(/`(shopctl_[a-z_]+)`/g)) {
    out.push({ name: m[1] as string, labels: [], source: 'docs/architecture.md (backup.prom)' });
  }
  return out;
}

async function registryMetrics(registry: client.Registry, source: string): Promise<MetricSource[]> {
  const out: MetricSource[] = [];
  for (const m of await registry.getMetricsAsJSON()) {
    const metric = registry.getSingleMetric(m.name) as unknown as { labelNames?: string[] } | undefined;
    const labels = new Set<string>(metric?.labelNames ?? []);
    for (const v of m.values) for (const l of Object.keys(v.labels)) if (l !== 'le' && l !== 'quantile') labels.add(l);
    for (const e of expand(m.name, String(m.type), [...labels])) out.push({ ...e, source });
  }
  return out;
}

/** prom-client's default metrics, read from a real registry (the `process_*`, `nodejs_*` row). */
export async function promClientDefaults(): Promise<MetricSource[]> {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  return registryMetrics(registry, 'prom-client collectDefaultMetrics');
}

/** What the API's own registry (api/src/observability/metrics.ts) exposes. */
export async function apiRegistryMetrics(): Promise<MetricSource[]> {
  return registryMetrics(new Metrics('0.0.0-test').registry, 'api/src/observability/metrics.ts');
}

/** Metrics of monitoring/postgres-exporter/queries.yml: namespace_column, LABEL columns as labels. */
export async function customQueryMetrics(): Promise<MetricSource[]> {
  const doc = YAML.parse(await readFile(new URL('monitoring/postgres-exporter/queries.yml', ROOT), 'utf8')) as Record<
    string,
    { metrics: Record<string, { usage: string }>[] }
  >;
  const out: MetricSource[] = [];
  for (const [namespace, q] of Object.entries(doc)) {
    const columns = q.metrics.flatMap((m) => Object.entries(m));
    const labels = columns.filter(([, c]) => c.usage === 'LABEL').map(([n]) => n);
    for (const [column, c] of columns) {
      if (c.usage !== 'LABEL') out.push({ name: `${namespace}_${column}`, labels: [...labels, 'server'], source: 'monitoring/postgres-exporter/queries.yml' });
    }
  }
  return out;
}

// postgres_exporter: cmd/postgres_exporter/postgres_exporter.go (0.11 builtin maps) and
// collector/pg_stat_database.go, pg_stat_activity.go, pg_database.go (0.13+). 0.11 adds a
// `server` label; later releases add datid and more pg_stat_activity labels.
const PG_DB = ['datid', 'datname', 'server'];
const PG_ACTIVITY = ['datname', 'state', 'server', 'usename', 'application_name', 'backend_type', 'wait_event_type', 'wait_event'];
// redis_exporter: exporter/info.go and exporter/keys.go (metric map of INFO fields).
// nginx-prometheus-exporter: collector/nginx.go (stub_status fields).
export const EXPORTER_METRICS: MetricSource[] = [
  ...[
    ['pg_up', []],
    ['pg_exporter_last_scrape_error', []],
    ['pg_settings_max_connections', ['server']],
    ['pg_stat_database_numbackends', PG_DB],
    ['pg_stat_database_xact_commit', PG_DB],
    ['pg_stat_database_xact_rollback', PG_DB],
    ['pg_stat_database_blks_hit', PG_DB],
    ['pg_stat_database_blks_read', PG_DB],
    ['pg_stat_database_deadlocks', PG_DB],
    ['pg_stat_database_tup_inserted', PG_DB],
    ['pg_stat_database_tup_updated', PG_DB],
    ['pg_stat_database_tup_deleted', PG_DB],
    ['pg_stat_activity_count', PG_ACTIVITY],
    ['pg_stat_activity_max_tx_duration', PG_ACTIVITY],
    ['pg_database_size_bytes', ['datname', 'server']],
  ].map(([name, labels]) => ({ name: name as string, labels: labels as string[], source: 'postgres_exporter' })),
  ...[
    ['redis_up', []],
    ['redis_memory_used_bytes', []],
    ['redis_memory_max_bytes', []],
    ['redis_connected_clients', []],
    ['redis_blocked_clients', []],
    ['redis_rejected_connections_total', []],
    ['redis_commands_processed_total', []],
    ['redis_keyspace_hits_total', []],
    ['redis_keyspace_misses_total', []],
    ['redis_expired_keys_total', []],
    ['redis_evicted_keys_total', []],
    ['redis_db_keys', ['db']],
    ['redis_db_keys_expiring', ['db']],
  ].map(([name, labels]) => ({ name: name as string, labels: labels as string[], source: 'redis_exporter' })),
  ...[
    'nginx_up',
    'nginx_connections_accepted',
    'nginx_connections_active',
    'nginx_connections_handled',
    'nginx_connections_reading',
    'nginx_connections_waiting',
    'nginx_connections_writing',
    'nginx_http_requests_total',
  ].map((name) => ({ name, labels: [], source: 'nginx-prometheus-exporter' })),
];

// Series Prometheus itself writes (scrape health and alert state).
export const PROMETHEUS_SYNTHETIC: MetricSource[] = [
  { name: 'up', labels: [], source: 'Prometheus (per target)' },
  { name: 'scrape_duration_seconds', labels: [], source: 'Prometheus (per target)' },
  { name: 'scrape_samples_scraped', labels: [], source: 'Prometheus (per target)' },
  { name: 'ALERTS', labels: 'any', source: 'Prometheus (alert state)' },
  { name: 'ALERTS_FOR_STATE', labels: 'any', source: 'Prometheus (alert state)' },
];

/** Recording rules of monitoring/alerts.yml: `vector(...)` records carry no labels. */
export async function recordingRules(): Promise<MetricSource[]> {
  const rules = YAML.parse(await readFile(new URL('monitoring/alerts.yml', ROOT), 'utf8')) as {
    groups: { rules: { record?: string; expr: string }[] }[];
  };
  return rules.groups
    .flatMap((g) => g.rules)
    .filter((r): r is { record: string; expr: string } => typeof r.record === 'string')
    .map((r) => ({ name: r.record, labels: /^\s*vector\(/.test(r.expr) ? [] : ('any' as const), source: 'monitoring/alerts.yml' }));
}

export async function buildCatalogue(): Promise<Catalogue> {
  const catalogue: Catalogue = new Map();
  const all = [
    ...(await contractMetrics()),
    ...(await promClientDefaults()),
    ...(await customQueryMetrics()),
    ...EXPORTER_METRICS,
    ...PROMETHEUS_SYNTHETIC,
    ...(await recordingRules()),
  ];
  for (const m of all) {
    const prev = catalogue.get(m.name);
    if (m.labels === 'any' || prev === 'any') catalogue.set(m.name, 'any');
    else catalogue.set(m.name, new Set([...(prev ?? []), ...m.labels]));
  }
  return catalogue;
}
