import type { Context } from '../../context.js';
import { messageOf } from '../../errors.js';
import { formatDuration } from '../../time.js';
import { displayName, findContainers, inspectContainer, serviceOf, shortId } from '../../docker/containers.js';
import { exitedCleanly, healthOf, type HealthState } from '../../docker/health.js';
import type { HealthFacts, StatusFacts } from '../orchestrator.js';

export interface ContainerSnapshot {
  id: string;
  name: string;
  state: HealthState;
  healthy: boolean;
  restarts: number;
  startedAt: string | null;
  uptimeMs: number | null;
  image: string;
  imageId: string;
  version: string | null;
  ports: string[];
}

export interface ServiceSnapshot {
  service: string;
  /** Defined in the compose files (for the active profiles); false for strays found only by label. */
  defined: boolean;
  containers: ContainerSnapshot[];
  healthy: boolean;
}

/** Every container of the project by label, grouped by service, with the services Compose expects. */
export async function snapshot(ctx: Context): Promise<{ services: ServiceSnapshot[]; expectedKnown: boolean }> {
  const docker = await ctx.docker();
  const containers = await findContainers(docker, ctx.projectName, { all: true });
  const infos = await Promise.all(containers.map((c) => inspectContainer(docker, c.Id).catch(() => undefined)));
  let expected: string[] | undefined;
  try {
    const model = await ctx.composeModel();
    expected = [...model.services.values()].filter((s) => s.profiles.length === 0 || s.profiles.some((p) => ctx.profiles.includes(p))).map((s) => s.name);
  } catch (error) {
    ctx.output.warn(`cannot read the compose model (${messageOf(error).split('\n')[0]}); showing running containers only`);
  }
  const byService = new Map<string, ContainerSnapshot[]>();
  const now = Date.now();
  for (const info of infos) {
    if (!info) continue;
    const service = serviceOf(info);
    const state = exitedCleanly(info) ? 'completed' : healthOf(info);
    const started = info.State.Running ? Date.parse(info.State.StartedAt) : NaN;
    const env = new Map((info.Config.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)] as const));
    const ports = Object.entries(info.NetworkSettings.Ports ?? {}).flatMap(([port, bindings]) => (bindings ?? []).map((b: { HostIp: string; HostPort: string }) => `${b.HostIp || '0.0.0.0'}:${b.HostPort}->${port}`));
    const snap: ContainerSnapshot = {
      id: info.Id,
      name: displayName(info),
      state,
      // Running without a health check (none, or `disable: true`) counts as healthy; verify flags the missing check itself.
      healthy: state === 'healthy' || state === 'completed' || (state === 'running' && (!info.Config.Healthcheck?.Test?.length || info.Config.Healthcheck.Test[0] === 'NONE')),
      restarts: info.RestartCount,
      startedAt: info.State.Running ? info.State.StartedAt : null,
      uptimeMs: Number.isNaN(started) ? null : now - started,
      image: info.Config.Image,
      imageId: info.Image,
      version: env.get('APP_VERSION') ?? info.Config.Labels?.['org.opencontainers.image.version'] ?? null,
      ports,
    };
    byService.set(service, [...(byService.get(service) ?? []), snap]);
  }
  const names = new Set([...(expected ?? []), ...byService.keys()]);
  const services: ServiceSnapshot[] = [...names].sort().map((service) => {
    const cs = byService.get(service) ?? [];
    const live = cs.filter((c) => c.state !== 'exited' || c.healthy);
    return { service, defined: expected ? expected.includes(service) : true, containers: cs, healthy: live.length > 0 && live.every((c) => c.healthy) };
  });
  return { services, expectedKnown: expected !== undefined };
}


const STOPPED = ['exited', 'completed', 'created', 'dead'];

/** `shopctl status` on Compose: every service's containers, states, images, versions, published ports. */
export async function composeStatus(ctx: Context): Promise<StatusFacts> {
  const { services, expectedKnown } = await snapshot(ctx);
  let compose: string;
  try {
    const f = await ctx.flavour();
    compose = `${f.kind === 'v2' ? 'docker compose' : 'docker-compose'} ${f.version}`;
  } catch {
    compose = 'not found';
  }
  const rows = services.map((s) => {
    const running = s.containers.filter((c) => !STOPPED.includes(c.state));
    const versions = [...new Set(s.containers.map((c) => c.version ?? shortId(c.imageId)))];
    const images = [...new Set(s.containers.map((c) => c.image))];
    const ports = [...new Set(s.containers.flatMap((c) => c.ports))];
    const states = [...new Set(s.containers.map((c) => c.state))];
    return [s.service, `${running.length}/${s.containers.length}`, states.join(',') || 'missing', images.join(', ') || '-', versions.join(', ') || '-', ports.join(', ') || '-'];
  });
  return {
    heading: `project ${ctx.projectName} (${ctx.environment}) in ${ctx.projectDir}`,
    tooling: `; ${compose}`,
    data: {
      compose,
      services: services.map((s) => ({
        service: s.service,
        defined: s.defined,
        replicas: s.containers.filter((c) => !STOPPED.includes(c.state)).length,
        containers: s.containers.map((c) => ({ name: c.name, id: shortId(c.id), state: c.state, image: c.image, imageId: c.imageId, version: c.version, ports: c.ports, restarts: c.restarts, startedAt: c.startedAt })),
      })),
    },
    table: { headers: ['service', 'running', 'state', 'image', 'version', 'published'], rows },
    readable: expectedKnown,
  };
}

function uptime(ms: number | null): string {
  return ms === null ? '-' : formatDuration(ms);
}

/** `shopctl health` on Compose: one row per container. */
export async function composeHealth(ctx: Context): Promise<HealthFacts> {
  const { services } = await snapshot(ctx);
  const rows: string[][] = [];
  for (const s of services) {
    if (s.containers.length === 0) rows.push([s.service, '-', 'missing', '-', '-', 'FAIL']);
    for (const c of s.containers) rows.push([s.service, c.name, c.state, String(c.restarts), uptime(c.uptimeMs), c.healthy ? 'ok' : 'FAIL']);
  }
  return {
    data: {},
    services,
    unhealthy: services.filter((s) => s.defined && !s.healthy).map((s) => ({ service: s.service })),
    table: { headers: ['service', 'container', 'state', 'restarts', 'uptime', 'ok'], rows },
  };
}
