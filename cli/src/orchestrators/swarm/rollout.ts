import type { Context } from '../../context.js';
import { ShopctlError, isShopctlError, messageOf } from '../../errors.js';
import { ExitCode } from '../../exit-codes.js';
import { formatDuration, sleep } from '../../time.js';
import { run, lastLines } from '../../run.js';
import { progress } from '../../output.js';
import { describeFailure } from '../../docker/health.js';
import { findService, requestRollback, runJob, serviceLogs, serviceTasks, stackServices, swarmState, type ServiceInfo } from './engine.js';
import { SWARM_LABEL, migrationJobSpec, serviceName, shortServiceName, stackDeploy } from './stack.js';
import { isNewUpdate, judge, progressOf, taskFailure, updateDeadlineMs, type TaskLike, type UpdateStatusLike, type Verdict } from './update.js';
import { MIGRATE_COMMAND, SERVICES, type Failure, type Rollout, type RolloutOptions, type RolloutStep } from '../orchestrator.js';
import { resolveImageOf, stackEnvOf, stackOf } from './project.js';

/**
 * A deploy or rollback on Docker Swarm (docs/swarm.md): `docker stack deploy` with the new
 * version, and swarm does the rolling update itself (update_config: start-first, one task at a
 * time, failure_action rollback). shopctl runs the migrations first as a one-off job, follows
 * the update through the Engine API (UpdateStatus and the tasks), reports progress, and says how
 * it ended: completed, or rolled back by swarm (exit 5), with the failed tasks' evidence.
 */

type SwarmRolloutOptions = RolloutOptions;

export interface SwarmRolloutState {
  firstDeploy: boolean;
  replicas: number;
  previousImage: string | null;
  migrations?: string | undefined;
  /** How the api service's update ended. */
  result?: Verdict & { done: true };
  updateMs?: number | undefined;
  /** Services of the stack that did not reach their replicas (the api rollout itself succeeded). */
  unconverged: string[];
  smoke?: { requests: number; version: string | null } | undefined;
  /** What the failed tasks said (health checks, logs), for a rolled-back update. */
  evidence?: string | undefined;
  /** shopctl asked swarm to roll back (deadline passed, or interrupted): why. */
  requestedRollback: string | false;
  /** Swarm replaced the api tasks (false: the deploy left the api service's tasks as they were). */
  updated: boolean;
  /** Why swarm began rolling back (its UpdateStatus message then; at the end it only says "rollback completed"). */
  rollbackReason?: string | undefined;
  deployOutput?: string | undefined;
}

export function newSwarmRolloutState(): SwarmRolloutState {
  return { firstDeploy: false, replicas: 0, previousImage: null, unconverged: [], requestedRollback: false, updated: false };
}

const API_NAME = (ctx: Context) => serviceName(ctx.projectName, SERVICES.api);

function replicasOf(s: ServiceInfo | undefined): number | undefined {
  return s?.Spec.Mode?.Replicated?.Replicas;
}

function imageOf(s: ServiceInfo | undefined): string | null {
  const image = (s?.Spec.TaskTemplate as { ContainerSpec?: { Image?: string } } | undefined)?.ContainerSpec?.Image;
  return image ? (image.split('@')[0] ?? image) : null;
}

/** The task template without what changes on every deploy anyway, to tell whether swarm will start an update. */
function templateKey(s: ServiceInfo | undefined): string {
  const t = { ...((s?.Spec.TaskTemplate ?? {}) as Record<string, unknown>) };
  const container = { ...((t.ContainerSpec ?? {}) as Record<string, unknown>) };
  // `--resolve-image always` pins a digest: the same tag may come back with or without one.
  if (typeof container.Image === 'string') container.Image = container.Image.split('@')[0];
  t.ContainerSpec = container;
  return JSON.stringify(t);
}

function durationNs(ns: number | undefined, fallbackMs: number): number {
  return ns === undefined ? fallbackMs : Math.round(ns / 1e6);
}

/** Runs `docker stack deploy` with the env file's values, the version and the replicas; throws with its output when it fails. */
async function stackDeployNow(ctx: Context, opts: SwarmRolloutOptions, replicas: number, onLine: (l: string) => void): Promise<string> {
  const argv = stackDeploy(stackOf(ctx), { resolveImage: resolveImageOf(opts), withRegistryAuth: true });
  const env = stackEnvOf(ctx, { APP_VERSION: opts.version, API_REPLICAS: String(replicas) });
  const r = await run(argv, { env, signal: ctx.signal, timeoutMs: 10 * 60_000, onLine });
  const output = lastLines(`${r.stdout}\n${r.stderr}`, 30);
  if (r.exitCode !== 0) {
    throw new ShopctlError(`docker stack deploy failed (exit code ${r.exitCode})`, {
      detail: output,
      hint: 'Services the command reached before failing may have been updated: shopctl --orchestrator swarm status shows where each stands.',
    });
  }
  return output;
}

/** Waits until the named services run all their replicas; returns those that do not by the deadline (with why). */
async function waitServicesConverged(ctx: Context, names: readonly string[], deadline: number, onLine: (l: string) => void): Promise<string[]> {
  const docker = await ctx.docker();
  for (;;) {
    const pending: string[] = [];
    const services = (await docker.listServices({ filters: { label: [`${SWARM_LABEL.stack}=${ctx.projectName}`] }, status: true })) as Array<ServiceInfo & { ServiceStatus?: { RunningTasks?: number; DesiredTasks?: number } }>;
    for (const s of services) {
      if (!names.includes(s.Spec.Name ?? '')) continue;
      const running = s.ServiceStatus?.RunningTasks ?? 0;
      const desired = s.ServiceStatus?.DesiredTasks ?? replicasOf(s) ?? 1;
      const updating = ['updating', 'rollback_started'].includes(s.UpdateStatus?.State ?? '');
      if (running < desired || updating) {
        const tasks = await serviceTasks(docker, s.ID);
        const last = tasks.filter((t) => t.DesiredState === 'running' || ['failed', 'rejected'].includes(t.Status?.State ?? '')).sort((a, b) => (b.Status?.Timestamp ?? '').localeCompare(a.Status?.Timestamp ?? ''))[0];
        const why = last && last.Status?.State !== 'running' ? ` (${taskFailure(last)})` : updating ? ` (${s.UpdateStatus?.State})` : '';
        pending.push(`${shortServiceName(ctx.projectName, s.Spec.Name ?? s.ID)} ${running}/${desired}${why}`);
      }
    }
    onLine(pending.length ? `waiting for ${pending.join(', ')}` : 'every service runs its replicas');
    if (pending.length === 0 || Date.now() >= deadline) return pending;
    if (ctx.signal.aborted) throw new ShopctlError('Interrupted while the stack converged', { exitCode: ExitCode.INTERRUPTED });
    await sleep(1000);
  }
}

/** The evidence of failed tasks: on this node the container's health probes and logs; elsewhere swarm's error and the service's logs. */
async function taskEvidence(ctx: Context, service: ServiceInfo, failed: readonly TaskLike[]): Promise<string> {
  const docker = await ctx.docker();
  const swarm = await swarmState(docker);
  const parts: string[] = [];
  // Prefer tasks whose container exists: those carry health probes and logs.
  const withContainer = failed.filter((t) => t.Status?.ContainerStatus?.ContainerID);
  for (const t of (withContainer.length ? withContainer : failed).slice(-2)) {
    const id = t.Status?.ContainerStatus?.ContainerID;
    parts.push(`task ${t.ID.slice(0, 12)} (slot ${t.Slot ?? '-'}): ${taskFailure(t)}`);
    if (id && t.NodeID === swarm.nodeId) parts.push(await describeFailure(docker, id, 20));
  }
  if (!parts.some((p) => p.includes('log lines'))) parts.push(`last log lines of ${service.Spec.Name}:\n${(await serviceLogs(docker, service.ID, 20)).split('\n').map((l) => `    ${l}`).join('\n')}`);
  return parts.join('\n');
}

/** The new image's tasks that failed during this update (the ones swarm rolled back because of). */
async function failedNewTasks(ctx: Context, service: ServiceInfo, image: string, since: string): Promise<TaskLike[]> {
  const tasks = await serviceTasks(await ctx.docker(), service.ID);
  const failed = progressOf(tasks, image, 0, since).failedNew;
  if (failed.length) return failed;
  // A task swarm stopped for failing its health check ends "complete" or "shutdown": take the new image's tasks that ended.
  return tasks.filter((t) => (t.CreatedAt ?? '') >= since && (t.Spec?.ContainerSpec?.Image ?? '').split('@')[0] === image.split('@')[0] && t.Status?.State !== 'running');
}

/**
 * Follows the api service until swarm's verdict (or the deadline, or an interrupt: then
 * shopctl asks swarm to roll back and follows that). Returns the verdict.
 */
async function followUpdate(ctx: Context, opts: SwarmRolloutOptions, state: SwarmRolloutState, before: { update: UpdateStatusLike | undefined; template: string; existed: boolean }, since: string, show: (l: string) => void): Promise<Verdict & { done: true }> {
  const docker = await ctx.docker();
  const started = Date.now();
  let service = await findService(docker, API_NAME(ctx));
  if (!service) throw new ShopctlError(`${API_NAME(ctx)} does not exist after docker stack deploy`);
  const expectUpdate = before.existed && before.template !== templateKey(service);
  const update = service.Spec.UpdateConfig;
  const deadlineMs = updateDeadlineMs({
    replicas: state.replicas,
    parallelism: update?.Parallelism ?? 1,
    healthTimeoutMs: opts.healthTimeoutMs,
    delayMs: durationNs(update?.Delay, 0),
    stopGraceMs: durationNs((service.Spec.TaskTemplate as { ContainerSpec?: { StopGracePeriod?: number } }).ContainerSpec?.StopGracePeriod, 10_000),
    monitorMs: durationNs(update?.Monitor, 5000),
  });
  const deadline = started + deadlineMs;
  let askedAt: number | undefined;
  for (;;) {
    service = (await findService(docker, API_NAME(ctx))) ?? service;
    const tasks = await serviceTasks(docker, service.ID);
    const ours = isNewUpdate(before.update, service.UpdateStatus);
    const verdict = judge({ update: service.UpdateStatus, ours, expectUpdate, progress: progressOf(tasks, opts.imageRef, state.replicas, since), image: opts.imageRef });
    state.updated = ours || expectUpdate;
    if (ours && service.UpdateStatus?.State === 'rollback_started' && service.UpdateStatus.Message) state.rollbackReason ??= service.UpdateStatus.Message;
    if (verdict.done) return verdict;
    show(`${verdict.line} (${formatDuration(Date.now() - started)})`);
    const interrupted = ctx.signal.aborted;
    if ((Date.now() >= deadline || interrupted) && askedAt === undefined) {
      if (ours && service.UpdateStatus?.State === 'updating') {
        // The previous version still serves beside the new tasks: hand it back to swarm, as failure_action would.
        await requestRollback(docker, service.ID);
        state.requestedRollback = interrupted ? 'interrupted' : `not running and healthy within ${formatDuration(deadlineMs)}`;
        askedAt = Date.now();
        show(`${state.requestedRollback}: asked swarm to roll ${API_NAME(ctx)} back`);
      } else if (!ours || service.UpdateStatus?.State !== 'rollback_started') {
        if (interrupted) throw new ShopctlError('Interrupted while swarm started the new version', { exitCode: ExitCode.INTERRUPTED });
        return { done: true, result: 'failing', message: `not running all ${state.replicas} replica(s) of ${opts.version} within ${formatDuration(deadlineMs)}: ${verdict.line}` };
      }
    }
    // A rollback that swarm itself does not finish within 5 minutes needs a person.
    if (askedAt !== undefined && Date.now() - askedAt > 300_000) return { done: true, result: 'rollback_paused', message: 'the rollback shopctl asked for did not finish within 5 min' };
    await sleep(1000);
  }
}

/** The steps of a swarm deploy or rollback after the image exists; each one a task with its own title. */
export function swarmRollout(ctx: Context, opts: SwarmRolloutOptions, now: { names: string[]; firstDeploy: boolean; apiReplicas: number }): Rollout {
  const state = newSwarmRolloutState();
  const before: { update: UpdateStatusLike | undefined; template: string; existed: boolean } = { update: undefined, template: '', existed: false };
  let since = '';
  const prepare: RolloutStep[] = [
    {
      name: 'inspect',
      title: 'Inspect the swarm stack',
      plan: () => (now.firstDeploy ? `first deploy of stack ${ctx.projectName}` : `${API_NAME(ctx)} runs ${now.apiReplicas} replica(s)`),
      run: async (task) => {
        const docker = await ctx.docker();
        const api = await findService(docker, API_NAME(ctx));
        state.firstDeploy = !api;
        state.previousImage = imageOf(api);
        state.replicas = opts.replicas ?? replicasOf(api) ?? opts.defaultReplicas ?? 1;
        before.existed = Boolean(api);
        before.update = api?.UpdateStatus;
        before.template = templateKey(api);
        const others = (await stackServices(docker, ctx.projectName)).length;
        task.title = state.firstDeploy
          ? `First deploy of stack ${ctx.projectName}: ${others ? `${others} service(s) exist, no api yet` : 'nothing deployed yet'}; ${state.replicas} api replica(s) to start`
          : `Stack ${ctx.projectName}: ${API_NAME(ctx)} runs ${state.previousImage} x${replicasOf(api) ?? '?'}; ${state.replicas} replica(s) of ${opts.imageRef} to roll out`;
      },
    },
    {
      name: 'stack without api',
      title: 'Start the stack without the API (database first, for the migrations)',
      enabled: () => state.firstDeploy && opts.runMigrations,
      plan: () => (now.firstDeploy && opts.runMigrations ? `docker stack deploy ${ctx.projectName} with 0 api replicas until migrated` : undefined),
      run: async (task) => {
        const show = progress(task);
        await stackDeployNow(ctx, opts, 0, show);
        const names = [SERVICES.db, SERVICES.cache].filter((s) => opts.model.services.has(s)).map((s) => serviceName(ctx.projectName, s));
        const pending = await waitServicesConverged(ctx, names, Date.now() + Math.max(opts.healthTimeoutMs, 120_000), show);
        if (pending.length) throw new ShopctlError(`Not running within ${formatDuration(Math.max(opts.healthTimeoutMs, 120_000))}: ${pending.join(', ')}`, { exitCode: ExitCode.UNHEALTHY, hint: `docker service ps --no-trunc ${names.join(' ')} says why; placement constraints need labelled nodes (docs/swarm.md).` });
        task.title = `Stack deployed with 0 api replicas; ${names.map((n) => shortServiceName(ctx.projectName, n)).join(' and ')} running`;
      },
    },
  ];

  const migrate: RolloutStep[] = [
    {
      name: 'migrations',
      title: 'Run database migrations (one-off swarm job of the new image)',
      enabled: () => opts.runMigrations,
      plan: () => (opts.runMigrations ? `one-off swarm job: ${opts.imageRef} ${MIGRATE_COMMAND.join(' ')}` : undefined),
      run: async (task) => {
        const docker = await ctx.docker();
        const api = await findService(docker, API_NAME(ctx));
        if (!api) throw new ShopctlError(`${API_NAME(ctx)} does not exist: nothing to take the job's secrets and networks from`);
        const spec = migrationJobSpec(api.Spec.TaskTemplate as Parameters<typeof migrationJobSpec>[0], { stack: ctx.projectName, image: opts.imageRef, version: opts.version, command: MIGRATE_COMMAND });
        const show = progress(task);
        const r = await runJob(docker, spec, { timeoutMs: 10 * 60_000, signal: ctx.signal, onState: (s) => show(`job ${spec.Name}: ${s}`) });
        state.migrations = lastLines(r.logs, 20);
        if (r.state !== 'complete' || (r.exitCode ?? 0) !== 0) {
          throw new ShopctlError(`Migrations failed (${r.state}${r.exitCode !== undefined ? `, exit code ${r.exitCode}` : ''}${r.error ? `: ${r.error}` : ''}); ${state.firstDeploy ? 'the stack runs without the API' : 'nothing else was changed'}`, {
            detail: state.migrations,
            hint: state.firstDeploy ? 'Fix the migration and deploy again.' : 'The running version keeps serving. Fix the migration and deploy again.',
          });
        }
        task.title = `Migrations applied (${formatDuration(r.durationMs)})`;
      },
    },
  ];

  const roll: RolloutStep[] = [
    {
      name: 'stack deploy',
      title: `docker stack deploy ${ctx.projectName}`,
      plan: () => `docker stack deploy ${ctx.projectName} with ${opts.version}`,
      run: async (task) => {
        // A little early: task times come from the manager's clock, which may run a bit behind this host's.
        since = new Date(Date.now() - 2000).toISOString();
        state.deployOutput = await stackDeployNow(ctx, opts, state.replicas, progress(task));
        task.title = `docker stack deploy ${ctx.projectName}: ${opts.imageRef} x${state.replicas}`;
      },
    },
    {
      name: 'rolling update',
      title: `Swarm rolls out ${opts.version}`,
      plan: () => (now.firstDeploy ? `start ${opts.replicas ?? opts.defaultReplicas ?? 1} api task(s)` : 'swarm replaces the api tasks start-first and rolls back by itself on failure; shopctl follows'),
      run: async (task) => {
        const started = Date.now();
        const verdict = await followUpdate(ctx, opts, state, before, since, progress(task));
        state.result = verdict;
        state.updateMs = Date.now() - started;
        if (verdict.result !== 'converged') {
          const docker = await ctx.docker();
          const api = await findService(docker, API_NAME(ctx));
          if (api) state.evidence = await taskEvidence(ctx, api, await failedNewTasks(ctx, api, opts.imageRef, since)).catch((e: unknown) => `(no evidence: ${messageOf(e)})`);
          throw swarmFailure(ctx, opts, state);
        }
        task.title = `${API_NAME(ctx)}: ${state.replicas} task(s) of ${opts.imageRef} running and healthy after ${formatDuration(state.updateMs)} (${verdict.message})`;
      },
    },
    {
      name: 'converge',
      title: 'Wait until every service of the stack runs its replicas',
      plan: () => 'wait until every service runs its replicas',
      run: async (task) => {
        const docker = await ctx.docker();
        const names = (await stackServices(docker, ctx.projectName)).map((s) => s.Spec.Name ?? '').filter((n) => n && n !== API_NAME(ctx));
        state.unconverged = await waitServicesConverged(ctx, names, Date.now() + Math.max(opts.healthTimeoutMs, 60_000), progress(task));
        if (state.unconverged.length) {
          ctx.output.warn(`not every service runs its replicas: ${state.unconverged.join(', ')}`);
          task.skip(`Not converged: ${state.unconverged.join(', ')}`);
          return;
        }
        task.title = `Every service of ${ctx.projectName} runs its replicas`;
      },
    },
  ];

  return {
    prepare,
    migrate,
    roll,
    retire: [],
    expectedVersion: () => opts.version,
    replicas: () => state.replicas,
    firstDeploy: () => state.firstDeploy,
    // Swarm rolls a failed update back by itself (failure_action: rollback): say how it ended.
    undo: async (failure: Failure): Promise<Failure> => ({ result: isShopctlError(failure.error) && failure.error.exitCode === ExitCode.ROLLED_BACK ? 'rolled_back' : 'failed', error: failure.error }),
    report: () => swarmReport(state, ctx.projectName),
  };
}

/** The error for an update that did not complete: exit 5 when the previous version serves again. */
function swarmFailure(ctx: Context, opts: SwarmRolloutOptions, state: SwarmRolloutState): ShopctlError {
  const v = state.result;
  const name = API_NAME(ctx);
  if (v?.result === 'rolled_back') {
    const why = state.requestedRollback ? `${state.requestedRollback}, so shopctl asked swarm to roll ${name} back (${v.message})` : `swarm rolled ${name} back: ${state.rollbackReason ?? v.message}`;
    return new ShopctlError(`${opts.version} failed: ${why}`, {
      exitCode: ExitCode.ROLLED_BACK,
      detail: state.evidence,
      hint: `The previous version${state.previousImage ? ` (${state.previousImage})` : ''} kept serving throughout. The output above says why the new tasks failed.`,
    });
  }
  if (v?.result === 'paused') {
    return new ShopctlError(`The update of ${name} to ${opts.version} is paused: ${v.message}`, {
      detail: state.evidence,
      hint: `Old and new tasks may both run. Roll back with \`docker service rollback ${name}\`, or fix the cause and deploy again.`,
    });
  }
  if (v?.result === 'rollback_paused') {
    return new ShopctlError(`Swarm could not finish rolling ${name} back: ${v.message}`, {
      detail: state.evidence,
      hint: `Look at \`docker service ps --no-trunc ${name}\`; \`docker service update --rollback ${name}\` retries.`,
    });
  }
  return new ShopctlError(`${name} did not converge on ${opts.version}: ${v?.message ?? 'unknown'}`, {
    exitCode: ExitCode.UNHEALTHY,
    detail: state.evidence,
    hint: state.firstDeploy ? 'First deploy: nothing to roll back to; the services are left for inspection (docker service ps --no-trunc).' : undefined,
  });
}

/** What a swarm deploy or rollback reports once its rollout ran: the summary's parts, --json fields, exit code. */
function swarmReport(s: SwarmRolloutState, stack: string): ReturnType<Rollout['report']> {
  const lines: string[] = [];
  if (s.updateMs !== undefined && s.updated) lines.push(`  rolling update: ${formatDuration(s.updateMs)} (${s.result?.message ?? ''})`);
  if (s.migrations !== undefined) lines.push('  migrations applied by a one-off swarm job');
  if (s.unconverged.length) lines.push(`  NOT converged: ${s.unconverged.join(', ')}`);
  return {
    headline: s.firstDeploy
      ? `first deploy, stack started with ${s.replicas} api replica(s)`
      : s.updated
        ? `swarm replaced the api tasks one by one (start-first)${s.previousImage ? `, from ${s.previousImage}` : ''}, ${s.replicas} running`
        : `the api service was already on it (${s.replicas} running); the stack was redeployed`,
    lines,
    data: {
      stack,
      firstDeploy: s.firstDeploy,
      previousImage: s.previousImage,
      replicas: s.replicas,
      update: s.result ? { result: s.result.result, message: s.result.message, durationMs: s.updateMs ?? null } : null,
      unconverged: s.unconverged,
    },
    exitCode: s.unconverged.length ? ExitCode.UNHEALTHY : ExitCode.OK,
  };
}
