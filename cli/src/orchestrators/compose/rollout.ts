import type Docker from 'dockerode';
import type { Context } from '../../context.js';
import { ShopctlError, isShopctlError, messageOf } from '../../errors.js';
import { ExitCode } from '../../exit-codes.js';
import { run, runChecked, lastLines } from '../../run.js';
import { scaleUp, up, run as composeRun } from '../../compose/commands.js';
import { formatDuration } from '../../time.js';
import { displayName, findContainers, inspectContainer, removeContainers, shortId } from '../../docker/containers.js';
import { describeFailure, exitedCleanly, waitHealthy } from '../../docker/health.js';
import { assertAbandoned, clearJournal, JOURNAL_FILE, leftoverContainers, readJournal, writeJournal } from '../../state/rollout-journal.js';
import { MIGRATE_COMMAND, SERVICES, type Failure, type Rollout, type RolloutOptions, type RolloutStep, type TaskHandle } from '../orchestrator.js';
import { socketSlotSwitch, type TrafficSwitch } from './traffic.js';

/**
 * The zero-downtime rolling update on one host: new api containers start beside the old ones,
 * become healthy, are admitted to nginx's socket slots, and the old ones stop (handing their
 * slots over first, then draining). nginx itself is never reloaded (docs/stack.md).
 */

/** What happened so far: drives the titles, the undo on failure, the release record and --json. */
export interface ComposeRolloutState {
  firstDeploy: boolean;
  oldIds: string[];
  newIds: string[];
  replicas: number;
  switched: boolean;
  oldRemoved: boolean;
  drainMs?: number | undefined;
  migrations?: string | undefined;
  /** What the new containers' /health will report (their APP_VERSION), when the image sets one. */
  reportedVersion?: string | undefined;
  removedLeftovers: string[];
  /** Api containers a killed rollout left (its journal said which), removed before counting. */
  removedAbandoned: string[];
  /** The journal is written: new api containers may exist from here on. */
  startingNew: boolean;
  startedSupporting: string[];
}

/** The version a container's /health reports: its APP_VERSION (the image sets it from the build argument). */
function appVersionOf(info: Docker.ContainerInspectInfo): string | undefined {
  const entry = (info.Config.Env ?? []).find((e) => e.startsWith('APP_VERSION='));
  return entry ? entry.slice('APP_VERSION='.length) : undefined;
}

/** Health progress as one line per change: `shop_api_3: starting, shop_api_4: healthy`. */
function showStates(task: TaskHandle): (states: Array<{ name: string; state: string }>) => void {
  let last = '';
  return (states) => {
    const line = states.map((x) => `${x.name}: ${x.state}`).join(', ');
    if (line !== last) task.output = last = line;
  };
}

export function composeRollout(ctx: Context, opts: RolloutOptions, now: { names: string[] }): Rollout {
  const state: ComposeRolloutState = { firstDeploy: false, oldIds: [], newIds: [], replicas: 0, switched: false, oldRemoved: false, removedLeftovers: [], removedAbandoned: [], startingNew: false, startedSupporting: [] };
  const journalPath = ctx.statePath(JOURNAL_FILE);
  const runOpts = { env: opts.env, signal: ctx.signal };
  const services = [...opts.model.services.keys()];
  const apiContainers = async (all = false) => findContainers(await ctx.docker(), ctx.projectName, { service: SERVICES.api, all });
  let traffic: TrafficSwitch | undefined;
  const notFirst = () => !state.firstDeploy;
  const plannedReplicas = () => opts.replicas ?? (now.names.length ? now.names.length : (opts.defaultReplicas ?? 1));

  const prepare: RolloutStep[] = [
    {
      name: 'inspect',
      title: 'Inspect the running stack',
      plan: () => (now.names.length ? `${now.names.length} api container(s) run: ${now.names.join(', ')}` : 'no api container runs: first deploy'),
      run: async (task) => {
        const docker = await ctx.docker();
        state.removedAbandoned = await removeAbandoned(docker, journalPath, (await apiContainers(true)).map((c) => c.Id));
        const all = await apiContainers(true);
        // Stopped api containers would be started again by `up --scale` with their old image: remove them first.
        const stopped = all.filter((c) => c.State !== 'running');
        await removeContainers(docker, stopped.map((c) => c.Id), false);
        state.removedLeftovers = stopped.map((c) => displayName(c));
        const running = all.filter((c) => c.State === 'running');
        state.oldIds = running.map((c) => c.Id);
        state.firstDeploy = running.length === 0;
        state.replicas = opts.replicas ?? (state.firstDeploy ? (opts.defaultReplicas ?? 1) : Math.max(running.length, 1));
        if (!state.firstDeploy) {
          const proxy = (await findContainers(docker, ctx.projectName, { service: SERVICES.proxy })).at(-1);
          if (!proxy) throw new ShopctlError('api containers run but the proxy does not: refusing a rolling update without nginx', { exitCode: ExitCode.PREFLIGHT, hint: 'Start it (docker compose up -d proxy) and deploy again.' });
          traffic = socketSlotSwitch(docker, { timeoutMs: 20_000 });
        }
        task.title = state.firstDeploy
          ? `First deploy: no api container runs yet; ${state.replicas} replica(s) to start`
          : `Running: ${running.length} api container(s) (${running.map((c) => displayName(c)).join(', ')}); ${state.replicas} new replica(s) to start${stopped.length ? `; removed ${stopped.length} stopped leftover(s)` : ''}`;
        if (state.removedAbandoned.length) task.title += `; removed ${state.removedAbandoned.length} container(s) of a killed rollout (${state.removedAbandoned.map(shortId).join(', ')})`;
      },
    },
    {
      name: 'supporting services',
      title: 'Start the database and cache',
      plan: () => 'start db and cache when they do not run',
      run: async (task) => {
        const docker = await ctx.docker();
        const wanted = [SERVICES.db, SERVICES.cache].filter((s) => services.includes(s));
        const missing: string[] = [];
        for (const s of wanted) if ((await findContainers(docker, ctx.projectName, { service: s })).length === 0) missing.push(s);
        if (missing.length === 0) {
          task.skip('Database and cache already run');
          return;
        }
        await runChecked(up(await ctx.compose(), { services: missing, noDeps: true, noRecreate: true, noBuild: true }), `starting ${missing.join(', ')}`, runOpts);
        const ids = (await Promise.all(missing.map((s) => findContainers(docker, ctx.projectName, { service: s })))).flat().map((c) => c.Id);
        await waitHealthy(docker, ids, { timeoutMs: opts.healthTimeoutMs, signal: ctx.signal });
        state.startedSupporting = missing;
        task.title = `Started ${missing.join(', ')}`;
      },
    },
  ];

  const migrate: RolloutStep[] = [
    {
      name: 'migrations',
      title: 'Run database migrations (one-off container of the new image)',
      enabled: () => opts.runMigrations,
      plan: () => (opts.runMigrations ? `one-off: ${opts.imageRef} ${MIGRATE_COMMAND.join(' ')}` : undefined),
      run: async (task) => {
        const argv = composeRun(await ctx.compose(), SERVICES.api, MIGRATE_COMMAND, { noDeps: true });
        const r = await run(argv, { ...runOpts, timeoutMs: 10 * 60_000, onLine: (l) => (task.output = l) });
        state.migrations = lastLines(`${r.stdout}\n${r.stderr}`, 20);
        if (r.exitCode !== 0) {
          throw new ShopctlError(`Migrations failed (exit code ${r.exitCode}); nothing else was changed`, {
            detail: state.migrations,
            hint: `The running version keeps serving. ${migrationHint(state.migrations)}`,
          });
        }
        task.title = 'Migrations applied';
      },
    },
  ];

  const roll: RolloutStep[] = [
    {
      name: 'first deploy',
      title: 'Start the stack',
      enabled: () => state.firstDeploy,
      plan: () => (now.names.length ? undefined : `docker compose up (api x${plannedReplicas()}), wait until every service is healthy`),
      run: async (task) => {
        const docker = await ctx.docker();
        try {
          await runChecked(up(await ctx.compose(), { noBuild: true, scale: { [SERVICES.api]: state.replicas } }), 'docker compose up', { ...runOpts, exitCode: ExitCode.UNHEALTHY });
        } catch (err) {
          // Compose names only the container id of a one-shot that exited non-zero: say which
          // service it was and what it printed.
          if (!isShopctlError(err)) throw err;
          const stopped = (await findContainers(docker, ctx.projectName, { all: true }).catch(() => [])).filter((c) => c.State === 'exited');
          const failed = (await Promise.all(stopped.map((c) => inspectContainer(docker, c.Id).catch(() => undefined)))).filter((i) => i !== undefined && i.State.ExitCode !== 0);
          if (!failed.length) throw err;
          const why = await Promise.all(failed.map((i) => describeFailure(docker, i!.Id, 15)));
          throw new ShopctlError(err.message, { exitCode: err.exitCode, detail: [err.detail, ...why].filter(Boolean).join('\n'), hint: err.hint, details: err.details });
        }
        const ids = (await findContainers(docker, ctx.projectName, { all: true })).map((c) => c.Id);
        state.newIds = (await apiContainers(true)).map((c) => c.Id);
        if (state.newIds[0]) state.reportedVersion = appVersionOf(await inspectContainer(docker, state.newIds[0]));
        await waitHealthy(docker, ids, { timeoutMs: opts.healthTimeoutMs, signal: ctx.signal, completedOk: exitedCleanly, onProgress: showStates(task) });
        task.title = `Stack up: ${ids.length} container(s) healthy`;
      },
    },
    {
      name: 'start new',
      title: 'Start the new api containers beside the old ones',
      enabled: notFirst,
      plan: () => (now.names.length ? `start ${plannedReplicas()} new api beside ${now.names.length} old (${now.names.join(', ')})` : undefined),
      run: async (task) => {
        const docker = await ctx.docker();
        const before = new Set((await apiContainers(true)).map((c) => c.Id));
        const target = state.oldIds.length + state.replicas;
        // Before compose creates anything: a run killed from here on leaves what the next one removes.
        await writeJournal(journalPath, { phase: 'start', oldIds: state.oldIds, newIds: [] });
        state.startingNew = true;
        const r = await run(scaleUp(await ctx.compose(), SERVICES.api, target), runOpts);
        // Whatever compose managed to create before failing is ours to remove on the way out.
        state.newIds = (await apiContainers(true)).map((c) => c.Id).filter((id) => !before.has(id));
        if (r.exitCode !== 0) throw new ShopctlError(`docker compose up --scale ${SERVICES.api}=${target} failed (exit code ${r.exitCode})`, { detail: lastLines(`${r.stderr}\n${r.stdout}`, 15) });
        if (state.newIds.length !== state.replicas) {
          throw new ShopctlError(`Expected ${state.replicas} new api container(s), compose created ${state.newIds.length}`, { hint: 'Does the api service set container_name or a fixed host port? Both prevent scaling.' });
        }
        for (const id of state.newIds) {
          const info = await inspectContainer(docker, id);
          state.reportedVersion ??= appVersionOf(info);
          const test = info.Config.Healthcheck?.Test;
          if (!test?.length || test[0] === 'NONE') {
            throw new ShopctlError(`${displayName(info)} has no health check: shopctl cannot tell when a new container is ready`, {
              hint: 'Give the image a HEALTHCHECK (or the api service a healthcheck:) that answers only when it can serve.',
            });
          }
          if (info.Image !== opts.imageId) {
            throw new ShopctlError(`${displayName(info)} runs image ${shortId(info.Image)}, not ${opts.imageRef} (${shortId(opts.imageId)})`, {
              hint: 'The api service\'s image must be ${API_IMAGE}:${APP_VERSION} so that shopctl selects the version.',
            });
          }
        }
        task.title = `Started ${state.newIds.length} new api container(s) from ${opts.imageRef}`;
      },
    },
    {
      name: 'wait healthy',
      title: 'Wait until the new containers are healthy',
      enabled: notFirst,
      plan: () => (now.names.length ? `wait until healthy (at most ${formatDuration(opts.healthTimeoutMs)})` : undefined),
      run: async (task) => {
        const started = Date.now();
        await waitHealthy(await ctx.docker(), state.newIds, { timeoutMs: opts.healthTimeoutMs, signal: ctx.signal, acceptRunningWithoutCheck: false, onProgress: showStates(task) });
        task.title = `New containers healthy after ${formatDuration(Date.now() - started)}`;
      },
    },
    {
      name: 'switch',
      title: "Admit the new containers to nginx's socket slots",
      enabled: notFirst,
      plan: () => (now.names.length ? "admit the new containers to nginx's socket slots (no nginx reload)" : undefined),
      run: async (task) => {
        if (!traffic) throw new ShopctlError('no proxy to switch');
        state.switched = true;
        const r = await traffic.admit(state.newIds);
        task.title = `nginx now also sends requests to ${r.admitted.join(', ')}`;
      },
    },
  ];

  const retire: RolloutStep[] = [
    {
      name: 'stop old',
      title: 'Stop and remove the old containers',
      enabled: notFirst,
      plan: () => (now.names.length ? `stop and remove ${now.names.join(', ')}` : undefined),
      run: async (task) => {
        // Each hands its slots to the new ones, finishes its requests, waits for nginx to let go of its connections.
        const started = Date.now();
        // Past the point of no return: a run killed from here on leaves old containers, not new ones, to remove.
        await writeJournal(journalPath, { phase: 'retire', oldIds: state.oldIds, newIds: state.newIds });
        await removeContainers(await ctx.docker(), state.oldIds, true);
        state.oldRemoved = true;
        await clearJournal(journalPath);
        state.drainMs = Date.now() - started;
        task.title = `Stopped and removed ${state.oldIds.length} old container(s) (drained in ${formatDuration(state.drainMs)})`;
      },
    },
    {
      // Only once the old containers are gone: a deploy that fails earlier leaves the old pages.
      name: 'storefront',
      title: "Copy the new version's storefront into the proxy's files",
      enabled: () => notFirst() && services.includes(SERVICES.storefront),
      plan: () => (now.names.length && services.includes(SERVICES.storefront) ? `one-off: ${opts.imageRef} copies its storefront for nginx` : undefined),
      run: async (task) => {
        // The service's own command (a copy, then index.html renamed into place) in the new image.
        // STOREFRONT_IDLE=false: the production service idles after copying (for swarm); this run must end.
        const argv = composeRun(await ctx.compose(), SERVICES.storefront, [], { noDeps: true, env: { STOREFRONT_IDLE: 'false' } });
        await runChecked(argv, 'copying the storefront', runOpts);
        task.title = 'Storefront of the new version published (old hashed assets kept for open pages)';
      },
    },
  ];

  /**
   * Puts things back after a failure once new containers exist: the new containers stopped (once
   * admitted, they hand their slots back to the old ones and drain first) and removed.
   */
  const putBack = async (): Promise<string[]> => {
    const notes: string[] = [];
    if (state.firstDeploy) return ['first deploy: nothing to roll back to; the containers are left for inspection (docker compose ps / logs)'];
    if (state.oldRemoved) return ['the old containers were already removed: the new version stays'];
    if (state.startingNew) {
      // Every api container that did not run before: also those compose created before an interrupt cut it short.
      const old = new Set(state.oldIds);
      state.newIds = [...new Set([...state.newIds, ...(await apiContainers(true)).map((c) => c.Id).filter((id) => !old.has(id))])];
    }
    if (state.newIds.length) {
      await removeContainers(await ctx.docker(), state.newIds, state.switched);
      notes.push(`${state.switched ? 'stopped (drained) and ' : ''}removed the new container(s): ${state.newIds.map(shortId).join(', ')}`);
    }
    if (state.startingNew) await clearJournal(journalPath);
    notes.push(`${(await apiContainers()).length} old container(s) keep serving`);
    return notes;
  };

  const undo = async (failure: Failure): Promise<Failure> => {
    const { error } = failure;
    const evidence = state.newIds.length ? await failureEvidence(await ctx.docker(), state.newIds).catch(() => undefined) : undefined;
    let notes: string[] = [];
    let undoError: unknown;
    try {
      notes = await putBack();
    } catch (e) {
      undoError = e;
    }
    const message = messageOf(error);
    const rolledBack = state.newIds.length > 0 && !state.firstDeploy && !state.oldRemoved && !undoError;
    const result = rolledBack ? 'rolled_back' : 'failed';
    const known = isShopctlError(error) ? error : undefined;
    if (undoError) {
      return {
        result,
        error: new ShopctlError(`${message}; undoing it failed too: ${messageOf(undoError)}`, {
          exitCode: ExitCode.FAILURE,
          detail: [known?.detail, evidence].filter(Boolean).join('\n') || undefined,
          hint: 'Check shopctl status and the socket slots (docker compose exec api node api/dist/cli/slots.js show).',
        }),
      };
    }
    if (rolledBack) {
      return {
        result,
        error: new ShopctlError(`${opts.version} failed after its containers started: ${message.split('\n')[0]}`, {
          exitCode: ExitCode.ROLLED_BACK,
          detail: [known?.detail ?? evidence, `undo: ${notes.join('; ')}`].filter(Boolean).join('\n'),
          hint: 'The previous version kept serving throughout. The output above says why the new one failed.',
        }),
      };
    }
    if (state.firstDeploy && state.newIds.length) {
      return { result, error: new ShopctlError(message, { exitCode: ExitCode.UNHEALTHY, detail: known?.detail ?? evidence, hint: notes.join('; ') || undefined }) };
    }
    return { result, error };
  };

  return {
    prepare,
    migrate,
    roll,
    retire,
    expectedVersion: () => state.reportedVersion,
    sideBySide: () => !state.firstDeploy,
    replicas: () => state.replicas,
    firstDeploy: () => state.firstDeploy,
    undo,
    report: () => ({
      headline: state.firstDeploy ? 'first deploy, stack started' : `${state.oldIds.length} old -> ${state.newIds.length} new api container(s), zero-downtime switch`,
      lines: state.drainMs !== undefined ? [`  the old containers drained in ${formatDuration(state.drainMs)}`] : [],
      data: {
        firstDeploy: state.firstDeploy,
        oldContainers: state.oldIds.map(shortId),
        newContainers: state.newIds.map(shortId),
        replicas: state.replicas,
        drainMs: state.drainMs ?? null,
      },
      exitCode: 0,
    }),
  };
}

/** Removes what a killed rollout left (its journal names the phase), so it is not counted as replicas; returns their ids. */
async function removeAbandoned(docker: Docker, journalPath: string, apiIds: readonly string[]): Promise<string[]> {
  const journal = await readJournal(journalPath);
  if (!journal) return [];
  assertAbandoned(journal);
  const leftovers = leftoverContainers(journal, apiIds);
  // Gracefully: an admitted container hands its socket slots back before it goes.
  await removeContainers(docker, leftovers, true);
  await clearJournal(journalPath);
  return leftovers;
}

/** The evidence for a failed rollout: what each new container's health checks and logs said. */
async function failureEvidence(docker: Docker, newIds: readonly string[]): Promise<string> {
  const parts: string[] = [];
  for (const id of newIds.slice(0, 2)) parts.push(await describeFailure(docker, id, 20));
  return parts.join('\n');
}

/** The next step after a failed migration run: a failed SQL statement is not the only cause. */
export function migrationHint(output: string): string {
  if (/password authentication failed/i.test(output)) {
    return 'The database refused the password: its volume was created with another one (an older .env, or another environment\'s stack in this Compose project). Restore the old secrets, or deploy into a project of its own (-p).';
  }
  if (/ECONNREFUSED|connection timeout|terminated unexpectedly|ENOTFOUND|EAI_AGAIN/i.test(output)) {
    return 'The database did not answer: check it (docker compose logs db; shopctl health), then deploy again.';
  }
  return 'Fix the migration and deploy again.';
}
