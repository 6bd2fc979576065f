import type Docker from 'dockerode';
import { ShopctlError, messageOf } from '../../errors.js';
import { ExitCode } from '../../exit-codes.js';
import { sleep } from '../../time.js';
import { demuxBuffer } from '../../docker/health.js';
import { nodeFacts, type NodeFacts } from './placement.js';
import { SWARM_LABEL, type JobSpec } from './stack.js';
import type { TaskLike } from './update.js';

/** What `docker info` says about this engine's place in a swarm. */
export interface SwarmState {
  state: string;
  nodeId: string;
  nodeAddr: string;
  manager: boolean;
  /** `name=no-new-privileges` among the engine's security options: the daemon sets it for every container. */
  daemonNoNewPrivileges: boolean;
}

export async function swarmState(docker: Docker): Promise<SwarmState> {
  const info = (await docker.info()) as { Swarm?: { LocalNodeState?: string; NodeID?: string; NodeAddr?: string; ControlAvailable?: boolean }; SecurityOptions?: string[] };
  return {
    state: info.Swarm?.LocalNodeState ?? 'inactive',
    nodeId: info.Swarm?.NodeID ?? '',
    nodeAddr: info.Swarm?.NodeAddr ?? '',
    manager: Boolean(info.Swarm?.ControlAvailable),
    daemonNoNewPrivileges: (info.SecurityOptions ?? []).some((o) => /(^|,)name=no-new-privileges(,|$)/.test(o)),
  };
}

/** Stacks are deployed and watched from a manager: anything else is a preflight error saying what to do. */
export async function requireManager(docker: Docker): Promise<SwarmState> {
  const s = await swarmState(docker);
  if (s.state !== 'active') {
    throw new ShopctlError(`This Docker Engine is not part of a swarm (swarm state: ${s.state})`, {
      exitCode: ExitCode.PREFLIGHT,
      hint: 'Create one with `docker swarm init --advertise-addr <this host\'s address>` (docs/swarm.md), join one, or run shopctl without --orchestrator swarm (Compose).',
    });
  }
  if (!s.manager) {
    throw new ShopctlError('This node is a swarm worker: stacks are deployed and watched from a manager', {
      exitCode: ExitCode.PREFLIGHT,
      hint: 'Run shopctl on a manager node (`docker node ls` lists them there).',
    });
  }
  return s;
}

/** Raw Engine objects (GET /services, /tasks) with the fields shopctl reads; dockerode types them loosely. */
export type ServiceInfo = Docker.Service & { Spec: Docker.ServiceSpec & { Name?: string; Labels?: Record<string, string> } };

/** The stack's services (never shopctl's one-off jobs), by name. */
export async function stackServices(docker: Docker, stack: string): Promise<ServiceInfo[]> {
  const list = (await docker.listServices({ filters: { label: [`${SWARM_LABEL.stack}=${stack}`] } })) as ServiceInfo[];
  return list.filter((s) => !s.Spec?.Labels?.[SWARM_LABEL.oneoff]).sort((a, b) => (a.Spec?.Name ?? '').localeCompare(b.Spec?.Name ?? ''));
}

/** One service by its exact name (the Engine's name filter matches prefixes); undefined when there is none. */
export async function findService(docker: Docker, name: string): Promise<ServiceInfo | undefined> {
  const list = (await docker.listServices({ filters: { name: [name] } })) as ServiceInfo[];
  return list.find((s) => s.Spec?.Name === name);
}

export async function serviceTasks(docker: Docker, serviceId: string): Promise<TaskLike[]> {
  return (await docker.listTasks({ filters: { service: [serviceId] } })) as TaskLike[];
}

export async function swarmNodes(docker: Docker): Promise<NodeFacts[]> {
  return (await docker.listNodes()).map((n) => nodeFacts(n as Parameters<typeof nodeFacts>[0]));
}

/** The address other hosts reach a node at (its swarm address); undefined for an unknown node. */
export async function nodeAddress(docker: Docker, nodeId: string): Promise<string | undefined> {
  try {
    const n = (await docker.getNode(nodeId).inspect()) as { Status?: { Addr?: string } };
    return n.Status?.Addr || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Asks swarm to roll a service back to its previous spec (POST /services/{id}/update?rollback=previous),
 * as `docker service rollback` does. Swarm then replaces the tasks itself, start-first.
 */
export async function requestRollback(docker: Docker, serviceId: string): Promise<void> {
  const service = docker.getService(serviceId);
  const info = (await service.inspect()) as ServiceInfo;
  await service.update({ _query: { version: info.Version?.Index, rollback: 'previous' }, _body: info.Spec } as never);
}

/** Last lines of a service's logs (every task, every node), through the manager. */
export async function serviceLogs(docker: Docker, serviceId: string, tail = 30): Promise<string> {
  try {
    const raw = (await docker.getService(serviceId).logs({ stdout: true, stderr: true, follow: false, tail, timestamps: false })) as unknown;
    if (Buffer.isBuffer(raw)) return demuxBuffer(raw).trimEnd();
    const chunks: Buffer[] = [];
    for await (const c of raw as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
    return demuxBuffer(Buffer.concat(chunks)).trimEnd();
  } catch (error) {
    return `(logs unavailable: ${messageOf(error)})`;
  }
}

export interface JobResult {
  state: string;
  exitCode: number | undefined;
  error: string | undefined;
  logs: string;
  durationMs: number;
}

/**
 * Runs a one-off job service (Mode ReplicatedJob, API 1.41) to completion: removes a stale one of
 * the same name, creates it, waits for its task to complete or fail, reads its logs, removes it.
 */
export async function runJob(docker: Docker, spec: JobSpec, opts: { timeoutMs: number; signal?: AbortSignal | undefined; onState?: (state: string) => void }): Promise<JobResult> {
  const stale = await findService(docker, spec.Name);
  if (stale) await docker.getService(stale.ID).remove().catch(() => undefined);
  const started = Date.now();
  const created = (await docker.createService(spec as unknown as Docker.CreateServiceOptions)) as unknown as { id?: string; ID?: string };
  const id = created.id ?? created.ID ?? '';
  try {
    for (;;) {
      if (opts.signal?.aborted) throw new ShopctlError(`Interrupted while the job ${spec.Name} ran`, { exitCode: ExitCode.INTERRUPTED });
      const tasks = await serviceTasks(docker, id);
      const task = tasks.sort((a, b) => (b.CreatedAt ?? '').localeCompare(a.CreatedAt ?? ''))[0];
      const state = task?.Status?.State ?? 'pending';
      opts.onState?.(`${state}${task?.Status?.Err ? `: ${task.Status.Err}` : ''}`);
      if (['complete', 'failed', 'rejected', 'shutdown', 'orphaned'].includes(state)) {
        const logs = await serviceLogs(docker, id, 40);
        return { state, exitCode: task?.Status?.ContainerStatus?.ExitCode, error: task?.Status?.Err || undefined, logs, durationMs: Date.now() - started };
      }
      if (Date.now() - started > opts.timeoutMs) {
        const logs = await serviceLogs(docker, id, 40);
        return { state: `timed out (${state})`, exitCode: undefined, error: `not finished within ${Math.round(opts.timeoutMs / 1000)} s`, logs, durationMs: Date.now() - started };
      }
      await sleep(500);
    }
  } finally {
    await docker.getService(id).remove().catch(() => undefined);
  }
}

/** Sets a replicated service's replicas (`docker service scale`); returns the number it had. */
export async function scaleService(docker: Docker, serviceId: string, replicas: number): Promise<number> {
  const service = docker.getService(serviceId);
  const info = (await service.inspect()) as ServiceInfo;
  const previous = info.Spec.Mode?.Replicated?.Replicas ?? 1;
  const spec = { ...info.Spec, Mode: { Replicated: { Replicas: replicas } } };
  await service.update({ _query: { version: info.Version?.Index }, _body: spec } as never);
  return previous;
}

/**
 * Waits until exactly `replicas` tasks of the service run (0: none is left running, each having
 * drained through its stop grace period). Throws with swarm's last task error at the deadline.
 */
export async function waitReplicas(docker: Docker, serviceId: string, replicas: number, opts: { timeoutMs: number; signal?: AbortSignal | undefined; onProgress?: (line: string) => void }): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const tasks = await serviceTasks(docker, serviceId);
    const running = tasks.filter((t) => t.Status?.State === 'running').length;
    const starting = tasks.filter((t) => t.DesiredState === 'running' && t.Status?.State !== 'running').length;
    opts.onProgress?.(`${running}/${replicas} running${starting ? `, ${starting} starting` : ''}`);
    if (running === replicas && starting === 0) return;
    if (Date.now() >= deadline) {
      const last = tasks.filter((t) => t.Status?.Err).sort((a, b) => (b.Status?.Timestamp ?? '').localeCompare(a.Status?.Timestamp ?? ''))[0];
      throw new ShopctlError(`Not ${replicas} running task(s) within ${Math.round(opts.timeoutMs / 1000)} s (${running} running)`, {
        exitCode: ExitCode.UNHEALTHY,
        detail: last ? `last task error: ${last.Status?.Err}` : undefined,
      });
    }
    if (opts.signal?.aborted) throw new ShopctlError('Interrupted while waiting for the service', { exitCode: ExitCode.INTERRUPTED });
    await sleep(500);
  }
}
