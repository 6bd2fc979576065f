import { basename } from 'node:path';
import { COMPOSE_FILES, type Context, type Environment } from '../../context.js';
import { findContainers } from '../../docker/containers.js';

const CONFIG_FILES_LABEL = 'com.docker.compose.project.config_files';
const WORKING_DIR_LABEL = 'com.docker.compose.project.working_dir';

/** The environment whose compose file made a container (Compose labels it with its files), if it is one of ours. */
export function environmentOfContainer(labels: Readonly<Record<string, string>>): Environment | undefined {
  const files = (labels[CONFIG_FILES_LABEL] ?? '').split(',').map((f) => basename(f.trim()));
  return (Object.keys(COMPOSE_FILES) as Environment[]).find((env) => files.includes(COMPOSE_FILES[env]));
}

/**
 * Pure: why deploying `environment` into `project` would collide, or undefined. `inProject` are
 * the labels of the project's containers; `fromHere` those of containers made from this folder.
 */
export function clashOf(opts: { project: string; environment: Environment; named: boolean; inProject: ReadonlyArray<Readonly<Record<string, string>>>; fromHere: ReadonlyArray<Readonly<Record<string, string>>> }): { message: string; hint: string } | undefined {
  const other = opts.inProject.map(environmentOfContainer).find((env) => env !== undefined && env !== opts.environment);
  if (other) {
    return {
      message: `Compose project ${opts.project} holds the ${other} stack: deploying ${opts.environment} onto it would take over its containers and volumes (its database too)`,
      hint: `Nothing was changed. Give ${opts.environment} a project of its own: -p <name> (or COMPOSE_PROJECT_NAME in its env file), or stop the ${other} stack first.`,
    };
  }
  if (opts.named || opts.inProject.length > 0) return undefined;
  // A stack deployed before each environment had a project of its own: never start a second one beside it.
  const earlier = opts.fromHere.find((l) => environmentOfContainer(l) === opts.environment && l['com.docker.compose.project'] !== opts.project)?.['com.docker.compose.project'];
  if (!earlier) return undefined;
  return {
    message: `The ${opts.environment} stack of this folder runs as Compose project ${earlier}, not ${opts.project} (the default now)`,
    hint: `Nothing was changed. Keep using it: pass -p ${earlier}, or set COMPOSE_PROJECT_NAME=${earlier} in the env file.`,
  };
}

/** The clash of this deploy, read from the Engine's containers (by Compose's labels). */
export async function projectClash(ctx: Context): Promise<{ message: string; hint: string } | undefined> {
  const docker = await ctx.docker();
  const inProject = (await findContainers(docker, ctx.projectName, { all: true })).map((c) => c.Labels ?? {});
  const fromHere = ctx.projectNamed || inProject.length ? [] : (await docker.listContainers({ all: true, filters: { label: [`${WORKING_DIR_LABEL}=${ctx.projectDir}`] } })).map((c) => c.Labels ?? {});
  return clashOf({ project: ctx.projectName, environment: ctx.environment, named: ctx.projectNamed, inProject, fromHere });
}
