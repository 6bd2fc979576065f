import type Docker from 'dockerode';

/** Compose labels: the only way shopctl finds containers (v1 names `p_api_1`, v2 `p-api-1`). */
export const LABEL = {
  project: 'com.docker.compose.project',
  service: 'com.docker.compose.service',
  oneoff: 'com.docker.compose.oneoff',
  number: 'com.docker.compose.container-number',
  /** shopctl verify: comma-separated check ids this service is exempt from, documented where it is set. */
  verifyExempt: 'shopctl.verify.exempt',
} as const;

/** Swarm's labels on the containers of a `docker stack deploy` (no Compose labels there). */
export const SWARM_CONTAINER_LABEL = {
  stack: 'com.docker.stack.namespace',
  service: 'com.docker.swarm.service.name',
  taskName: 'com.docker.swarm.task.name',
} as const;

/** Where containers come from: a Compose project, or (on this node) the tasks of a swarm stack. */
export type ContainerScope = { kind: 'compose'; project: string } | { kind: 'swarm'; stack: string };

export interface FindOptions {
  service?: string;
  /** Include stopped containers. */
  all?: boolean;
}

/** The project's service containers (never one-off `run` containers), oldest first. A plain string is a Compose project. */
export async function findContainers(docker: Docker, scope: string | ContainerScope, opts: FindOptions = {}): Promise<Docker.ContainerInfo[]> {
  const where: ContainerScope = typeof scope === 'string' ? { kind: 'compose', project: scope } : scope;
  let label: string[];
  if (where.kind === 'swarm') {
    // shopctl's one-off jobs carry no stack label on their containers: never taken for a replica.
    label = [`${SWARM_CONTAINER_LABEL.stack}=${where.stack}`];
    if (opts.service) label.push(`${SWARM_CONTAINER_LABEL.service}=${where.stack}_${opts.service}`);
  } else {
    label = [`${LABEL.project}=${where.project}`, `${LABEL.oneoff}=False`];
    if (opts.service) label.push(`${LABEL.service}=${opts.service}`);
  }
  const list = await docker.listContainers({ all: opts.all ?? false, filters: { label } });
  return list.sort((a, b) => a.Created - b.Created || containerNumber(a) - containerNumber(b));
}

/** Compose's container number, or the swarm task's slot (`shop_api.2.<task id>`); 0 when neither. */
export function containerNumber(c: Docker.ContainerInfo | Docker.ContainerInspectInfo): number {
  const labels = ('Labels' in c ? c.Labels : c.Config.Labels) ?? {};
  if (labels[LABEL.number]) return Number(labels[LABEL.number]);
  const slot = /\.(\d+)\.[a-z0-9]+$/.exec(labels[SWARM_CONTAINER_LABEL.taskName] ?? '');
  return slot ? Number(slot[1]) : 0;
}

/** The Compose service, or the swarm service without its `<stack>_` prefix. */
export function serviceOf(c: Docker.ContainerInfo | Docker.ContainerInspectInfo): string {
  const labels = ('Labels' in c ? c.Labels : c.Config.Labels) ?? {};
  const compose = labels[LABEL.service];
  if (compose) return compose;
  const swarm = labels[SWARM_CONTAINER_LABEL.service];
  const stack = labels[SWARM_CONTAINER_LABEL.stack];
  if (swarm) return stack && swarm.startsWith(`${stack}_`) ? swarm.slice(stack.length + 1) : swarm;
  return '?';
}

/** `/shop_api_3` -> `shop_api_3`. */
export function displayName(c: Docker.ContainerInfo | Docker.ContainerInspectInfo): string {
  const name = 'Names' in c ? (c.Names[0] ?? c.Id) : c.Name;
  return name.replace(/^\//, '');
}

export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

/** The container's address on a network it shares with `peer` (the proxy), e.g. the backend network. */
export function sharedNetworkIp(container: Docker.ContainerInspectInfo, peer: Docker.ContainerInspectInfo): { network: string; ip: string } | undefined {
  const mine = container.NetworkSettings.Networks;
  const theirs = peer.NetworkSettings.Networks;
  for (const [network, settings] of Object.entries(mine)) {
    if (theirs[network] && settings.IPAddress) return { network, ip: settings.IPAddress };
  }
  return undefined;
}

/** Where a container port is published on the host, as an address to connect to (0.0.0.0 -> 127.0.0.1). */
export function publishedAddress(c: Docker.ContainerInspectInfo, containerPort: string): { host: string; port: number } | undefined {
  const bindings = c.NetworkSettings.Ports?.[containerPort];
  const first = bindings?.find((b) => b.HostPort) ?? undefined;
  if (!first) return undefined;
  const ip = first.HostIp;
  const host = !ip || ip === '0.0.0.0' ? '127.0.0.1' : ip === '::' ? '::1' : ip;
  return { host, port: Number(first.HostPort) };
}

export async function inspectContainer(docker: Docker, id: string): Promise<Docker.ContainerInspectInfo> {
  return docker.getContainer(id).inspect();
}

/** Stops and removes containers; graceful: Docker waits each one's stop_grace_period after SIGTERM. Gone ones are fine. */
export async function removeContainers(docker: Docker, ids: readonly string[], graceful: boolean): Promise<void> {
  // Side by side: each graceful stop waits for its container to drain.
  await Promise.all(ids.map(async (id) => {
    const c = docker.getContainer(id);
    try {
      if (graceful) await c.stop().catch((e: { statusCode?: number }) => {
        if (e.statusCode !== 304) throw e;
      });
      await c.remove({ force: true, v: true });
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    }
  }));
}

/** Stops a container with no timeout argument: Docker uses its stop_grace_period, so in-flight requests finish. */
export async function stopContainer(docker: Docker, id: string): Promise<void> {
  await docker.getContainer(id).stop();
}

/** Starts containers; already running ones are fine. */
export async function startContainers(docker: Docker, ids: readonly string[]): Promise<void> {
  for (const id of ids) {
    await docker.getContainer(id).start().catch((e: { statusCode?: number }) => {
      if (e.statusCode !== 304) throw e;
    });
  }
}

/** The uids of a running container's processes (`docker top`); undefined when they cannot be read. */
export async function processUids(docker: Docker, id: string): Promise<number[] | undefined> {
  try {
    const top = (await docker.getContainer(id).top({ ps_args: '-eo uid,pid,args' })) as { Titles: string[]; Processes: string[][] | null };
    const col = top.Titles.findIndex((t) => t.toUpperCase() === 'UID');
    return (top.Processes ?? []).map((p) => Number(p[col]));
  } catch {
    return undefined;
  }
}
