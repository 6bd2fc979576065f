// Alert rules and their unit tests, checked without Prometheus: every alert has for,
// severity, summary and runbook; every expression parses and uses real metric names and
// labels; every alert is unit-tested firing and quiet; Alertmanager routes what is raised.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import YAML from 'yaml';
import { buildCatalogue, ROOT } from './lib/catalogue.js';
import { lintExpr } from './lib/lint.js';

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface UnitTest {
  alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[];
  promql_expr_test?: { expr: string }[];
}

const read = async (path: string) => YAML.parse(await readFile(new URL(path, ROOT), 'utf8')) as unknown;
const rulesFile = (await read('monitoring/alerts.yml')) as { groups: { name: string; rules: Rule[] }[] };
const rules = rulesFile.groups.flatMap((g) => g.rules);
const alerts = rules.filter((r): r is Rule & { alert: string } => typeof r.alert === 'string');
const unitTests = (await read('monitoring/alerts.test.yml')) as { rule_files: string[]; tests: UnitTest[] };
const SEVERITIES = ['critical', 'warning'];

test('the rule file has alerts and unique group and alert names', (t) => {
  t.true(alerts.length >= 10);
  const groups = rulesFile.groups.map((g) => g.name);
  t.deepEqual([...new Set(groups)], groups);
  const names = alerts.map((a) => a.alert);
  t.deepEqual([...new Set(names)], names, 'an alert name is used twice');
});

test('every alert has for, a known severity, a summary and a runbook that says what to do', (t) => {
  for (const a of alerts) {
    t.regex(a.for ?? '', /^\d+[smhd]$/, `${a.alert}: for`);
    t.true(SEVERITIES.includes(a.labels?.severity ?? ''), `${a.alert}: severity ${a.labels?.severity}`);
    t.true((a.annotations?.summary ?? '').length > 10, `${a.alert}: summary`);
    t.true((a.annotations?.runbook ?? '').length > 40, `${a.alert}: runbook`);
  }
});

test('the issue\'s required alerts exist', (t) => {
  const names = new Set(alerts.map((a) => a.alert));
  for (const required of [
    'ApiHighLatency', // p95 > 1 s
    'ApiHighErrorRate', // 5xx > 5 %
    'PostgresConnectionsHigh', // > 80 % of max_connections
    'ApiMemoryNearLimit', // > 90 % of the container limit
    'ApiDown',
    'ApiReplicaDown',
    'ExporterDown',
    'CacheHitRatioCollapsed',
    'BackupTooOld', // > 26 h
  ]) {
    t.true(names.has(required), required);
  }
  const exprOf = (n: string) => alerts.find((a) => a.alert === n)?.expr ?? '';
  t.regex(exprOf('ApiHighLatency'), /histogram_quantile\(0\.95[\s\S]*> 1\s*$/);
  t.regex(exprOf('ApiHighErrorRate'), /status_code=~"5\.\."[\s\S]*> 0\.05\s*$/);
  t.regex(exprOf('PostgresConnectionsHigh'), /> 0\.8\s*$/);
  t.regex(exprOf('ApiMemoryNearLimit'), /> 0\.9\s*$/);
  t.regex(exprOf('BackupTooOld'), /> 26 \* 3600\s*$/);
});

test('every rule expression parses and uses only known metrics and their labels', async (t) => {
  const catalogue = await buildCatalogue();
  for (const r of rules) {
    t.deepEqual(lintExpr(r.expr, catalogue), [], `${r.alert ?? r.record}: ${r.expr}`);
  }
});

test('annotation templates reference only $labels and $value', (t) => {
  for (const a of alerts) {
    for (const [key, text] of Object.entries(a.annotations ?? {})) {
      for (const m of text.matchAll(/\{\{(.*?)\}\}/g)) {
        t.regex(m[1] ?? '', /^\s*(\$labels\.[a-z_]+|\$value( \| (humanizeDuration|humanizePercentage|humanize|printf "%[^"]+"))?)\s*$/, `${a.alert}.${key}: ${m[0]}`);
      }
    }
  }
});

test('every alert is unit-tested both firing and quiet', (t) => {
  t.deepEqual(unitTests.rule_files, ['alerts.yml']);
  const cases = unitTests.tests.flatMap((u) => u.alert_rule_test ?? []);
  for (const a of alerts) {
    const mine = cases.filter((c) => c.alertname === a.alert);
    t.true(mine.some((c) => (c.exp_alerts ?? []).length > 0), `${a.alert} is never expected to fire`);
    t.true(mine.some((c) => (c.exp_alerts ?? []).length === 0), `${a.alert} is never expected to stay quiet`);
  }
  const recorded = rules.filter((r) => r.record).map((r) => r.record);
  const exprTests = unitTests.tests.flatMap((u) => u.promql_expr_test ?? []).map((e) => e.expr);
  for (const r of recorded) t.true(exprTests.includes(r as string), `recording rule ${r} has no promql_expr_test`);
});

test('Alertmanager routes every severity and inhibits only alerts that exist', async (t) => {
  const am = (await read('config/alertmanager.yml')) as {
    route: { receiver: string; routes?: { matchers: string[]; receiver: string }[] };
    receivers: { name: string }[];
    inhibit_rules: { source_matchers: string[]; target_matchers: string[]; equal?: string[] }[];
  };
  const receivers = new Set(am.receivers.map((r) => r.name));
  t.true(receivers.has(am.route.receiver));
  for (const r of am.route.routes ?? []) t.true(receivers.has(r.receiver), r.receiver);
  const routed = new Set((am.route.routes ?? []).flatMap((r) => r.matchers).map((m) => /^severity="(\w+)"$/.exec(m)?.[1]));
  for (const s of SEVERITIES) t.true(routed.has(s), `no route for severity ${s}`);

  const names = new Set(alerts.map((a) => a.alert));
  const named = (matchers: string[]) =>
    matchers.flatMap((m) => {
      const match = /^alertname=~?"([^"]+)"$/.exec(m);
      return match ? (match[1] as string).split('|') : [];
    });
  for (const rule of am.inhibit_rules) {
    for (const n of [...named(rule.source_matchers), ...named(rule.target_matchers)]) t.true(names.has(n), `inhibit rule names unknown alert ${n}`);
  }
  // The issue: a down API inhibits its latency alerts, and both carry the label compared.
  const down = am.inhibit_rules.find((r) => named(r.source_matchers).includes('ApiDown'));
  t.truthy(down);
  t.true(named(down?.target_matchers ?? []).includes('ApiHighLatency'));
  for (const label of down?.equal ?? []) {
    t.is(alerts.find((a) => a.alert === 'ApiDown')?.labels?.[label], 'api', `ApiDown carries ${label}`);
    t.regex(alerts.find((a) => a.alert === 'ApiHighLatency')?.expr ?? '', new RegExp(`by \\([^)]*\\b${label}\\b`), `ApiHighLatency keeps ${label}`);
  }
});
