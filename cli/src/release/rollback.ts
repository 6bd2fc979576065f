import type { Context } from '../context.js';
import { ShopctlError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import type { LockHandle } from '../state/lock.js';
import { currentRelease, loadHistory, rollbackTarget } from '../state/releases.js';
import { splitImage } from '../compose/model.js';
import { shortId } from '../docker/containers.js';
import { inspectImage, tagImage } from '../docker/images.js';
import type { RolloutOptions } from '../orchestrators/orchestrator.js';
import { preflight } from './preflight.js';
import { planOf, runRelease, type Step } from './pipeline.js';
import { closing, lockStep, refuseIfLocked, rolloutSteps } from './steps.js';
import { smokeStep } from './smoke.js';
import { releasePlan, releaseReport, type ReleaseOutcome } from './report.js';
import type { ReleaseOptions } from './deploy.js';

/** The same pipeline as deploy, back to a previous release with its exact image: no build, no backup, no migrations. */
export async function rollback(ctx: Context, versionArg: string | undefined, opts: ReleaseOptions): Promise<ReleaseOutcome> {
  const startedAt = Date.now();
  ctx.orchestrator.assertCanRelease('rollback');
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
  const env = { APP_VERSION: target.version };
  const pre = await preflight(ctx, env);
  const retag = (await inspectImage(docker, pre.imageRef))?.id !== image.id;
  const now = await ctx.orchestrator.now();
  if (now.firstDeploy) {
    throw new ShopctlError('No api container runs: there is nothing to roll back', { exitCode: ExitCode.PREFLIGHT, hint: `Deploy instead: shopctl deploy ${ctx.environment} ${target.version}` });
  }
  const rolloutOpts: RolloutOptions = {
    version: target.version,
    imageRef: pre.imageRef,
    imageId: image.id,
    imageSource: 'released',
    replicas: opts.replicas,
    healthTimeoutMs: (opts.timeout ?? 120) * 1000,
    drainTimeoutMs: (opts.drainTimeout ?? 30) * 1000,
    env,
    runMigrations: false,
    model: pre.model,
  };
  const rollout = ctx.orchestrator.rollout(rolloutOpts, now);
  const held: { lock?: LockHandle } = {};
  const steps: Step[] = [
    lockStep(ctx, opts, 'rollback', target.version, held),
    {
      name: 'image',
      title: `Image of ${target.version}`,
      plan: () => `${pre.imageRef} -> ${shortId(image.id)}${retag ? ' (tag moved back to it)' : ''}; no build, no migrations`,
      run: async (task) => {
        if (retag) {
          const { repository, tag } = splitImage(pre.imageRef);
          await tagImage(docker, image.id, repository, tag);
        }
        task.title = `Image ${pre.imageRef} (${shortId(image.id)})${retag ? ': tag moved back to the released image' : ''}`;
      },
    },
    ...rolloutSteps(rollout, smokeStep(ctx, rollout)),
  ];
  const end = closing(ctx, 'rollback', new Date(startedAt), current?.version ?? null, held, { version: target.version, imageRef: pre.imageRef, image: () => image, replicas: () => rollout.replicas() });
  const from = current?.version ?? null;

  if (opts.dryRun) {
    return releasePlan(ctx, {
      heading: [`Plan: roll back ${ctx.environment} from ${from ?? '(unknown)'} to ${target.version} (released ${target.finishedAt}); nothing will be changed (--dry-run)`],
      steps: planOf(steps, [['record', ctx.statePath('releases.json')], ['pin', `APP_VERSION=${target.version} in ${ctx.display(ctx.envFile)}`]]),
      data: { environment: ctx.environment, from, to: target.version, imageId: image.id, retag },
    });
  }

  const done = await runRelease(ctx.output, steps, end, ctx.signal);
  return releaseReport(ctx, rollout, done, {
    verb: `Rolled back ${ctx.environment} from ${from ?? '(unknown)'} to`,
    version: target.version,
    startedAt,
    data: { environment: ctx.environment, from, to: target.version, imageId: image.id },
  });
}
