import type Docker from 'dockerode';
import type { Context } from '../context.js';
import { ShopctlError } from '../errors.js';
import { execIn } from '../docker/exec.js';
import { SERVICES } from '../orchestrators/orchestrator.js';

/** Reaching PostgreSQL (and any service's settings) inside its container, as its entrypoint does. */

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
  const container = await ctx.orchestrator.runningContainer(SERVICES.db);
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
