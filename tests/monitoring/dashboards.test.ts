// Grafana dashboards checked without Grafana or Prometheus: valid JSON, unique uids and
// panel ids, every panel on the provisioned datasource, every query parses with Grafana's
// variables substituted and uses only metrics and labels that exist. The e2e test then
// sends the same queries to a real Prometheus.
import test from 'ava';
import { buildCatalogue } from './lib/catalogue.js';
import { allPanels, loadDashboards, panelQueries, variableSelectors } from './lib/dashboards.js';
import { lintExpr } from './lib/lint.js';

const dashboards = await loadDashboards();
const catalogue = await buildCatalogue();

test('the overview and one dashboard per area exist, with unique uids and titles', (t) => {
  const uids = dashboards.map((d) => d.dashboard.uid);
  t.deepEqual([...new Set(uids)], uids);
  const titles = dashboards.map((d) => d.dashboard.title);
  t.deepEqual([...new Set(titles)], titles);
  for (const uid of ['shop-overview', 'shop-api', 'shop-database', 'shop-cache', 'shop-runtime', 'shop-proxy', 'shop-business']) {
    t.true(uids.includes(uid), uid);
  }
  t.is(dashboards[0]?.file, 'config/grafana-dashboard.json');
});

test('panel ids are unique and every panel reads the provisioned Prometheus through ${datasource}', (t) => {
  for (const { file, dashboard } of dashboards) {
    const panels = allPanels(dashboard);
    const ids = panels.map((p) => p.id);
    t.deepEqual([...new Set(ids)], ids, `${file}: duplicate panel id`);
    const ds = dashboard.templating?.list.find((v) => v.type === 'datasource');
    t.is(ds?.name, 'datasource', `${file}: datasource variable`);
    for (const p of panels.filter((p) => p.type !== 'row')) {
      t.deepEqual(p.datasource, { type: 'prometheus', uid: '${datasource}' }, `${file}: ${p.title}`);
      t.true((p.targets ?? []).length > 0, `${file}: ${p.title} has no query`);
      for (const target of p.targets ?? []) t.deepEqual(target.datasource, { type: 'prometheus', uid: '${datasource}' });
    }
  }
});

test('every panel query parses and uses only known metrics and labels', (t) => {
  let count = 0;
  for (const { file, dashboard } of dashboards) {
    for (const q of panelQueries(file, dashboard)) {
      count++;
      t.deepEqual(q.unknownVariables, [], `${file}: "${q.panel}" uses undefined variables`);
      t.deepEqual(lintExpr(q.expr, catalogue), [], `${file}: "${q.panel}" ${q.refId}: ${q.raw}`);
    }
  }
  t.true(count > 60, `only ${count} queries`);
});

test('template variables query real labels of real metrics', (t) => {
  for (const { file, dashboard } of dashboards) {
    for (const v of variableSelectors(dashboard)) {
      t.deepEqual(lintExpr(v.selector, catalogue), [], `${file}: $${v.variable}`);
      t.deepEqual(lintExpr(`count by (${v.label}) (${v.selector})`, catalogue), [], `${file}: $${v.variable} label ${v.label}`);
    }
  }
});

test('the issue\'s panels are there: latency percentiles per route, pool, slowest statements, GC, rate limiting, business', (t) => {
  const all = dashboards.flatMap(({ file, dashboard }) => panelQueries(file, dashboard));
  const has = (re: RegExp) => all.some((q) => re.test(q.raw));
  for (const quantile of ['0.5', '0.95', '0.99']) {
    t.true(has(new RegExp(`histogram_quantile\\(${quantile.replace('.', '\\.')}, sum by \\(route, le\\)`)), `p${quantile} per route`);
  }
  t.true(has(/http_requests_total\{[^}]*status_code=~"5\.\."/), 'error rate');
  t.true(has(/sum by \(status_code\)/), 'status codes');
  t.true(has(/db_query_duration_seconds_bucket/), 'query duration');
  t.true(has(/db_pool_connections/), 'pool');
  t.true(has(/pg_stat_database_numbackends/), 'connections');
  t.true(has(/pg_top_statements_mean_seconds/), 'slowest statements');
  t.true(has(/cache_hits_total/), 'cache hit ratio');
  t.true(has(/process_cpu_seconds_total/) && has(/process_resident_memory_bytes/), 'CPU and memory');
  t.true(has(/nodejs_eventloop_lag_p99_seconds/) && has(/nodejs_gc_duration_seconds/), 'event loop and GC');
  t.true(has(/nginx_connections_active/) && has(/rate_limited_requests_total/), 'nginx and rate limiting');
  for (const m of ['shop_orders_created_total', 'shop_order_revenue_total', 'shop_products_in_stock', 'shop_active_users']) t.true(has(new RegExp(m)), m);
});

test('replica-identical business gauges are never summed across replicas', (t) => {
  // Every replica reports the same shop-wide figure, so sum() would multiply it.
  for (const { file, dashboard } of dashboards) {
    for (const q of panelQueries(file, dashboard)) {
      t.notRegex(q.raw, /sum[^()]*\((shop_products_in_stock|shop_orders_today|shop_active_users)/, `${file}: ${q.panel}`);
    }
  }
});
