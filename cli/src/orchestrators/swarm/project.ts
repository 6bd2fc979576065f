import type { Context } from '../../context.js';
import { ExitCode } from '../../exit-codes.js';
import { runChecked } from '../../run.js';
import { parseComposeModel, type ComposeModel } from '../../compose/model.js';
import type { RolloutOptions } from '../orchestrator.js';
import { stackConfig, stackEnv, type ResolveImage, type StackProject } from './stack.js';

/** The swarm stack: named like the Compose project, from the same files. */
export function stackOf(ctx: Context): StackProject {
  return { stack: ctx.projectName, files: ctx.composeFiles };
}

/** The environment `docker stack deploy` needs (it reads no env file): the env file under the caller's environment, then `overrides`. */
export function stackEnvOf(ctx: Context, overrides: Record<string, string> = {}): Record<string, string> {
  return stackEnv(ctx.envValues, process.env, overrides);
}

const models = new WeakMap<Context, Map<string, Promise<ComposeModel>>>();

/** The model `docker stack deploy` would read (`docker stack config`), parsed once per environment. */
export function stackModel(ctx: Context, overrides: Record<string, string> = {}): Promise<ComposeModel> {
  let cache = models.get(ctx);
  if (!cache) models.set(ctx, (cache = new Map()));
  const key = JSON.stringify(overrides);
  let model = cache.get(key);
  if (!model) {
    model = (async () => {
      const result = await runChecked(stackConfig(stackOf(ctx)), 'docker stack config', { env: stackEnvOf(ctx, overrides), signal: ctx.signal, exitCode: ExitCode.PREFLIGHT });
      return parseComposeModel(result.stdout);
    })();
    cache.set(key, model);
  }
  return model;
}

/** A pulled image is pinned by digest, so every node runs the same bytes; a built, loaded or released one exists only here. */
export function resolveImageOf(opts: Pick<RolloutOptions, 'imageSource'>): ResolveImage {
  return opts.imageSource === 'pull' ? 'always' : 'never';
}
