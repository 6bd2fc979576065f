import type { Command } from 'commander';
import { readFile, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Context } from '../context.js';
import { parseEnvironment } from '../context.js';
import type { CommandModule, CommandOutcome } from '../program.js';
import { positiveInt, seconds } from '../program.js';
import { ShopctlError, isShopctlError, messageOf } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { acquireLock, breakLock, currentUser, describeHolder, readLock, realEnvironment, type LockHandle } from '../core/lock.js';
import { appendRelease, currentRelease, loadHistory, saveHistory, type Release } from '../core/releases.js';
import { setEnvValue } from '../core/envfile.js';
import { writeFileAtomic } from '../core/fs-atomic.js';
import { compactUtc, formatDuration } from '../core/time.js';
import { renderTable } from '../core/table.js';
import { build, pull } from '../compose/commands.js';
import { volumeNames } from '../compose/model.js';
import type { Argv } from '../compose/flavour.js';
import { run, lastLines } from '../run.js';
import { displayName, findContainers, shortId } from '../docker/containers.js';
import { inspectImage, type ImageInfo } from '../docker/images.js';
import { takeBackup, type BackupResult } from './backup.js';
import { preflight } from './preflight.js';
import { failureEvidence, newRolloutState, rolloutTasks, undoRollout, type RolloutOptions, type RolloutState } from './rollout.js';
import { SERVICES } from './shared.js';
import { executeSwarmRollout, swarmRunReport, type SwarmRolloutOptions, type SwarmRolloutRun } from './swarm-rollout.js';
import { findService } from '../swarm/engine.js';
import { serviceName } from '../swarm/stack.js';

/** Docker's tag grammar: what a version may look like, since it becomes the image tag. */
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export interface RolloutCliOptions {
  dryRun?: boolean;
  wait?: number | boolean;
  forceUnlock?: boolean;
  timeout?: number;
  drainTimeout?: number;
  replicas?: number;
  message?: string;
}

export interface DeployCliOptions extends RolloutCliOptions {
  build?: boolean;
  pull?: boolean;
  local?: boolean;
  skipBackup?: boolean;
  skipMigrations?: boolean;
}

/** The version when none is given: the git commit (with -dirty for uncommitted changes), as Kamal does. */
export async function gitVersion(dir: string): Promise<string | undefined> {
  try {
    const head = await run(['git', ['-C', dir, 'rev-parse', '--short=12', 'HEAD']], { timeoutMs: 10_000 });
    if (head.exitCode !== 0) return undefined;
    const dirty = await run(['git', ['-C', dir, 'status', '--porcelain', '--untracked-files=no']], { timeoutMs: 10_000 });
    return `${head.stdout.trim()}${dirty.stdout.trim() ? '-dirty' : ''}`;
  } catch {
    return undefined;
  }
}

export async function gitSha(dir: string): Promise<string | undefined> {
  try {
    const r = await run(['git', ['-C', dir, 'rev-parse', 'HEAD']], { timeoutMs: 10_000 });
    return r.exitCode === 0 ? r.stdout.trim() : undefined;
  } catch {
    return undefined;
  }
}

export function waitMs(wait: number | boolean | undefined): number {
  if (wait === undefined || wait === false) return 0;
  return (wait === true ? 600 : wait) * 1000;
}

/** Refuses at once when another deploy holds the lock, before building anything (unless --wait / --force-unlock). */
export async function refuseIfLocked(ctx: Context, opts: RolloutCliOptions): Promise<void> {
  if (opts.wait || opts.forceUnlock) return;
  const state = await readLock(ctx.statePath('deploy.lock'));
  if (state.state === 'free') return;
  // acquireLock with no wait produces the full message (holder, since, stale hint).
  const handle = await acquireLock(ctx.statePath('deploy.lock'), { command: 'deploy', label: 'deploy', waitMs: 0 });
  await handle.release();
}

export async function takeDeployLock(ctx: Context, opts: RolloutCliOptions, command: string, version: string, onWait: (holder: string) => void): Promise<LockHandle> {
  const dir = ctx.statePath('deploy.lock');
  if (opts.forceUnlock) {
    const removed = await breakLock(dir, 'deploy');
    if (removed.state === 'held') ctx.output.warn(`--force-unlock removed the deploy lock held by ${describeHolder(removed.info, realEnvironment)}`);
    else if (removed.state === 'incomplete') ctx.output.warn('--force-unlock removed an incomplete deploy lock');
  }
  return acquireLock(dir, { command, label: 'deploy', version, message: opts.message, waitMs: waitMs(opts.wait), signal: ctx.signal, onWait });
}

export interface ReleaseRecorder {
  record(result: Release['result'], fields: { version: string; image: ImageInfo | undefined; imageRef: string; replicas: number; backup?: string | null; error?: string }): Promise<Release>;
}

export function releaseRecorder(ctx: Context, action: Release['action'], startedAt: Date, previousVersion: string | null): ReleaseRecorder {
  return {
    async record(result, f) {
      const finishedAt = new Date();
      const release: Release = {
        id: `${compactUtc(startedAt)}-${action}-${f.version}`,
        action,
        environment: ctx.environment,
        version: f.version,
        image: f.imageRef,
        imageId: f.image?.id ?? 'unknown',
        digest: f.image?.repoDigests[0] ?? null,
        who: currentUser(),
        host: hostname(),
        startedAt: startedAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        durationMs: finishedAt.getTime() - startedAt.getTime(),
        result,
        previousVersion,
        replicas: f.replicas,
        backup: f.backup ?? null,
        ...(f.error ? { error: f.error.slice(0, 2000) } : {}),
        orchestrator: ctx.orchestrator,
        project: ctx.projectName,
      };
      const path = ctx.statePath('releases.json');
      await saveHistory(path, appendRelease(await loadHistory(path), release));
      return release;
    },
  };
}

/** After a successful deploy or rollback: `docker compose up` run by hand keeps this version. */
export async function pinVersionInEnvFile(ctx: Context, version: string): Promise<boolean> {
  if (!ctx.envFileExists) return false;
  const text = await readFile(ctx.envFile, 'utf8');
  if (ctx.envValues.get('APP_VERSION') === version && /^APP_VERSION=/m.test(text)) return false;
  const mode = (await stat(ctx.envFile)).mode & 0o777;
  await writeFileAtomic(ctx.envFile, setEnvValue(text, 'APP_VERSION', version), mode);
  return true;
}

/** pinVersionInEnvFile for the end of a finished deploy or rollback: a failure to write is a warning, not an error. */
export async function pinVersion(ctx: Context, version: string): Promise<boolean> {
  return pinVersionInEnvFile(ctx, version).catch((e: unknown) => {
    ctx.output.warn(`could not write APP_VERSION to ${ctx.envFile}: ${messageOf(e)}`);
    return false;
  });
}

export interface RolloutRun {
  state: RolloutState;
  release: Release | undefined;
}

/** Records a release with what is known at the end; undefined when there is nothing to record (no lock, no image). */
export type RecordFn = (result: Release['result'], state: RolloutState, error?: string) => Promise<Release | undefined>;

/**
 * Runs the leading tasks and the rollout tasks, records the release whatever happens, and
 * turns a failure after new containers started into ROLLED_BACK with the evidence.
 */
export async function executeRollout(ctx: Context, opts: RolloutOptions, leading: Parameters<Context['output']['tasks']>[0], record: RecordFn): Promise<RolloutRun> {
  const state = newRolloutState();
  try {
    await ctx.output.tasks([...leading, ...rolloutTasks(ctx, opts, state)], {});
  } catch (error) {
    const evidence = await failureEvidence(ctx, state).catch(() => undefined);
    let notes: string[] = [];
    let undoError: unknown;
    try {
      notes = await undoRollout(ctx, opts, state);
    } catch (e) {
      undoError = e;
    }
    const message = messageOf(error);
    const rolledBack = state.newIds.length > 0 && !state.firstDeploy && !state.oldRemoved && !undoError;
    await record(rolledBack ? 'rolled_back' : 'failed', state, message).catch((e: unknown) => ctx.output.warn(`could not record the release: ${messageOf(e)}`));
    const known = isShopctlError(error) ? error : undefined;
    if (undoError) {
      throw new ShopctlError(`${message}; undoing it failed too: ${messageOf(undoError)}`, {
        exitCode: ExitCode.FAILURE,
        detail: [known?.detail, evidence].filter(Boolean).join('\n') || undefined,
        hint: 'Check shopctl status and the nginx upstream (docker compose exec proxy cat /etc/nginx/conf.d/api-upstream.conf).',
      });
    }
    if (rolledBack) {
      throw new ShopctlError(`${opts.version} failed after its containers started: ${message.split('\n')[0]}`, {
        exitCode: ExitCode.ROLLED_BACK,
        detail: [known?.detail ?? evidence, `undo: ${notes.join('; ')}`].filter(Boolean).join('\n'),
        hint: 'The previous version kept serving throughout. The output above says why the new one failed.',
      });
    }
    if (state.firstDeploy && state.newIds.length) {
      throw new ShopctlError(message, { exitCode: ExitCode.UNHEALTHY, detail: known?.detail ?? evidence, hint: notes.join('; ') || undefined });
    }
    throw error;
  }
  return { state, release: await record('success', state) };
}

/** Under swarm: a swarm deploy runs the production file, which `docker stack deploy` reads unchanged. */
export function refuseSwarmDevelopment(ctx: Context, verb: string): void {
  if (ctx.orchestrator === 'swarm' && ctx.environment !== 'production') {
    throw new ShopctlError(`--orchestrator swarm ${verb}s production only: docker-compose.yml is Compose's development stack`, {
      exitCode: ExitCode.USAGE,
      hint: `shopctl --orchestrator swarm ${verb} production <version> (docs/swarm.md)`,
    });
  }
}

export function swarmSummary(verb: string, version: string, run: SwarmRolloutRun, startedAt: number, pinned: boolean, backup?: BackupResult): string {
  const s = run.state;
  const lines = [
    `${verb} ${version} in ${formatDuration(Date.now() - startedAt)}: ${
      s.firstDeploy
        ? `first deploy, stack started with ${s.replicas} api replica(s)`
        : s.updated
          ? `swarm replaced the api tasks one by one (start-first)${s.previousImage ? `, from ${s.previousImage}` : ''}, ${s.replicas} running`
          : `the api service was already on it (${s.replicas} running); the stack was redeployed`
    }`,
  ];
  if (s.updateMs !== undefined && s.updated) lines.push(`  rolling update: ${formatDuration(s.updateMs)} (${s.result?.message ?? ''})`);
  if (s.migrations !== undefined) lines.push('  migrations applied by a one-off swarm job');
  if (backup) lines.push(`  backup before deploy: ${backup.path}`);
  if (s.unconverged.length) lines.push(`  NOT converged: ${s.unconverged.join(', ')}`);
  if (pinned) lines.push(`  APP_VERSION=${version} written to the env file`);
  if (run.release) lines.push(`  release recorded: ${run.release.id} (image ${shortId(run.release.imageId)})`);
  return lines.join('\n');
}

function summary(verb: string, version: string, run: RolloutRun, startedAt: number, pinned: boolean, backup?: BackupResult): string {
  const s = run.state;
  const lines = [
    `${verb} ${version} in ${formatDuration(Date.now() - startedAt)}: ${s.firstDeploy ? 'first deploy, stack started' : `${s.oldIds.length} old -> ${s.newIds.length} new api container(s), zero-downtime switch`}`,
  ];
  if (s.drainMs !== undefined) lines.push(`  nginx drained the old workers in ${formatDuration(s.drainMs)}`);
  if (backup) lines.push(`  backup before deploy: ${backup.path}`);
  if (pinned) lines.push(`  APP_VERSION=${version} written to the env file, so a plain \`docker compose up\` keeps this version`);
  if (run.release) lines.push(`  release recorded: ${run.release.id} (image ${shortId(run.release.imageId)})`);
  return lines.join('\n');
}

/** What the image step of a dry run would do, saying when a pull replaces an image already here. */
function imagePlan(source: 'build' | 'pull' | 'local', imageRef: string, presentId: string | undefined): string {
  const here = presentId ? `present here (${shortId(presentId)})` : 'not on this host';
  if (source === 'build') return `build ${imageRef} (${here})`;
  if (source === 'local') return `use the local ${imageRef} (${here})`;
  return `pull ${imageRef} from its registry (${here}${presentId ? '; pulled anyway, for the registry\'s version of the tag; --local uses this one' : ''})`;
}

export async function deploy(ctx: Context, versionArg: string | undefined, opts: DeployCliOptions): Promise<CommandOutcome> {
  const startedAt = Date.now();
  const version = versionArg ?? (await gitVersion(ctx.projectDir));
  if (!version) throw new ShopctlError('No version given and the project is not a git checkout', { exitCode: ExitCode.USAGE, hint: 'shopctl deploy <environment> <version>' });
  if (!TAG.test(version)) throw new ShopctlError(`"${version}" cannot be an image tag (letters, digits, _ . -; at most 128)`, { exitCode: ExitCode.USAGE });
  if ([opts.build, opts.pull, opts.local].filter(Boolean).length > 1) throw new ShopctlError('--build, --pull and --local exclude each other', { exitCode: ExitCode.USAGE });
  refuseSwarmDevelopment(ctx, 'deploy');
  // A deploy in progress refuses the next one at once, before any preflight or build.
  if (!opts.dryRun) await refuseIfLocked(ctx, opts);

  const composeEnv = { APP_VERSION: version };
  const pre = await preflight(ctx, composeEnv);
  const api = pre.model.services.get(SERVICES.api);
  const source = opts.build ? 'build' : opts.pull ? 'pull' : opts.local ? 'local' : ctx.environment === 'production' || !api?.hasBuild ? 'pull' : 'build';
  const docker = await ctx.docker();
  const swarm = ctx.orchestrator === 'swarm';
  const swarmApi = swarm ? await findService(docker, serviceName(ctx.projectName, SERVICES.api)) : undefined;
  const running = swarm ? [] : await findContainers(docker, ctx.projectName, { service: SERVICES.api });
  const history = await loadHistory(ctx.statePath('releases.json'));
  const current = currentRelease(history, ctx.environment);
  // Under swarm the backup needs the db task on this node: takeBackup says so when it is elsewhere.
  const dbRunning = swarm ? Boolean(await findService(docker, serviceName(ctx.projectName, SERVICES.db))) : (await findContainers(docker, ctx.projectName, { service: SERVICES.db })).length > 0;
  const backupFirst = ctx.environment === 'production' && !opts.skipBackup && dbRunning;
  const swarmReplicas = swarmApi?.Spec.Mode?.Replicated?.Replicas;
  const replicas = opts.replicas ?? (swarm ? (swarmReplicas ?? api?.replicas ?? 1) : running.length ? running.length : (api?.replicas ?? 1));
  const firstDeploy = swarm ? !swarmApi : running.length === 0;

  if (opts.dryRun) {
    const existing = await inspectImage(docker, pre.imageRef);
    const steps = [
      ['preflight', pre.checks.map((c) => c.detail).join('; ')],
      swarm ? ['stack', ctx.projectName] : ['project', `Compose project ${ctx.projectName}; volumes ${volumeNames(pre.model, ctx.projectName).join(', ') || 'none'}`],
      ['lock', ctx.statePath('deploy.lock')],
      ['image', imagePlan(source, pre.imageRef, existing?.id)],
      ['backup', backupFirst ? `pg_dump into ${ctx.backupDir}` : ctx.environment === 'production' ? (opts.skipBackup ? 'skipped (--skip-backup)' : 'none (no database yet)') : 'none (development)'],
      ['migrations', opts.skipMigrations ? 'skipped (--skip-migrations)' : swarm ? `one-off swarm job: ${pre.imageRef} node api/dist/cli/migrate.js` : `one-off: ${pre.imageRef} node api/dist/cli/migrate.js`],
      swarm
        ? firstDeploy
          ? ['first deploy', `docker stack deploy ${ctx.projectName} (api x0 until migrated, then x${replicas}), wait until every service runs, smoke-check`]
          : ['rollout', `docker stack deploy ${ctx.projectName}: swarm replaces ${replicas} api task(s) start-first and rolls back by itself on failure; shopctl follows, smoke-checks`]
        : running.length
          ? ['rollout', `start ${replicas} new api beside ${running.length} old (${running.map((c) => displayName(c)).join(', ')}), wait healthy, switch nginx, drain, stop old, smoke-check`]
          : ['first deploy', `docker compose up (api x${replicas}), wait until every service is healthy, smoke-check`],
      ['record', ctx.statePath('releases.json')],
    ];
    const human = [
      `Plan: deploy ${version} to ${ctx.environment} (${swarm ? `swarm stack` : 'project'} ${ctx.projectName}); nothing will be changed (--dry-run)`,
      `Current release: ${current ? `${current.version} (${current.finishedAt})` : 'none recorded'}`,
      renderTable(['step', 'what'], steps as string[][]),
    ].join('\n');
    return {
      data: { dryRun: true, environment: ctx.environment, orchestrator: ctx.orchestrator, version, image: pre.imageRef, imageSource: source, firstDeploy, replicas, backup: backupFirst, migrations: !opts.skipMigrations, steps: steps.map(([step, what]) => ({ step, what })) },
      human,
    };
  }

  const imageState: { image?: ImageInfo } = {};
  const backupRef: { current?: BackupResult } = {};
  let lock: LockHandle | undefined;
  const recorder = releaseRecorder(ctx, 'deploy', new Date(startedAt), current?.version ?? null);
  const rolloutOpts: RolloutOptions = {
    version,
    imageRef: pre.imageRef,
    imageId: '',
    replicas: opts.replicas,
    defaultReplicas: api?.replicas,
    healthTimeoutMs: (opts.timeout ?? 120) * 1000,
    drainTimeoutMs: (opts.drainTimeout ?? 30) * 1000,
    composeEnv,
    runMigrations: !opts.skipMigrations,
    services: [...pre.model.services.keys()],
  };
  try {
    const leading: Parameters<Context['output']['tasks']>[0] = [
      {
        title: `Preflight (${ctx.environment})`,
        task: (_c, task) => {
          task.title = `Preflight: ${pre.checks.map((c) => c.detail).join('; ')}`;
        },
      },
      // Before the build: a second deploy is refused (or queued) in seconds, not after building.
      {
        title: 'Take the deploy lock',
        task: async (_c, task) => {
          lock = await takeDeployLock(ctx, opts, 'deploy', version, (holder) => (task.output = `waiting for ${holder}`));
          task.title = `Deploy lock taken (${lock.dir})`;
        },
      },
      {
        title: source === 'build' ? `Build ${pre.imageRef}` : source === 'pull' ? `Pull ${pre.imageRef}` : `Use the local image ${pre.imageRef}`,
        task: async (_c, task) => {
          if (source !== 'local') {
            const sha = await gitSha(ctx.projectDir);
            // Under swarm, Compose may be absent: the docker CLI pulls (with this host's registry login).
            const argv: Argv = source === 'build' ? build(await ctx.compose(), [SERVICES.api], { buildArgs: { APP_VERSION: version, ...(sha ? { GIT_SHA: sha } : {}) } }) : swarm ? ['docker', ['pull', pre.imageRef]] : pull(await ctx.compose(), [SERVICES.api]);
            // Without a terminal the build's hundred lines only with --verbose; a failure shows its last lines anyway.
            const onLine = ctx.output.tty || ctx.output.verbose ? (l: string) => (task.output = l) : undefined;
            const r = await run(argv, { env: composeEnv, signal: ctx.signal, timeoutMs: 30 * 60_000, ...(onLine ? { onLine } : {}) });
            if (r.exitCode !== 0) {
              throw new ShopctlError(`${source === 'build' ? 'Building' : 'Pulling'} ${pre.imageRef} failed (exit code ${r.exitCode}); nothing was changed`, {
                exitCode: ExitCode.FAILURE,
                detail: lastLines(`${r.stderr}\n${r.stdout}`, 20),
                hint: source === 'pull' ? 'Is the tag pushed and is this host logged in to the registry? --build builds here, --local uses an image already loaded.' : undefined,
              });
            }
          }
          const image = await inspectImage(await ctx.docker(), pre.imageRef);
          if (!image) throw new ShopctlError(`Image ${pre.imageRef} is not on this host`, { exitCode: ExitCode.NOT_FOUND, hint: 'Build it (--build), pull it (--pull) or docker load it first.' });
          imageState.image = image;
          rolloutOpts.imageId = image.id;
          task.title = `Image ${pre.imageRef} (${shortId(image.id)}${image.repoDigests[0] ? `, ${image.repoDigests[0].split('@')[1]?.slice(0, 19)}` : ''})`;
        },
      },
      {
        title: 'Back up the database before deploying',
        enabled: () => backupFirst,
        task: async (_c, task) => {
          backupRef.current = await takeBackup(ctx, { reason: `pre-deploy ${version}`, lockWaitMs: 600_000, onStep: (s) => (task.output = s) });
          task.title = `Backup: ${backupRef.current.file}`;
        },
      },
    ];
    const record = async (outcome: Release['result'], state: { replicas: number }, error?: string) => {
      // A deploy that never took the lock changed nothing: not a release.
      if (!lock) return undefined;
      return recorder.record(outcome, { version, image: imageState.image, imageRef: pre.imageRef, replicas: state.replicas, backup: backupRef.current?.path ?? null, ...(error ? { error } : {}) });
    };
    if (swarm) {
      const swarmOpts: SwarmRolloutOptions = {
        version,
        imageRef: pre.imageRef,
        replicas: opts.replicas,
        defaultReplicas: api?.replicas,
        healthTimeoutMs: rolloutOpts.healthTimeoutMs,
        runMigrations: !opts.skipMigrations,
        // A pulled image is pinned by digest, so every node runs the same bytes; a local one exists only here.
        resolveImage: source === 'pull' ? 'always' : 'never',
        model: pre.model,
      };
      const result = await executeSwarmRollout(ctx, swarmOpts, leading, record);
      const pinned = await pinVersion(ctx, version);
      const report = swarmRunReport(result, startedAt, pinned);
      return {
        exitCode: report.exitCode,
        data: {
          environment: ctx.environment,
          orchestrator: 'swarm',
          stack: ctx.projectName,
          version,
          image: pre.imageRef,
          imageId: imageState.image?.id ?? null,
          firstDeploy: result.state.firstDeploy,
          previousImage: result.state.previousImage,
          backup: backupRef.current?.path ?? null,
          ...report.data,
        },
        human: swarmSummary('Deployed', version, result, startedAt, pinned, backupRef.current),
      };
    }
    const result = await executeRollout(ctx, rolloutOpts, leading, record);
    const pinned = await pinVersion(ctx, version);
    return {
      data: {
        environment: ctx.environment,
        version,
        image: pre.imageRef,
        imageId: imageState.image?.id ?? null,
        firstDeploy: result.state.firstDeploy,
        oldContainers: result.state.oldIds.map(shortId),
        newContainers: result.state.newIds.map(shortId),
        replicas: result.state.replicas,
        drainMs: result.state.drainMs ?? null,
        backup: backupRef.current?.path ?? null,
        durationMs: Date.now() - startedAt,
        release: result.release,
        envFilePinned: pinned,
      },
      human: summary('Deployed', version, result, startedAt, pinned, backupRef.current),
    };
  } finally {
    await lock?.release();
  }
}

/** The options deploy and rollback share: the rolling procedure and its lock. */
export function rolloutOptions(cmd: Command): Command {
  return cmd
    .option('--dry-run', 'print the plan and change nothing')
    .option('--wait [seconds]', 'queue behind a deploy that holds the lock (default 600 s) instead of refusing', seconds('--wait'))
    .option('--force-unlock', 'remove a stale deploy lock first (never one whose process still runs here; say why in --message)')
    .option('--replicas <n>', 'api replicas to run (default: as many as run now, at least 1)', positiveInt('--replicas'))
    .option('--timeout <seconds>', 'how long new containers may take to become healthy (default 120)', seconds('--timeout'))
    .option('--drain-timeout <seconds>', "how long nginx's old workers may take to finish their requests (default 30)", seconds('--drain-timeout'))
    .option('-m, --message <text>', 'why: shown to anyone who finds the lock held');
}

export const deployModule: CommandModule = {
  register(program: Command, run, { example }) {
    const cmd = program
      .command('deploy')
      .argument('<environment>', 'development or production')
      .argument('[version]', 'image tag to deploy (default: the git commit, with -dirty when the tree has changes)')
      .description(
        'Zero-downtime deploy: preflight, lock, backup (production), build or pull, migrations in a one-off container, then start new api containers beside the old ones, wait healthy, switch nginx, drain, stop the old ones, smoke-check, record the release. Any failure after the new containers start removes them; the old ones keep serving.',
      );
    rolloutOptions(cmd)
      .option('--build', 'build the image here (default in development when the api service has a build section)')
      .option('--pull', 'pull the image from its registry (default in production)')
      .option('--local', 'use an image already on this host (docker load, CI artifacts)')
      .option('--skip-backup', 'production: do not take the pre-deploy backup')
      .option('--skip-migrations', 'do not run database migrations')
      .addHelpText(
        'after',
        example(`
          shopctl deploy production 1.4.0
          shopctl deploy production 1.4.0 --dry-run
          shopctl deploy development              # builds the current commit
          shopctl deploy production 1.4.1 --wait 900 -m "hotfix for #231"`),
      )
      .action(async (environment: string, version: string | undefined, opts: DeployCliOptions, cmd: Command) =>
        run('deploy', cmd, (ctx) => deploy(ctx, version, opts), () => ({ environment: parseEnvironment(environment, 'the <environment> argument') })),
      );
  },
};
