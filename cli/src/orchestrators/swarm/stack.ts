import type { Argv } from '../../compose/flavour.js';

/**
 * Pure builders for `docker stack` (Docker Swarm). A stack is named like a Compose project
 * (-p/--project-name), and its services are `<stack>_<service>`. Nothing here runs anything.
 */

/** Labels `docker stack deploy` and swarm put on services and containers; shopctl finds everything by them. */
export const SWARM_LABEL = {
  stack: 'com.docker.stack.namespace',
  service: 'com.docker.swarm.service.name',
  taskName: 'com.docker.swarm.task.name',
  node: 'com.docker.swarm.node.id',
  /** Set by shopctl on its one-off services (the migration job), never on a stack service. */
  oneoff: 'shopctl.oneoff',
} as const;

export interface StackProject {
  stack: string;
  /** Compose files, merged in order (`-c a.yml -c b.yml`), as `docker stack deploy` reads them. */
  files: readonly string[];
}

/** `shop` + `api` -> `shop_api`, the name swarm gives the service. */
export function serviceName(stack: string, service: string): string {
  return `${stack}_${service}`;
}

/** `shop_api` -> `api`; a name of another stack is returned as it is. */
export function shortServiceName(stack: string, name: string): string {
  return name.startsWith(`${stack}_`) ? name.slice(stack.length + 1) : name;
}

/** `shop_api.2.x0y1z2` (a task or its container) -> 2; undefined for global services and anything else. */
export function taskSlot(taskName: string): number | undefined {
  const m = /\.(\d+)\.[a-z0-9]+$/.exec(taskName.replace(/^\//, ''));
  return m ? Number(m[1]) : undefined;
}

/** Whether two image references name the same image, ignoring a pinned digest (`shop-api:2@sha256:...`). */
export function sameImage(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b) return false;
  const strip = (ref: string) => {
    const name = ref.split('@')[0] ?? ref;
    // `repo` and `repo:latest` are the same reference.
    return /:[^/]+$/.test(name) ? name : `${name}:latest`;
  };
  return strip(a) === strip(b);
}

function composeFiles(p: StackProject): string[] {
  return p.files.flatMap((f) => ['--compose-file', f]);
}

export type ResolveImage = 'always' | 'changed' | 'never';

export interface StackDeployOptions {
  /**
   * `always` asks the registry for the image's digest, so every node runs the same bytes;
   * `never` for images that exist only on this node (--local, --build on a one-node swarm).
   */
  resolveImage: ResolveImage;
  /** Sends the client's registry credentials to the nodes that pull the images (multi-node swarms). */
  withRegistryAuth: boolean;
  /** Removes services that the files no longer define. */
  prune?: boolean;
}

/**
 * `docker stack deploy -c <file>... <stack>`. Never `--detach=false`: shopctl follows the
 * update itself through the Engine API (and CLIs before 26 do not know the flag).
 */
export function stackDeploy(p: StackProject, opts: StackDeployOptions): Argv {
  const args = ['stack', 'deploy', ...composeFiles(p), '--resolve-image', opts.resolveImage];
  if (opts.withRegistryAuth) args.push('--with-registry-auth');
  if (opts.prune) args.push('--prune');
  return ['docker', [...args, p.stack]];
}

/** `docker stack config -c <file>...`: the merged, interpolated model, as `stack deploy` would read it. */
export function stackConfig(p: StackProject): Argv {
  return ['docker', ['stack', 'config', ...composeFiles(p)]];
}

/**
 * The environment for `docker stack deploy`, which (unlike Compose) reads no env file: the
 * env file's values for every variable the caller's environment does not set (Compose's
 * precedence: the shell wins), then shopctl's own (APP_VERSION, API_REPLICAS...), which win over both.
 */
export function stackEnv(envFile: ReadonlyMap<string, string>, callerEnv: Readonly<Record<string, string | undefined>>, overrides: Readonly<Record<string, string>> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of envFile) if (callerEnv[key] === undefined) env[key] = value;
  return { ...env, ...overrides };
}

/** The one-off migration job's service name: one per stack, replaced when a stale one is found. */
export function migrateJobName(stack: string): string {
  return serviceName(stack, 'shopctl-migrate');
}

/** The fields of a swarm service spec the migration job copies from the api service. */
interface TaskTemplateLike {
  ContainerSpec?: { Image?: string; Args?: string[]; Env?: string[]; Labels?: Record<string, string>; Healthcheck?: unknown; [key: string]: unknown };
  RestartPolicy?: unknown;
  Networks?: Array<{ Target?: string; Aliases?: string[]; [key: string]: unknown }>;
  [key: string]: unknown;
}

/**
 * A one-off job (Mode ReplicatedJob) that runs `command` with the api service's task template
 * (its secrets, networks, environment, limits) on another image: the migrations of a new
 * version, before swarm starts replacing tasks. No health check, no restart, no stack label on
 * its container (so it is never taken for a replica), the stack label on the service (so
 * `docker stack rm` removes a leftover). Its network attachments drop the `api` alias: in DNS
 * it would be one more API address for nginx and Prometheus, dead once the job ends.
 */
export interface JobSpec {
  Name: string;
  Labels: Record<string, string>;
  TaskTemplate: TaskTemplateLike & { ContainerSpec: NonNullable<TaskTemplateLike['ContainerSpec']> };
  Mode: { ReplicatedJob: { MaxConcurrent: number; TotalCompletions: number } };
  EndpointSpec: { Mode: string };
}

export function migrationJobSpec(apiTemplate: TaskTemplateLike, opts: { stack: string; image: string; version: string; command: readonly string[] }): JobSpec {
  const container = apiTemplate.ContainerSpec ?? {};
  const env = (container.Env ?? []).filter((e) => !e.startsWith('APP_VERSION='));
  return {
    Name: migrateJobName(opts.stack),
    Labels: { [SWARM_LABEL.stack]: opts.stack, [SWARM_LABEL.oneoff]: 'migrate' },
    TaskTemplate: {
      ...apiTemplate,
      ContainerSpec: {
        ...container,
        Image: opts.image,
        Args: [...opts.command],
        Env: [...env, `APP_VERSION=${opts.version}`],
        Labels: { [SWARM_LABEL.oneoff]: 'migrate' },
        Healthcheck: { Test: ['NONE'] },
      },
      Networks: (apiTemplate.Networks ?? []).map(({ Aliases: _aliases, ...rest }) => rest),
      RestartPolicy: { Condition: 'none', MaxAttempts: 0 },
      ForceUpdate: 0,
    },
    Mode: { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } },
    // No virtual IP (no IPVS needed) and no published port for a job.
    EndpointSpec: { Mode: 'dnsrr' },
  };
}
