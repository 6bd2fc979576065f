import type Docker from 'dockerode';
import type { Context } from '../context.js';
import { ShopctlError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { findContainers } from '../docker/containers.js';
import { execIn } from '../docker/exec.js';
import { serviceName } from '../swarm/stack.js';
import { findService, serviceTasks, swarmNodes } from '../swarm/engine.js';

/** Service names from docs/architecture.md. */
export const SERVICES = { api: 'api', db: 'db', cache: 'cache', proxy: 'proxy', storefront: 'storefront' } as const;

/** The newest running container of a service, or a preflight error saying how to start it. */
export async function runningContainer(ctx: Context, service: string): Promise<Docker.ContainerInspectInfo> {
  const docker = await ctx.docker();
  const list = await findContainers(docker, ctx.scope, { service });
  const last = list.at(-1);
  if (!last && ctx.orchestrator === 'swarm') {
    // exec reaches containers of this node only: say where swarm runs the task instead.
    const where = await taskNodes(docker, serviceName(ctx.projectName, service)).catch(() => [] as string[]);
    throw new ShopctlError(`No running "${service}" task of swarm stack "${ctx.projectName}" on this node`, {
      exitCode: ExitCode.PREFLIGHT,
      hint: where.length
        ? `Swarm runs ${serviceName(ctx.projectName, service)} on ${where.join(', ')}: run shopctl there (the stateful services are pinned to labelled nodes, docs/swarm.md).`
        : `Is the stack deployed (shopctl --orchestrator swarm status)? Right stack name (-p)? docker service ps ${serviceName(ctx.projectName, service)} says why no task runs.`,
    });
  }
  if (!last) {
    throw new ShopctlError(`No running "${service}" container in Compose project "${ctx.projectName}"`, {
      exitCode: ExitCode.PREFLIGHT,
      hint: `Is the stack up (shopctl status)? Right project? (-p/--project-name, or run in the project directory). Start it with: shopctl deploy ${ctx.environment}`,
    });
  }
  return docker.getContainer(last.Id).inspect();
}

/** Host names of the nodes where a swarm service's tasks run. */
async function taskNodes(docker: Docker, name: string): Promise<string[]> {
  const service = await findService(docker, name);
  if (!service) return [];
  const nodes = await swarmNodes(docker);
  const running = (await serviceTasks(docker, service.ID)).filter((t) => t.DesiredState === 'running');
  return [...new Set(running.map((t) => nodes.find((n) => n.id === t.NodeID)?.hostname || (t.NodeID ?? '?')))];
}

export function containerEnv(info: Docker.ContainerInspectInfo): Map<string, string> {
  const env = new Map<string, string>();
  for (const entry of info.Config.Env ?? []) {
    const eq = entry.indexOf('=');
    if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return env;
}

/** A setting as the container's entrypoint sees it: NAME, else the content of the file NAME_FILE names. */
export async function containerSetting(docker: Docker, info: Docker.ContainerInspectInfo, name: string): Promise<string | undefined> {
  const env = containerEnv(info);
  const direct = env.get(name);
  if (direct) return direct;
  const file = env.get(`${name}_FILE`);
  if (!file) return undefined;
  const r = await execIn(docker, info.Id, ['cat', file], { maxBuffer: 64 * 1024 });
  if (r.exitCode !== 0) throw new ShopctlError(`Cannot read ${name}_FILE (${file}) in ${info.Name.replace(/^\//, '')}: ${r.stderr.trim()}`);
  return r.stdout.replace(/\r?\n$/, '');
}

export interface PostgresTarget {
  container: Docker.ContainerInspectInfo;
  user: string;
  database: string;
}

/** The db container and the role/database its entrypoint created (POSTGRES_USER, POSTGRES_DB, or their _FILE forms). */
export async function postgresTarget(ctx: Context): Promise<PostgresTarget> {
  const docker = await ctx.docker();
  const container = await runningContainer(ctx, SERVICES.db);
  const user = (await containerSetting(docker, container, 'POSTGRES_USER')) ?? 'postgres';
  const database = (await containerSetting(docker, container, 'POSTGRES_DB')) ?? user;
  return { container, user, database };
}

/**
 * Runs as the image's `postgres` OS user over the local socket, where the official image (and
 * ours) trusts local connections: no password travels or lands in a process list.
 */
export const PG_EXEC_USER = 'postgres';

export function psqlArgs(t: PostgresTarget, sql: string): string[] {
  return ['psql', '-X', '-v', 'ON_ERROR_STOP=1', '-At', '-F', '\t', '-U', t.user, '-d', t.database, '-c', sql];
}
