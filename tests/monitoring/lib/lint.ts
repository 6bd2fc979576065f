// Checks one PromQL expression against the metric catalogue: known names, labels each metric
// really has (so no unbounded or misspelt label sneaks in), portable syntax.
import { analyze } from './promql.js';
import { TARGET_LABELS, type Catalogue } from './catalogue.js';

// Labels that describe a raw request or user: never metric labels here (unbounded).
const UNBOUNDED = new Set(['path', 'url', 'uri', 'user', 'user_id', 'userId', 'id', 'ip', 'email', 'session', 'token']);

function knows(catalogue: Catalogue, metric: string, label: string): boolean {
  const labels = catalogue.get(metric);
  return labels === 'any' || TARGET_LABELS.includes(label) || label === '__name__' || (labels?.has(label) ?? false);
}

export function lintExpr(expr: string, catalogue: Catalogue): string[] {
  const a = analyze(expr);
  const problems = [...a.errors];
  for (const s of a.selectors) {
    if (s.metric === null) {
      problems.push(`selector without a metric name: {${s.matchers.map((m) => m.label).join(',')}}`);
      continue;
    }
    if (!catalogue.has(s.metric)) {
      problems.push(`unknown metric ${s.metric}`);
      continue;
    }
    for (const m of s.matchers) {
      if (!knows(catalogue, s.metric, m.label)) problems.push(`${s.metric} has no label "${m.label}"`);
      // Prometheus 3.x stores le="1.0" where 2.x stored le="1": never match le literally.
      if (m.label === 'le' || m.label === 'quantile') problems.push(`matches ${m.label} literally (breaks on Prometheus 3.x)`);
    }
  }
  for (const g of a.groupings) {
    const metrics = g.metrics.filter((m) => catalogue.has(m));
    for (const label of g.labels) {
      if (UNBOUNDED.has(label)) problems.push(`${g.clause} (${label}): an unbounded label`);
      else if (metrics.length > 0 && !metrics.some((m) => knows(catalogue, m, label))) {
        problems.push(`${g.clause} (${label}): none of ${metrics.join(', ')} has that label`);
      }
    }
  }
  return problems;
}
