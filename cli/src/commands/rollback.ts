import type { Command } from 'commander';
import type { Context } from '../context.js';
import type { CommandModule, CommandOutcome } from '../program.js';
import { ShopctlError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import type { LockHandle } from '../core/lock.js';
import { currentRelease, loadHistory, rollbackTarget, type Release } from '../core/releases.js';
import { formatDuration } from '../core/time.js';
import { renderTable } from '../core/table.js';
import { splitImage } from '../compose/model.js';
import { shortId, findContainers } from '../docker/containers.js';
import { inspectImage, tagImage, type ImageInfo } from '../docker/images.js';
import { executeRollout, pinVersion, refuseIfLocked, refuseSwarmDevelopment, releaseRecorder, rolloutOptions, swarmSummary, takeDeployLock, type RolloutCliOptions } from './deploy.js';
import { preflight } from './preflight.js';
import type { RolloutOptions } from './rollout.js';
import { SERVICES } from './shared.js';
import { executeSwarmRollout, swarmRunReport } from './swarm-rollout.js';
import { findService } from '../swarm/engine.js';
import { serviceName } from '../swarm/stack.js';

export async function rollback(ctx: Context, versionArg: string | undefined, opts: RolloutCliOptions): Promise<CommandOutcome> {
  const startedAt = Date.now();
  refuseSwarmDevelopment(ctx, 'rollback');
  if (!opts.dryRun) await refuseIfLocked(ctx, opts);
  const history = await loadHistory(ctx.statePath('releases.json'));
  const target = rollbackTarget(history, ctx.environment, versionArg);
  const current = currentRelease(history, ctx.environment);
  if (current && current.version === target.version && current.imageId === target.imageId) {
    return {
      data: { environment: ctx.environment, from: current.version, to: target.version, changed: false },
      human: `${target.version} is already the current release of ${ctx.environment}: nothing to roll back (shopctl releases lists the others)`,
    };
  }
  const docker = await ctx.docker();

  // The exact image that ran before, by id: a tag may have been rebuilt since.
  const image = await inspectImage(docker, target.imageId);
  if (!image) {
    throw new ShopctlError(`The image of ${target.version} (${shortId(target.imageId)}, ${target.image}) is no longer on this host`, {
      exitCode: ExitCode.NOT_FOUND,
      hint: `It was removed (docker image prune?). Nothing was changed. Deploy that version again instead: shopctl deploy ${ctx.environment} ${target.version}`,
    });
  }
  const composeEnv = { APP_VERSION: target.version };
  const pre = await preflight(ctx, composeEnv);
  const tagged = await inspectImage(docker, pre.imageRef);
  const retag = tagged?.id !== image.id;
  const swarm = ctx.orchestrator === 'swarm';
  const swarmApi = swarm ? await findService(docker, serviceName(ctx.projectName, SERVICES.api)) : undefined;
  const running = swarm ? (swarmApi ? [swarmApi] : []) : await findContainers(docker, ctx.projectName, { service: SERVICES.api });
  if (running.length === 0) {
    throw new ShopctlError('No api container runs: there is nothing to roll back', { exitCode: ExitCode.PREFLIGHT, hint: `Deploy instead: shopctl deploy ${ctx.environment} ${target.version}` });
  }

  if (opts.dryRun) {
    const steps = [
      ['image', `${pre.imageRef} -> ${shortId(image.id)}${retag ? ' (tag moved back to it)' : ''}; no build, no migrations`],
      ['lock', ctx.statePath('deploy.lock')],
      swarm
        ? ['rollout', `docker stack deploy ${ctx.projectName} with ${target.version}: swarm replaces the api tasks start-first and rolls back by itself on failure; shopctl follows, smoke-checks`]
        : ['rollout', `start ${opts.replicas ?? running.length} api beside ${running.length} old, wait healthy, switch nginx, drain, stop old, smoke-check`],
      ['record', ctx.statePath('releases.json')],
    ];
    return {
      data: { dryRun: true, environment: ctx.environment, from: current?.version ?? null, to: target.version, imageId: image.id, retag, steps: steps.map(([step, what]) => ({ step, what })) },
      human: [`Plan: roll back ${ctx.environment} from ${current?.version ?? '(unknown)'} to ${target.version} (released ${target.finishedAt}); nothing will be changed (--dry-run)`, renderTable(['step', 'what'], steps as string[][])].join('\n'),
    };
  }

  let lock: LockHandle | undefined;
  const recorder = releaseRecorder(ctx, 'rollback', new Date(startedAt), current?.version ?? null);
  const rolloutOpts: RolloutOptions = {
    version: target.version,
    imageRef: pre.imageRef,
    imageId: image.id,
    replicas: opts.replicas,
    healthTimeoutMs: (opts.timeout ?? 120) * 1000,
    drainTimeoutMs: (opts.drainTimeout ?? 30) * 1000,
    composeEnv,
    runMigrations: false,
    services: [...pre.model.services.keys()],
  };
  try {
    const leading: Parameters<Context['output']['tasks']>[0] = [
      {
        title: 'Take the deploy lock',
        task: async (_c, task) => {
          lock = await takeDeployLock(ctx, opts, 'rollback', target.version, (holder) => (task.output = `waiting for ${holder}`));
          task.title = `Deploy lock taken (${lock.dir})`;
        },
      },
      {
        title: `Image of ${target.version}`,
        task: async (_c, task) => {
          if (retag) {
            const { repository, tag } = splitImage(pre.imageRef);
            await tagImage(docker, image.id, repository, tag);
          }
          task.title = `Image ${pre.imageRef} (${shortId(image.id)})${retag ? ': tag moved back to the released image' : ''}`;
        },
      },
    ];
    const record = async (outcome: Release['result'], state: { replicas: number }, error?: string) => {
      if (!lock) return undefined;
      return recorder.record(outcome, { version: target.version, image: image as ImageInfo, imageRef: pre.imageRef, replicas: state.replicas, ...(error ? { error } : {}) });
    };
    if (swarm) {
      const result = await executeSwarmRollout(
        ctx,
        {
          version: target.version,
          imageRef: pre.imageRef,
          replicas: opts.replicas,
          healthTimeoutMs: rolloutOpts.healthTimeoutMs,
          runMigrations: false,
          // The exact image kept on this host (by id); nodes without it resolve the tag themselves.
          resolveImage: 'never',
          model: pre.model,
        },
        leading,
        record,
      );
      const pinned = await pinVersion(ctx, target.version);
      const report = swarmRunReport(result, startedAt, pinned);
      return {
        exitCode: report.exitCode,
        data: {
          environment: ctx.environment,
          orchestrator: 'swarm',
          stack: ctx.projectName,
          from: current?.version ?? null,
          to: target.version,
          imageId: image.id,
          ...report.data,
        },
        human: swarmSummary(`Rolled back ${ctx.environment} from ${current?.version ?? '(unknown)'} to`, target.version, result, startedAt, pinned),
      };
    }
    const result = await executeRollout(ctx, rolloutOpts, leading, record);
    const pinned = await pinVersion(ctx, target.version);
    return {
      data: {
        environment: ctx.environment,
        from: current?.version ?? null,
        to: target.version,
        imageId: image.id,
        oldContainers: result.state.oldIds.map(shortId),
        newContainers: result.state.newIds.map(shortId),
        drainMs: result.state.drainMs ?? null,
        durationMs: Date.now() - startedAt,
        release: result.release,
        envFilePinned: pinned,
      },
      human: [
        `Rolled back ${ctx.environment} from ${current?.version ?? '(unknown)'} to ${target.version} in ${formatDuration(Date.now() - startedAt)}: ${result.state.oldIds.length} old -> ${result.state.newIds.length} new api container(s), zero-downtime switch`,
        ...(pinned ? [`  APP_VERSION=${target.version} written to the env file`] : []),
        ...(result.release ? [`  release recorded: ${result.release.id}`] : []),
      ].join('\n'),
    };
  } finally {
    await lock?.release();
  }
}

export const rollbackModule: CommandModule = {
  register(program: Command, run, { example }) {
    const cmd = program
      .command('rollback')
      .argument('[version]', 'a released version (default: the newest successful release whose version differs from the current one)')
      .description('The same zero-downtime rolling update, back to a previous release from the history, with its exact image (no build, no migrations). Refuses when that image is gone.');
    rolloutOptions(cmd)
      .addHelpText(
        'after',
        example(`
          shopctl rollback                  # to the previous release
          shopctl rollback 1.3.2            # to a named one
          shopctl rollback --dry-run`),
      )
      .action(async (version: string | undefined, opts: RolloutCliOptions, cmd: Command) => run('rollback', cmd, (ctx) => rollback(ctx, version, opts)));
  },
};
