// The metric catalogue the lint tests trust: the API's real registry must expose every
// metric docs/architecture.md promises, with the same labels, so that a renamed metric
// breaks npm test instead of a dashboard in production.
import test from 'ava';
import { apiRegistryMetrics, buildCatalogue, contractMetrics, EXPORTER_METRICS } from './lib/catalogue.js';

test('the API registry exposes every metric of docs/architecture.md with its labels', async (t) => {
  const contract = (await contractMetrics()).filter((m) => !m.name.startsWith('shopctl_'));
  t.true(contract.length >= 15, 'the metrics table was read');
  const registry = new Map((await apiRegistryMetrics()).map((m) => [m.name, m.labels]));
  for (const m of contract) {
    t.true(registry.has(m.name), `${m.name} is in the contract but not in api/src/observability/metrics.ts`);
    const labels = registry.get(m.name);
    if (labels === undefined || labels === 'any' || m.labels === 'any') continue;
    t.deepEqual([...labels].sort(), [...m.labels].sort(), `${m.name} labels`);
  }
});

test('metric names follow the Prometheus conventions', async (t) => {
  const names = [...(await contractMetrics()), ...EXPORTER_METRICS].map((m) => m.name);
  for (const n of names) {
    t.regex(n, /^[a-z_][a-z0-9_]*$/, n);
    // Base units only: seconds and bytes, never ms or kb.
    t.notRegex(n, /_(ms|milliseconds|kb|mb|kilobytes|megabytes)(_|$)/, n);
  }
  t.true(names.includes('http_request_duration_seconds_bucket'));
});

test('the catalogue knows the shopctl backup metrics and the recording rules', async (t) => {
  const c = await buildCatalogue();
  for (const n of ['shopctl_backup_last_success_timestamp_seconds', 'shopctl_backup_last_size_bytes', 'shopctl_backup_last_duration_seconds', 'shop:api_memory_limit_bytes']) {
    t.true(c.has(n), n);
  }
});
