// The Grafana dashboards of the repository and every PromQL query in them, with Grafana's
// variables substituted, for the lint test and for the e2e test against real Prometheus.
import { readdir, readFile } from 'node:fs/promises';
import { ROOT } from './catalogue.js';
import { substituteGrafanaVariables } from './promql.js';

export const DASHBOARD_FILES = ['config/grafana-dashboard.json'];
export const DASHBOARD_DIR = 'monitoring/dashboards';

export interface Target {
  refId?: string;
  expr?: string;
  datasource?: { type?: string; uid?: string };
  instant?: boolean;
  format?: string;
}

export interface Panel {
  id?: number;
  type: string;
  title?: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
}

export interface Variable {
  name: string;
  type: string;
  query?: string | { query?: string };
  allValue?: string | null;
  includeAll?: boolean;
}

export interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating?: { list: Variable[] };
}

export interface PanelQuery {
  file: string;
  dashboard: string;
  panel: string;
  panelType: string;
  refId: string;
  /** As written in the file. */
  raw: string;
  /** With Grafana's variables replaced; what Prometheus receives. */
  expr: string;
  unknownVariables: string[];
  instant: boolean;
}

export async function dashboardPaths(): Promise<string[]> {
  const dir = (await readdir(new URL(`${DASHBOARD_DIR}/`, ROOT))).filter((f) => f.endsWith('.json')).sort();
  return [...DASHBOARD_FILES, ...dir.map((f) => `${DASHBOARD_DIR}/${f}`)];
}

export async function loadDashboards(): Promise<{ file: string; dashboard: Dashboard }[]> {
  const out = [];
  for (const file of await dashboardPaths()) {
    out.push({ file, dashboard: JSON.parse(await readFile(new URL(file, ROOT), 'utf8')) as Dashboard });
  }
  return out;
}

/** Panels including those nested in collapsed rows. */
export function allPanels(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

export function variableQuery(v: Variable): string | undefined {
  return typeof v.query === 'string' ? v.query : v.query?.query;
}

/** What Grafana sends for each query variable set to "All". */
export function variableValues(d: Dashboard): Record<string, string> {
  const values: Record<string, string> = {};
  for (const v of d.templating?.list ?? []) {
    if (v.type === 'datasource') values[v.name] = 'prometheus';
    else values[v.name] = v.allValue ?? '.*';
  }
  return values;
}

export function panelQueries(file: string, d: Dashboard): PanelQuery[] {
  const vars = variableValues(d);
  const out: PanelQuery[] = [];
  for (const p of allPanels(d)) {
    for (const t of p.targets ?? []) {
      const raw = t.expr ?? '';
      const { expr, unknown } = substituteGrafanaVariables(raw, vars);
      out.push({
        file,
        dashboard: d.title,
        panel: p.title ?? `#${p.id}`,
        panelType: p.type,
        refId: t.refId ?? '?',
        raw,
        expr,
        unknownVariables: unknown,
        instant: t.instant === true,
      });
    }
  }
  return out;
}

/** `label_values(selector, label)` of query variables, as PromQL selector + label. */
export function variableSelectors(d: Dashboard): { variable: string; selector: string; label: string }[] {
  const out = [];
  for (const v of d.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const q = variableQuery(v) ?? '';
    const m = /^\s*label_values\(\s*(.+?)\s*,\s*([a-zA-Z_]\w*)\s*\)\s*$/.exec(q);
    out.push({ variable: v.name, selector: m?.[1] ?? '', label: m?.[2] ?? '' });
  }
  return out;
}
