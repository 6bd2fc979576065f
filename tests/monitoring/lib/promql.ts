// PromQL analysis for the monitoring lint tests, on the Prometheus project's own grammar
// (@prometheus-io/lezer-promql): syntax errors, metric names, labels and their scopes.
import { parser } from '@prometheus-io/lezer-promql';

type SyntaxNode = ReturnType<typeof parser.parse>['topNode'];

export interface Selector {
  metric: string | null;
  matchers: { label: string; op: string; value: string }[];
}

/** Labels named by `by`/`without`/`on`/`ignoring`/`group_left`/`group_right`, with the metrics in scope. */
export interface Grouping {
  clause: string;
  labels: string[];
  metrics: string[];
}

export interface Analysis {
  errors: string[];
  selectors: Selector[];
  groupings: Grouping[];
  functions: string[];
}

// Functions and aggregations that Prometheus 2.42 and 3.x both evaluate the same way
// (holt_winters was renamed in 3.0; limitk, info, ts_of_*, fill... do not exist in 2.42).
const PORTABLE_FUNCTIONS = new Set([
  'abs', 'absent', 'absent_over_time', 'acos', 'acosh', 'asin', 'asinh', 'atan', 'atanh',
  'avg_over_time', 'ceil', 'changes', 'clamp', 'clamp_max', 'clamp_min', 'cos', 'cosh',
  'count_over_time', 'day_of_month', 'day_of_week', 'day_of_year', 'days_in_month', 'deg',
  'delta', 'deriv', 'exp', 'floor', 'histogram_quantile', 'hour', 'idelta', 'increase', 'irate',
  'label_join', 'label_replace', 'last_over_time', 'ln', 'log10', 'log2', 'max_over_time',
  'min_over_time', 'minute', 'month', 'pi', 'predict_linear', 'present_over_time',
  'quantile_over_time', 'rad', 'rate', 'resets', 'round', 'scalar', 'sgn', 'sin', 'sinh', 'sort',
  'sort_desc', 'sqrt', 'stddev_over_time', 'stdvar_over_time', 'sum_over_time', 'tan', 'tanh',
  'time', 'timestamp', 'vector', 'year',
]);
const PORTABLE_AGGREGATIONS = new Set([
  'sum', 'avg', 'min', 'max', 'count', 'count_values', 'group', 'stddev', 'stdvar', 'topk',
  'bottomk', 'quantile',
]);
// Syntax only Prometheus 3.x parses.
const NEW_SYNTAX = new Set(['FillModifier', 'AnchoredExpr', 'SmoothedExpr', 'DurationStep', 'DurationRange', 'DurationMinOf', 'DurationMaxOf']);

function children(node: SyntaxNode): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  for (let c = node.firstChild; c; c = c.nextSibling) out.push(c);
  return out;
}

function descendants(node: SyntaxNode, name: string): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  const walk = (n: SyntaxNode) => {
    for (const c of children(n)) {
      if (c.name === name) out.push(c);
      walk(c);
    }
  };
  walk(node);
  return out;
}

function unquote(s: string): string {
  if (s.startsWith('`')) return s.slice(1, -1);
  return JSON.parse(s.startsWith("'") ? `"${s.slice(1, -1).replace(/"/g, '\\"')}"` : s) as string;
}

export function analyze(expr: string): Analysis {
  const tree = parser.parse(expr);
  const text = (n: SyntaxNode) => expr.slice(n.from, n.to);
  const errors: string[] = [];
  const selectors: Selector[] = [];
  const groupings: Grouping[] = [];
  const functions: string[] = [];

  const selectorOf = (vs: SyntaxNode): Selector => {
    const id = children(vs).find((c) => c.name === 'Identifier');
    const matchers: Selector['matchers'] = [];
    for (const m of descendants(vs, 'UnquotedLabelMatcher')) {
      const [label, op, value] = children(m);
      if (label && op && value) matchers.push({ label: text(label), op: text(op), value: unquote(text(value)) });
    }
    const nameMatcher = matchers.find((m) => m.label === '__name__' && m.op === '=');
    return { metric: id ? text(id) : (nameMatcher?.value ?? null), matchers };
  };
  const metricsIn = (n: SyntaxNode) =>
    descendants(n, 'VectorSelector').map((vs) => selectorOf(vs).metric).filter((m): m is string => m !== null);
  const labelsOf = (g: SyntaxNode | undefined) => (g ? descendants(g, 'LabelName').map(text) : []);

  const walk = (node: SyntaxNode) => {
    if (node.type.isError) errors.push(`syntax error at ${node.from}: "${expr.slice(Math.max(0, node.from - 20), node.to + 20)}"`);
    if (NEW_SYNTAX.has(node.name)) errors.push(`"${text(node)}" needs Prometheus 3.x`);
    switch (node.name) {
      case 'VectorSelector':
        selectors.push(selectorOf(node));
        break;
      case 'FunctionCall': {
        const id = children(node).find((c) => c.name === 'FunctionIdentifier');
        const name = id ? text(id) : '?';
        functions.push(name);
        if (!PORTABLE_FUNCTIONS.has(name)) errors.push(`function ${name}() is not available in both Prometheus 2.42 and 3.x`);
        if (name === 'histogram_quantile') {
          const agg = descendants(node, 'AggregateExpr')[0];
          const mod = agg && children(agg).find((c) => c.name === 'AggregateModifier');
          if (agg && (!mod || (mod.firstChild?.name === 'By' && !labelsOf(mod).includes('le')) || (mod.firstChild?.name === 'Without' && labelsOf(mod).includes('le')))) {
            errors.push(`histogram_quantile() over an aggregation that drops "le": ${text(agg)}`);
          }
        }
        break;
      }
      case 'AggregateExpr': {
        const op = children(node).find((c) => c.name === 'AggregateOp');
        const name = op ? text(op) : '?';
        functions.push(name);
        if (!PORTABLE_AGGREGATIONS.has(name)) errors.push(`aggregation ${name} is not available in both Prometheus 2.42 and 3.x`);
        const mod = children(node).find((c) => c.name === 'AggregateModifier');
        if (mod) groupings.push({ clause: mod.firstChild ? text(mod.firstChild) : '?', labels: labelsOf(mod), metrics: metricsIn(node) });
        break;
      }
      case 'BinaryExpr': {
        const clause = children(node).find((c) => c.name === 'MatchingModifierClause');
        if (clause) {
          const scope = metricsIn(node);
          let kind = '?';
          for (const c of children(clause)) {
            if (['On', 'Ignoring', 'GroupLeft', 'GroupRight'].includes(c.name)) kind = text(c);
            else if (c.name === 'GroupingLabels') groupings.push({ clause: kind, labels: labelsOf(c), metrics: scope });
          }
        }
        break;
      }
      case 'DurationExpr':
      case 'OffsetDurationExpr':
        if (children(node).some((c) => c.name !== 'NumberDurationLiteralInDurationContext')) {
          errors.push(`duration arithmetic "${text(node)}" needs Prometheus 3.x`);
        }
        break;
    }
    for (const c of children(node)) walk(c);
  };
  walk(tree.topNode);
  if (expr.trim() === '') errors.push('empty expression');
  return { errors, selectors, groupings, functions };
}

export const GRAFANA_BUILTINS: Record<string, string> = {
  __rate_interval: '1m',
  __interval: '30s',
  __range: '1h',
  __range_s: '3600',
  __range_ms: '3600000',
  __interval_ms: '30000',
};

/**
 * Replaces Grafana variables ($x, ${x}, ${x:format}, [[x]]) as Grafana would with every
 * template variable at "All" (its allValue, or `.*`), and the built-in intervals with
 * what Grafana computes for a 15 s scrape interval over the last hour. Unknown names are
 * returned so a test can fail on them.
 */
export function substituteGrafanaVariables(expr: string, variables: Record<string, string>): { expr: string; unknown: string[] } {
  const unknown: string[] = [];
  const out = expr.replace(/\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)/g, (whole, a?: string, b?: string, c?: string) => {
    const name = (a ?? b ?? c) as string;
    if (name in GRAFANA_BUILTINS) return GRAFANA_BUILTINS[name] as string;
    if (name in variables) return variables[name] as string;
    unknown.push(name);
    return whole;
  });
  return { expr: out, unknown };
}
