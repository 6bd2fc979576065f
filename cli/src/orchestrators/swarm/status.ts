import type Docker from 'dockerode';
import type { Context } from '../../context.js';
import { ShopctlError, messageOf } from '../../errors.js';
import { ExitCode } from '../../exit-codes.js';
import { formatDuration } from '../../time.js';
import { healthOf, type HealthState } from '../../docker/health.js';
import { nodeAddress, requireManager, serviceTasks, stackServices, swarmState, type ServiceInfo } from './engine.js';
import { serviceName, shortServiceName } from './stack.js';
import { taskFailure, type TaskLike } from './update.js';
import { SERVICES, type HealthFacts, type ProxyEndpoint, type StatusFacts } from '../orchestrator.js';
import { stackModel } from './project.js';

/** One task of a swarm service as `health` and `status` show it. */
export interface SwarmTaskSnapshot {
  id: string;
  slot: number | null;
  node: string;
  /** This node: its container was inspected (health, restarts) here. */
  local: boolean;
  state: string;
  /** The container's health where it could be read (tasks on this node); swarm's state otherwise. */
  health: HealthState | string;
  image: string;
  since: string | null;
  error: string | null;
}

export interface SwarmServiceSnapshot {
  service: string;
  name: string;
  /** Defined in the compose files; false for a service of the stack the files no longer have. */
  defined: boolean;
  mode: 'replicated' | 'global' | 'job';
  desired: number;
  running: number;
  image: string | null;
  version: string | null;
  update: { state: string; message: string; startedAt: string | null } | null;
  ports: string[];
  constraints: string[];
  tasks: SwarmTaskSnapshot[];
  /** The last failure of a task meant to run (why a service is short of replicas). */
  lastError: string | null;
  healthy: boolean;
}

const UPDATE_PROBLEMS = new Set(['paused', 'rollback_paused']);

/** The image without the digest swarm pins (`shop-api:1.4.0@sha256:...` -> `shop-api:1.4.0`). */
function imageName(ref: string | undefined): string | null {
  return ref ? (ref.split('@')[0] ?? ref) : null;
}

function envOf(spec: ServiceInfo['Spec'], key: string): string | null {
  const env = (spec.TaskTemplate as { ContainerSpec?: { Env?: string[] } } | undefined)?.ContainerSpec?.Env ?? [];
  const entry = env.find((e) => e.startsWith(`${key}=`));
  return entry ? entry.slice(key.length + 1) : null;
}

/** Desired tasks of a service (replicas; for global services the tasks swarm meant to run). */
function desiredOf(s: ServiceInfo, tasks: readonly TaskLike[]): { mode: SwarmServiceSnapshot['mode']; desired: number } {
  const mode = s.Spec.Mode ?? {};
  if (mode.Replicated) return { mode: 'replicated', desired: mode.Replicated.Replicas ?? 1 };
  if (mode.ReplicatedJob || mode.GlobalJob) return { mode: 'job', desired: 0 };
  return { mode: 'global', desired: tasks.filter((t) => t.DesiredState === 'running').length };
}

/** Every service of the stack with its tasks; the containers on this node are inspected for their health. */
export async function swarmSnapshot(ctx: Context): Promise<{ services: SwarmServiceSnapshot[]; nodeId: string }> {
  const docker = await ctx.docker();
  // Only a manager's Engine API lists services and tasks.
  const swarm = await requireManager(docker);
  let expected: string[] | undefined;
  try {
    expected = [...(await stackModel(ctx)).services.keys()];
  } catch (error) {
    ctx.output.warn(`cannot read the stack's files (${messageOf(error).split('\n')[0]}); showing the deployed services only`);
  }
  const services = await stackServices(docker, ctx.projectName);
  const out: SwarmServiceSnapshot[] = [];
  for (const s of services) {
    const tasks = await serviceTasks(docker, s.ID);
    const { mode, desired } = desiredOf(s, tasks);
    const live = tasks.filter((t) => t.DesiredState === 'running');
    const snaps: SwarmTaskSnapshot[] = [];
    for (const t of live.sort((a, b) => (a.Slot ?? 0) - (b.Slot ?? 0))) snaps.push(await taskSnapshot(docker, t, swarm.nodeId));
    const running = snaps.filter((t) => t.state === 'running' && (t.health === 'healthy' || t.health === 'running')).length;
    const failures = tasks
      .filter((t) => ['failed', 'rejected'].includes(t.Status?.State ?? '') || (t.Status?.Err ?? '') !== '')
      .sort((a, b) => (b.Status?.Timestamp ?? '').localeCompare(a.Status?.Timestamp ?? ''));
    const update = s.UpdateStatus?.State ? { state: s.UpdateStatus.State, message: s.UpdateStatus.Message ?? '', startedAt: s.UpdateStatus.StartedAt ?? null } : null;
    const ports = (s.Endpoint?.Ports ?? []).map((p) => `${p.PublishedPort}->${p.TargetPort}/${p.Protocol ?? 'tcp'} (${p.PublishMode ?? 'ingress'})`);
    const name = s.Spec.Name ?? s.ID;
    const short = shortServiceName(ctx.projectName, name);
    out.push({
      service: short,
      name,
      defined: expected ? expected.includes(short) : true,
      mode,
      desired,
      running,
      image: imageName((s.Spec.TaskTemplate as { ContainerSpec?: { Image?: string } } | undefined)?.ContainerSpec?.Image),
      version: envOf(s.Spec, 'APP_VERSION'),
      update,
      ports,
      constraints: (s.Spec.TaskTemplate as { Placement?: { Constraints?: string[] } } | undefined)?.Placement?.Constraints ?? [],
      tasks: snaps,
      lastError: running < desired && failures[0] ? taskFailure(failures[0]) : null,
      healthy: mode === 'job' || (running >= desired && !(update && UPDATE_PROBLEMS.has(update.state))),
    });
  }
  for (const missing of expected ?? []) {
    if (out.some((s) => s.service === missing)) continue;
    out.push({ service: missing, name: serviceName(ctx.projectName, missing), defined: true, mode: 'replicated', desired: 1, running: 0, image: null, version: null, update: null, ports: [], constraints: [], tasks: [], lastError: 'not deployed', healthy: false });
  }
  out.sort((a, b) => a.service.localeCompare(b.service));
  return { services: out, nodeId: swarm.nodeId };
}

async function taskSnapshot(docker: Docker, t: TaskLike, localNode: string): Promise<SwarmTaskSnapshot> {
  const local = t.NodeID === localNode;
  const state = t.Status?.State ?? 'unknown';
  let health: SwarmTaskSnapshot['health'] = state;
  const containerId = t.Status?.ContainerStatus?.ContainerID;
  if (local && containerId) {
    try {
      health = healthOf(await docker.getContainer(containerId).inspect());
    } catch {
      // The container went away between the two calls: swarm's state stands.
    }
  }
  return {
    id: t.ID,
    slot: t.Slot ?? null,
    node: t.NodeID ?? '',
    local,
    state,
    health,
    image: imageName(t.Spec?.ContainerSpec?.Image) ?? '',
    since: t.Status?.Timestamp ?? null,
    error: t.Status?.Err || null,
  };
}

/**
 * The proxy's published ports, as a client reaches them: on this node 127.0.0.1, else the
 * address of the node that runs the proxy task (host-mode ports live there only).
 */
export async function swarmProxyEndpoint(ctx: Context): Promise<ProxyEndpoint> {
  const docker = await ctx.docker();
  const swarm = await swarmState(docker);
  const name = serviceName(ctx.projectName, SERVICES.proxy);
  const service = (await stackServices(docker, ctx.projectName)).find((s) => s.Spec.Name === name);
  if (!service) throw new ShopctlError(`The swarm stack "${ctx.projectName}" has no ${name} service`, { exitCode: ExitCode.PREFLIGHT, hint: 'Is it deployed (shopctl --orchestrator swarm status)? Right stack name (-p)?' });
  const tasks = (await serviceTasks(docker, service.ID)).filter((t) => t.DesiredState === 'running' && t.Status?.State === 'running');
  const task = tasks.find((t) => t.NodeID === swarm.nodeId) ?? tasks[0];
  if (!task) throw new ShopctlError(`${name} has no running task`, { exitCode: ExitCode.PREFLIGHT, hint: `docker service ps ${name} says why.` });
  const hostPorts = ((task as { Status?: { PortStatus?: { Ports?: Docker.PortConfig[] } } }).Status?.PortStatus?.Ports ?? []).filter((p) => p.PublishedPort);
  const ingress = (service.Endpoint?.Ports ?? []).filter((p) => p.PublishMode !== 'host' && p.PublishedPort);
  const host = hostPorts.length && task.NodeID !== swarm.nodeId ? ((await nodeAddress(docker, task.NodeID ?? '')) ?? '127.0.0.1') : '127.0.0.1';
  const find = (target: number) => {
    const p = hostPorts.find((x) => x.TargetPort === target) ?? ingress.find((x) => x.TargetPort === target);
    return p?.PublishedPort ? { host: hostPorts.includes(p) ? host : '127.0.0.1', port: p.PublishedPort } : undefined;
  };
  return { https: find(8443), http: find(8080) };
}

function renderTasks(s: SwarmServiceSnapshot): string {
  if (s.tasks.length === 0) return s.lastError ?? 'no task';
  return s.tasks.map((t) => `${t.slot ?? t.node.slice(0, 8)}:${t.health === t.state ? t.state : t.health}${t.error ? ` (${t.error})` : ''}`).join(' ');
}

function describeUpdate(s: SwarmServiceSnapshot): string {
  if (!s.update) return '-';
  const age = s.update.startedAt ? ` ${formatDuration(Date.now() - Date.parse(s.update.startedAt))} ago` : '';
  return `${s.update.state}${age}${s.update.message && s.update.state !== 'completed' ? `: ${s.update.message}` : ''}`;
}

/** `shopctl status` on swarm: services, replicas, images, versions, published ports, updates and placement. */
export async function swarmStatus(ctx: Context): Promise<StatusFacts> {
  const { services } = await swarmSnapshot(ctx);
  const rows = services.map((s) => [s.service, `${s.running}/${s.desired}`, s.image ?? '-', s.version ?? '-', s.ports.join(', ') || '-', describeUpdate(s), s.constraints.join(', ') || '-']);
  return {
    heading: `swarm stack ${ctx.projectName} (${ctx.environment}) from ${ctx.projectDir}`,
    tooling: '',
    data: {
      stack: ctx.projectName,
      orchestrator: 'swarm',
      services: services.map((s) => ({ service: s.service, name: s.name, defined: s.defined, mode: s.mode, replicas: s.running, desired: s.desired, image: s.image, version: s.version, ports: s.ports, update: s.update, constraints: s.constraints, tasks: s.tasks })),
    },
    table: { headers: ['service', 'running', 'image', 'version', 'published', 'update', 'placement'], rows },
  };
}

/** `shopctl health` on swarm: every service with its running/desired tasks, the update in progress, each task's state. */
export async function swarmHealth(ctx: Context): Promise<HealthFacts> {
  const { services } = await swarmSnapshot(ctx);
  // Swarm's last task error says why a service is short of tasks (no suitable node, no such image...).
  const unhealthy = services.filter((s) => s.defined && !s.healthy).map((s) => ({ service: s.service, why: s.lastError ?? undefined }));
  return {
    data: { orchestrator: 'swarm', stack: ctx.projectName },
    services,
    unhealthy,
    table: { headers: ['service', 'running', 'tasks (slot:state)', 'update', 'ok'], rows: services.map((s) => [s.service, `${s.running}/${s.desired}`, renderTasks(s), describeUpdate(s), s.healthy ? 'ok' : 'FAIL']) },
  };
}
