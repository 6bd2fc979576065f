/**
 * Placement constraints (`deploy.placement.constraints`) checked against the swarm's nodes
 * before a deploy, so that a missing node label is a preflight error naming the command that
 * fixes it, not a task left "pending" forever. Pure: nodes are passed in.
 */

export interface Constraint {
  raw: string;
  /** `node.labels.shop.data`, `node.role`, `node.hostname`... */
  key: string;
  op: '==' | '!=';
  value: string;
}

export interface NodeFacts {
  id: string;
  hostname: string;
  role: string;
  /** Node labels (`docker node update --label-add`). */
  labels: Readonly<Record<string, string>>;
  /** Labels of the node's engine (daemon.json `labels`). */
  engineLabels: Readonly<Record<string, string>>;
  /** `ready`, `down`...; `availability`: `active`, `pause`, `drain`. */
  state: string;
  availability: string;
  os?: string | undefined;
  arch?: string | undefined;
}

/** `node.labels.shop.data == true` -> { key: 'node.labels.shop.data', op: '==', value: 'true' }; undefined when unreadable. */
export function parseConstraint(raw: string): Constraint | undefined {
  const m = /^\s*([^=!\s]+)\s*(==|!=)\s*(.*?)\s*$/.exec(raw);
  if (!m?.[1] || !m[2] || m[3] === undefined) return undefined;
  return { raw: raw.trim(), key: m[1], op: m[2] as Constraint['op'], value: m[3] };
}

/** The node's value for a constraint key; undefined when the node has none (a label it lacks). */
function valueOf(node: NodeFacts, key: string): string | undefined {
  if (key.startsWith('node.labels.')) return node.labels[key.slice('node.labels.'.length)];
  if (key.startsWith('engine.labels.')) return node.engineLabels[key.slice('engine.labels.'.length)];
  switch (key) {
    case 'node.id':
      return node.id;
    case 'node.hostname':
      return node.hostname;
    case 'node.role':
      return node.role;
    case 'node.platform.os':
      return node.os;
    case 'node.platform.arch':
      return node.arch;
    default:
      return undefined;
  }
}

/** Swarm compares values without regard to case; a node without the label matches only `!=`. */
export function matches(node: NodeFacts, c: Constraint): boolean {
  const value = valueOf(node, c.key);
  const equal = value !== undefined && value.toLowerCase() === c.value.toLowerCase();
  return c.op === '==' ? equal : !equal;
}

/** Nodes that can take new tasks: ready and active (not paused or drained). */
export function schedulable(node: NodeFacts): boolean {
  return node.state === 'ready' && node.availability === 'active';
}

export interface PlacementProblem {
  service: string;
  constraints: string[];
  /** Commands that would satisfy the constraints on the given node (labels only; other keys need a person). */
  fix: string[];
}

/**
 * Services whose constraints no schedulable node meets, with the `docker node update`
 * commands that label `target` (the node shopctl runs on, usually) so that it does.
 */
export function placementProblems(services: ReadonlyArray<{ service: string; constraints: readonly string[] }>, nodes: readonly NodeFacts[], target: string): PlacementProblem[] {
  const problems: PlacementProblem[] = [];
  const usable = nodes.filter(schedulable);
  for (const s of services) {
    if (s.constraints.length === 0) continue;
    const parsed = s.constraints.map((raw) => parseConstraint(raw));
    // An unreadable constraint is swarm's to judge: no verdict here.
    if (parsed.some((c) => !c)) continue;
    const cs = parsed as Constraint[];
    if (usable.some((n) => cs.every((c) => matches(n, c)))) continue;
    const labels = cs.filter((c) => c.key.startsWith('node.labels.') && c.op === '==').map((c) => `${c.key.slice('node.labels.'.length)}=${c.value}`);
    problems.push({ service: s.service, constraints: cs.map((c) => c.raw), fix: labels.length ? [`docker node update ${labels.map((l) => `--label-add ${l}`).join(' ')} ${target}`] : [] });
  }
  return problems;
}

/** From the Engine's node list (GET /nodes) to the facts above. */
export function nodeFacts(raw: {
  ID?: string;
  Spec?: { Labels?: Record<string, string>; Role?: string; Availability?: string };
  Description?: { Hostname?: string; Platform?: { OS?: string; Architecture?: string }; Engine?: { Labels?: Record<string, string> } };
  Status?: { State?: string };
}): NodeFacts {
  return {
    id: raw.ID ?? '',
    hostname: raw.Description?.Hostname ?? '',
    role: raw.Spec?.Role ?? 'worker',
    labels: raw.Spec?.Labels ?? {},
    engineLabels: raw.Description?.Engine?.Labels ?? {},
    state: raw.Status?.State ?? 'unknown',
    availability: raw.Spec?.Availability ?? 'active',
    os: raw.Description?.Platform?.OS,
    arch: raw.Description?.Platform?.Architecture,
  };
}
