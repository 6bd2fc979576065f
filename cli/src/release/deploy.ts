import type { Context } from '../context.js';
import { ShopctlError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import type { LockHandle } from '../state/lock.js';
import { currentRelease, loadHistory } from '../state/releases.js';
import { build } from '../compose/commands.js';
import { volumeNames } from '../compose/model.js';
import { run, lastLines } from '../run.js';
import { shortId } from '../docker/containers.js';
import { inspectImage, type ImageInfo } from '../docker/images.js';
import { takeBackup, type BackupResult } from '../backup/take.js';
import { SERVICES, type ImageSource, type RolloutOptions } from '../orchestrators/orchestrator.js';
import { preflight } from './preflight.js';
import { planOf, runRelease, type Step } from './pipeline.js';
import { closing, lockStep, refuseIfLocked, rolloutSteps, type LockOptions } from './steps.js';
import { smokeStep } from './smoke.js';
import { gitSha, gitVersion } from './git.js';
import { releasePlan, releaseReport, type ReleaseOutcome } from './report.js';

/** Docker's tag grammar: what a version may look like, since it becomes the image tag. */
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** The options deploy and rollback share: the rolling procedure and its lock. */
export interface ReleaseOptions extends LockOptions {
  dryRun?: boolean;
  timeout?: number;
  drainTimeout?: number;
  replicas?: number;
}

export interface DeployOptions extends ReleaseOptions {
  build?: boolean;
  pull?: boolean;
  local?: boolean;
  skipBackup?: boolean;
  skipMigrations?: boolean;
}

/** Builds, pulls or finds the image; the rollout learns its id here. */
/** What the image step of a dry run would do, saying when a pull replaces an image already here. */
function imagePlan(source: ImageSource, ref: string, presentId: string | undefined): string {
  const here = presentId ? `present here (${shortId(presentId)})` : 'not on this host';
  if (source === 'build') return `build ${ref} (${here})`;
  if (source === 'local') return `use the local ${ref} (${here})`;
  return `pull ${ref} from its registry (${here}${presentId ? "; pulled anyway, for the registry's version of the tag; --local uses this one" : ''})`;
}

function imageStep(ctx: Context, source: ImageSource, version: string, opts: RolloutOptions, found: { image?: ImageInfo; present?: string }): Step {
  const ref = opts.imageRef;
  return {
    name: 'image',
    title: source === 'build' ? `Build ${ref}` : source === 'pull' ? `Pull ${ref}` : `Use the local image ${ref}`,
    plan: () => imagePlan(source, ref, found.present),
    run: async (task) => {
      if (source !== 'local') {
        const sha = await gitSha(ctx.projectDir);
        const argv = source === 'build' ? build(await ctx.compose(), [SERVICES.api], { buildArgs: { APP_VERSION: version, ...(sha ? { GIT_SHA: sha } : {}) } }) : await ctx.orchestrator.pullCommand(ref);
        // Without a terminal the build's hundred lines only with --verbose; a failure shows its last lines anyway.
        const onLine = ctx.output.tty || ctx.output.verbose ? (l: string) => (task.output = l) : undefined;
        const r = await run(argv, { env: opts.env, signal: ctx.signal, timeoutMs: 30 * 60_000, ...(onLine ? { onLine } : {}) });
        if (r.exitCode !== 0) {
          throw new ShopctlError(`${source === 'build' ? 'Building' : 'Pulling'} ${ref} failed (exit code ${r.exitCode}); nothing was changed`, {
            exitCode: ExitCode.FAILURE,
            detail: lastLines(`${r.stderr}\n${r.stdout}`, 20),
            hint: source === 'pull' ? 'Is the tag pushed and is this host logged in to the registry? --build builds here, --local uses an image already loaded.' : undefined,
          });
        }
      }
      const image = await inspectImage(await ctx.docker(), ref);
      if (!image) throw new ShopctlError(`Image ${ref} is not on this host`, { exitCode: ExitCode.NOT_FOUND, hint: 'Build it (--build), pull it (--pull) or docker load it first.' });
      found.image = image;
      opts.imageId = image.id;
      task.title = `Image ${ref} (${shortId(image.id)}${image.repoDigests[0] ? `, ${image.repoDigests[0].split('@')[1]?.slice(0, 19)}` : ''})`;
    },
  };
}

export async function deploy(ctx: Context, versionArg: string | undefined, opts: DeployOptions): Promise<ReleaseOutcome> {
  const startedAt = Date.now();
  const version = versionArg ?? (await gitVersion(ctx.projectDir));
  if (!version) throw new ShopctlError('No version given and the project is not a git checkout', { exitCode: ExitCode.USAGE, hint: 'shopctl deploy <environment> <version>' });
  if (!TAG.test(version)) throw new ShopctlError(`"${version}" cannot be an image tag (letters, digits, _ . -; at most 128)`, { exitCode: ExitCode.USAGE });
  if ([opts.build, opts.pull, opts.local].filter(Boolean).length > 1) throw new ShopctlError('--build, --pull and --local exclude each other', { exitCode: ExitCode.USAGE });
  ctx.orchestrator.assertCanRelease('deploy');
  // A deploy in progress refuses the next one at once, before any preflight or build.
  if (!opts.dryRun) await refuseIfLocked(ctx, opts);

  const env = { APP_VERSION: version };
  const pre = await preflight(ctx, env);
  const api = pre.model.services.get(SERVICES.api);
  const source: ImageSource = opts.build ? 'build' : opts.pull ? 'pull' : opts.local ? 'local' : ctx.environment === 'production' || !api?.hasBuild ? 'pull' : 'build';
  const now = await ctx.orchestrator.now();
  const current = currentRelease(await loadHistory(ctx.statePath('releases.json')), ctx.environment);
  const backupFirst = ctx.environment === 'production' && !opts.skipBackup && now.dbRunning;
  const rolloutOpts: RolloutOptions = {
    version,
    imageRef: pre.imageRef,
    imageId: '',
    imageSource: source,
    replicas: opts.replicas,
    defaultReplicas: api?.replicas,
    healthTimeoutMs: (opts.timeout ?? 120) * 1000,
    drainTimeoutMs: (opts.drainTimeout ?? 30) * 1000,
    env,
    runMigrations: !opts.skipMigrations,
    model: pre.model,
  };
  const rollout = ctx.orchestrator.rollout(rolloutOpts, now);
  const found: { image?: ImageInfo; present?: string } = {};
  const backup: { result?: BackupResult } = {};
  const held: { lock?: LockHandle } = {};
  const steps: Step[] = [
    {
      name: 'preflight',
      title: `Preflight (${ctx.environment})`,
      plan: () => pre.checks.map((c) => c.detail).join('; '),
      run: async (task) => {
        task.title = `Preflight: ${pre.checks.map((c) => c.detail).join('; ')}`;
      },
    },
    // The lock before the image: a second deploy is refused (or queued) in seconds, not after building.
    lockStep(ctx, opts, 'deploy', version, held),
    imageStep(ctx, source, version, rolloutOpts, found),
    {
      name: 'backup',
      title: 'Back up the database before deploying',
      enabled: () => backupFirst,
      plan: () => (backupFirst ? `pg_dump into ${ctx.backupDir}` : ctx.environment === 'production' ? (opts.skipBackup ? 'skipped (--skip-backup)' : 'none (no database yet)') : 'none (development)'),
      run: async (task) => {
        backup.result = await takeBackup(ctx, { reason: `pre-deploy ${version}`, lockWaitMs: 600_000, onStep: (s) => (task.output = s) });
        task.title = `Backup: ${backup.result.file}`;
      },
    },
    ...rolloutSteps(rollout, smokeStep(ctx, rollout)),
  ];
  const end = closing(ctx, 'deploy', new Date(startedAt), current?.version ?? null, held, {
    version,
    imageRef: pre.imageRef,
    image: () => found.image,
    replicas: () => rollout.replicas(),
    backup: () => backup.result?.path ?? null,
  });

  if (opts.dryRun) {
    found.present = (await inspectImage(await ctx.docker(), pre.imageRef))?.id;
    return releasePlan(ctx, {
      heading: [
        `Plan: deploy ${version} to ${ctx.environment} (${ctx.orchestrator.label}); nothing will be changed (--dry-run)`,
        `Project ${ctx.projectName}; volumes ${volumeNames(pre.model, ctx.projectName).join(', ') || 'none'}`,
        `Current release: ${current ? `${current.version} (${current.finishedAt})` : 'none recorded'}`,
      ],
      steps: planOf(steps, [['record', ctx.statePath('releases.json')], ['pin', `APP_VERSION=${version} in ${ctx.display(ctx.envFile)}`]]),
      data: { environment: ctx.environment, orchestrator: ctx.orchestrator.kind, version, image: pre.imageRef, imageSource: source, firstDeploy: now.firstDeploy, replicas: opts.replicas ?? (now.apiReplicas || (api?.replicas ?? 1)), backup: backupFirst, migrations: !opts.skipMigrations },
    });
  }

  const done = await runRelease(ctx.output, steps, end, ctx.signal);
  return releaseReport(ctx, rollout, done, {
    verb: `Deployed`,
    version,
    startedAt,
    backup: backup.result?.path,
    data: { environment: ctx.environment, version, image: pre.imageRef, imageId: found.image?.id ?? null, backup: backup.result?.path ?? null },
  });
}
