import type { ListrTask } from 'listr2';
import type Docker from 'dockerode';
import type { Context } from '../context.js';
import { ShopctlError, messageOf } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { run, runChecked, lastLines } from '../run.js';
import { scaleUp, up, run as composeRun } from '../compose/commands.js';
import { SERVICE_ADDRESS, readUpstreamServers, replaceUpstreamServers, serverAddress } from '../core/upstream.js';
import { jsonBody, request } from '../core/http.js';
import { formatDuration } from '../core/time.js';
import { displayName, findContainers, publishedAddress, sharedNetworkIp, shortId } from '../docker/containers.js';
import { describeFailure, exitedCleanly, waitHealthy } from '../docker/health.js';
import { readUpstreamFile, switchUpstream } from '../docker/nginx.js';
import { SERVICES } from './shared.js';
import { swarmProxyEndpoint } from './swarm-status.js';
import { progress } from '../output.js';

/** `node api/dist/cli/migrate.js` in a one-off container of the new image (docs/architecture.md, "The image"). */
export const MIGRATE_COMMAND = ['node', 'api/dist/cli/migrate.js'] as const;

export interface RolloutOptions {
  version: string;
  imageRef: string;
  imageId: string;
  /** Replicas to run; default: as many as run now (at least 1), or the compose file's deploy.replicas on a first deploy. */
  replicas?: number | undefined;
  defaultReplicas?: number | undefined;
  healthTimeoutMs: number;
  drainTimeoutMs: number;
  /** Environment for every Compose call (APP_VERSION, ...): what selects the new image. */
  composeEnv: Record<string, string>;
  runMigrations: boolean;
  /** Services the compose model defines, to bring up on a first deploy. */
  services: readonly string[];
}

/** What happened so far: drives the listr titles, the undo on failure, the release record and --json. */
export interface RolloutState {
  firstDeploy: boolean;
  oldIds: string[];
  newIds: string[];
  replicas: number;
  proxyId?: string | undefined;
  originalUpstream?: string | undefined;
  oldAddresses: string[];
  switched: boolean;
  oldRemoved: boolean;
  drainMs?: number | undefined;
  migrations?: string | undefined;
  smoke?: { requests: number; version: string | null } | undefined;
  /** What the new containers' /health will report (their APP_VERSION), when the image sets one. */
  reportedVersion?: string | undefined;
  removedLeftovers: string[];
  startedSupporting: string[];
}

export function newRolloutState(): RolloutState {
  return { firstDeploy: false, oldIds: [], newIds: [], replicas: 0, oldAddresses: [], switched: false, oldRemoved: false, removedLeftovers: [], startedSupporting: [] };
}

/** The version a container's /health reports: its APP_VERSION (the image sets it from the build argument). */
function appVersionOf(info: Docker.ContainerInspectInfo): string | undefined {
  const entry = (info.Config.Env ?? []).find((e) => e.startsWith('APP_VERSION='));
  return entry ? entry.slice('APP_VERSION='.length) : undefined;
}

/** The proxy's published HTTPS address (0.0.0.0 -> 127.0.0.1): what an operator's browser would reach. */
export async function proxyEndpoint(ctx: Context): Promise<{ https?: { host: string; port: number }; http?: { host: string; port: number }; proxy?: Docker.ContainerInspectInfo }> {
  if (ctx.orchestrator === 'swarm') return swarmProxyEndpoint(ctx);
  const docker = await ctx.docker();
  const proxy = (await findContainers(docker, ctx.projectName, { service: SERVICES.proxy })).at(-1);
  if (!proxy) throw new ShopctlError('The proxy service is not running', { exitCode: ExitCode.PREFLIGHT });
  const info = await docker.getContainer(proxy.Id).inspect();
  return { https: publishedAddress(info, '8443/tcp'), http: publishedAddress(info, '8080/tcp'), proxy: info };
}

function urlOf(a: { host: string; port: number }, scheme: 'https' | 'http', path: string): string {
  const host = a.host.includes(':') ? `[${a.host}]` : a.host;
  return `${scheme}://${host}:${a.port}${path}`;
}

/**
 * Requests through the published proxy port, as a client would: /health/ready must answer 200
 * and /health must report the expected version every time (so nginx routes to nothing else).
 */
export async function smokeCheck(ctx: Context, expectVersion: string | undefined, requests = 6): Promise<{ requests: number; version: string | null }> {
  const { https } = await proxyEndpoint(ctx);
  if (!https) throw new ShopctlError('The proxy publishes no HTTPS port (8443/tcp)', { exitCode: ExitCode.PREFLIGHT });
  let seen: string | null = null;
  for (let i = 0; i < requests; i += 1) {
    const ready = await request(urlOf(https, 'https', '/health/ready'), { timeoutMs: 5000 });
    if (ready.status !== 200) throw new ShopctlError(`Smoke check: GET /health/ready through nginx answered ${ready.status}`, { detail: ready.body.slice(0, 500) });
    const health = await request(urlOf(https, 'https', '/health'), { timeoutMs: 5000 });
    const body = jsonBody<{ status?: string; version?: string }>(health);
    if (health.status !== 200) throw new ShopctlError(`Smoke check: GET /health through nginx answered ${health.status}`, { detail: health.body.slice(0, 500) });
    if (expectVersion && body?.version && body.version !== expectVersion) {
      throw new ShopctlError(`Smoke check: nginx still reaches version ${body.version}, expected ${expectVersion}`);
    }
    seen = body?.version ?? null;
  }
  return { requests: requests * 2, version: seen };
}

async function apiContainers(ctx: Context, all = false): Promise<Docker.ContainerInfo[]> {
  return findContainers(await ctx.docker(), ctx.projectName, { service: SERVICES.api, all });
}

async function backendAddresses(docker: Docker, ids: readonly string[], proxy: Docker.ContainerInspectInfo): Promise<string[]> {
  const out: string[] = [];
  for (const id of ids) {
    const info = await docker.getContainer(id).inspect();
    const net = sharedNetworkIp(info, proxy);
    if (!net) throw new ShopctlError(`${displayName(info)} shares no network with the proxy`, { hint: 'api and proxy must both be on the backend network.' });
    out.push(serverAddress(net.ip, 8000));
  }
  return out;
}

async function removeContainers(docker: Docker, ids: readonly string[], graceful: boolean): Promise<void> {
  for (const id of ids) {
    const c = docker.getContainer(id);
    try {
      // Graceful: no timeout argument, so Docker waits the container's stop_grace_period after SIGTERM.
      if (graceful) await c.stop().catch((e: { statusCode?: number }) => {
        if (e.statusCode !== 304) throw e;
      });
      await c.remove({ force: true, v: true });
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    }
  }
}

/** Health progress as one line per change: `shop_api_3: starting, shop_api_4: healthy`. */
function showStates(task: { output: string | unknown }): (states: Array<{ name: string; state: string }>) => void {
  const show = progress(task);
  return (states) => show(states.map((x) => `${x.name}: ${x.state}`).join(', '));
}

/** The steps of a deploy or rollback after the image exists; each one a task with its own title. */
export function rolloutTasks(ctx: Context, opts: RolloutOptions, state: RolloutState): Array<ListrTask<object>> {
  const composeRunOpts = { env: opts.composeEnv, signal: ctx.signal };
  return [
    {
      title: 'Inspect the running stack',
      task: async (_c, task) => {
        const docker = await ctx.docker();
        const all = await apiContainers(ctx, true);
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
          state.proxyId = proxy.Id;
          state.originalUpstream = await readUpstreamFile(docker, proxy.Id);
          if (!readUpstreamServers(state.originalUpstream)) {
            throw new ShopctlError('The proxy\'s upstream file has no "upstream api { ... }" block', { exitCode: ExitCode.PREFLIGHT, detail: state.originalUpstream });
          }
        }
        task.title = state.firstDeploy
          ? `First deploy: no api container runs yet; ${state.replicas} replica(s) to start`
          : `Running: ${running.length} api container(s) (${running.map((c) => displayName(c)).join(', ')}); ${state.replicas} new replica(s) to start${stopped.length ? `; removed ${stopped.length} stopped leftover(s)` : ''}`;
      },
    },
    {
      title: 'Start the database and cache',
      task: async (_c, task) => {
        const docker = await ctx.docker();
        const wanted = [SERVICES.db, SERVICES.cache].filter((s) => opts.services.includes(s));
        const missing: string[] = [];
        for (const s of wanted) if ((await findContainers(docker, ctx.projectName, { service: s })).length === 0) missing.push(s);
        if (missing.length === 0) {
          task.skip('Database and cache already run');
          return;
        }
        await runChecked(up(await ctx.compose(), { services: missing, noDeps: true, noRecreate: true, noBuild: true }), `starting ${missing.join(', ')}`, composeRunOpts);
        const ids = (await Promise.all(missing.map((s) => findContainers(docker, ctx.projectName, { service: s })))).flat().map((c) => c.Id);
        await waitHealthy(docker, ids, { timeoutMs: opts.healthTimeoutMs, signal: ctx.signal });
        state.startedSupporting = missing;
        task.title = `Started ${missing.join(', ')}`;
      },
    },
    {
      title: 'Run database migrations (one-off container of the new image)',
      enabled: () => opts.runMigrations,
      task: async (_c, task) => {
        const argv = composeRun(await ctx.compose(), SERVICES.api, MIGRATE_COMMAND, { noDeps: true });
        const r = await run(argv, { ...composeRunOpts, timeoutMs: 10 * 60_000, onLine: (l) => (task.output = l) });
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
    {
      title: 'Start the stack',
      enabled: () => state.firstDeploy,
      task: async (_c, task) => {
        const docker = await ctx.docker();
        await runChecked(up(await ctx.compose(), { noBuild: true, scale: { [SERVICES.api]: state.replicas } }), 'docker compose up', {
          ...composeRunOpts,
          exitCode: ExitCode.UNHEALTHY,
        });
        const ids = (await findContainers(docker, ctx.projectName, { all: true })).map((c) => c.Id);
        state.newIds = (await apiContainers(ctx, true)).map((c) => c.Id);
        if (state.newIds[0]) state.reportedVersion = appVersionOf(await docker.getContainer(state.newIds[0]).inspect());
        await waitHealthy(docker, ids, {
          timeoutMs: opts.healthTimeoutMs,
          signal: ctx.signal,
          completedOk: exitedCleanly,
          onProgress: showStates(task),
        });
        task.title = `Stack up: ${ids.length} container(s) healthy`;
      },
    },
    {
      title: 'Start the new api containers beside the old ones',
      enabled: () => !state.firstDeploy,
      task: async (_c, task) => {
        const docker = await ctx.docker();
        const before = new Set((await apiContainers(ctx, true)).map((c) => c.Id));
        const target = state.oldIds.length + state.replicas;
        const r = await run(scaleUp(await ctx.compose(), SERVICES.api, target), composeRunOpts);
        // Whatever compose managed to create before failing is ours to remove on the way out.
        state.newIds = (await apiContainers(ctx, true)).map((c) => c.Id).filter((id) => !before.has(id));
        if (r.exitCode !== 0) throw new ShopctlError(`docker compose up --scale ${SERVICES.api}=${target} failed (exit code ${r.exitCode})`, { detail: lastLines(`${r.stderr}\n${r.stdout}`, 15) });
        if (state.newIds.length !== state.replicas) {
          throw new ShopctlError(`Expected ${state.replicas} new api container(s), compose created ${state.newIds.length}`, { hint: 'Does the api service set container_name or a fixed host port? Both prevent scaling.' });
        }
        for (const id of state.newIds) {
          const info = await docker.getContainer(id).inspect();
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
      title: 'Wait until the new containers are healthy',
      enabled: () => !state.firstDeploy,
      task: async (_c, task) => {
        const started = Date.now();
        await waitHealthy(await ctx.docker(), state.newIds, {
          timeoutMs: opts.healthTimeoutMs,
          signal: ctx.signal,
          acceptRunningWithoutCheck: false,
          onProgress: showStates(task),
        });
        task.title = `New containers healthy after ${formatDuration(Date.now() - started)}`;
      },
    },
    {
      title: 'Switch nginx to the new containers and let the old ones drain',
      enabled: () => !state.firstDeploy,
      task: async (_c, task) => {
        const docker = await ctx.docker();
        const proxy = await docker.getContainer(state.proxyId ?? '').inspect();
        state.oldAddresses = await backendAddresses(docker, state.oldIds, proxy);
        const addresses = await backendAddresses(docker, state.newIds, proxy);
        const content = replaceUpstreamServers(state.originalUpstream ?? '', addresses);
        state.switched = true;
        const r = await switchUpstream(docker, proxy.Id, content, state.originalUpstream ?? '', { drainTimeoutMs: opts.drainTimeoutMs, signal: ctx.signal });
        state.drainMs = r.drainMs;
        if (r.leftOver) ctx.output.warn(`${r.leftOver} old nginx worker(s) still finishing requests after ${formatDuration(opts.drainTimeoutMs)}`);
        task.title = `nginx now sends requests to ${addresses.join(', ')} (old workers drained in ${formatDuration(r.drainMs)})`;
      },
    },
    {
      title: 'Smoke-check through nginx',
      task: async (_c, task) => {
        state.smoke = await smokeCheck(ctx, state.reportedVersion);
        task.title = `Smoke check passed: ${state.smoke.requests} requests through nginx${state.smoke.version ? `, version ${state.smoke.version}` : ''}`;
      },
    },
    {
      title: 'Stop and remove the old containers',
      enabled: () => !state.firstDeploy,
      task: async (_c, task) => {
        await removeContainers(await ctx.docker(), state.oldIds, true);
        state.oldRemoved = true;
        task.title = `Stopped and removed ${state.oldIds.length} old container(s)`;
      },
    },
    {
      title: 'Point nginx back at the service name',
      enabled: () => !state.firstDeploy,
      task: async (_c, task) => {
        const docker = await ctx.docker();
        const proxyId = state.proxyId ?? '';
        // Docker DNS now lists only the new containers, so a later proxy restart and this config agree.
        const content = replaceUpstreamServers(state.originalUpstream ?? '', [SERVICE_ADDRESS]);
        const current = await readUpstreamFile(docker, proxyId);
        try {
          await switchUpstream(docker, proxyId, content, current, { drainTimeoutMs: opts.drainTimeoutMs, signal: ctx.signal });
          await smokeCheck(ctx, state.reportedVersion, 2);
          task.title = `nginx upstream is ${SERVICE_ADDRESS} again`;
        } catch (error) {
          // The address list was verified a moment ago: go back to it rather than fail a finished deploy.
          await switchUpstream(docker, proxyId, current, content, { drainTimeoutMs: opts.drainTimeoutMs, signal: ctx.signal });
          ctx.output.warn(`kept the new containers' addresses in the nginx upstream: switching back to ${SERVICE_ADDRESS} failed (${messageOf(error)})`);
          task.skip('Upstream left on the new containers\' addresses');
        }
      },
    },
  ];
}

/**
 * Points nginx at the api containers as Docker DNS lists them now. Needed whenever api
 * containers were stopped and started again (restore): they may come back with other
 * addresses, and nginx 1.22 keeps the ones it resolved at its last reload.
 */
export async function refreshProxyUpstream(ctx: Context, drainTimeoutMs = 30_000): Promise<boolean> {
  const docker = await ctx.docker();
  const proxy = (await findContainers(docker, ctx.projectName, { service: SERVICES.proxy })).at(-1);
  if (!proxy) return false;
  const current = await readUpstreamFile(docker, proxy.Id);
  await switchUpstream(docker, proxy.Id, replaceUpstreamServers(current, [SERVICE_ADDRESS]), current, { drainTimeoutMs, signal: ctx.signal });
  return true;
}

/**
 * Puts things back after a failure once new containers exist: nginx to the old containers (if
 * it was switched), the new containers removed, nginx back to the service name. Returns what it did.
 */
export async function undoRollout(ctx: Context, opts: RolloutOptions, state: RolloutState): Promise<string[]> {
  const notes: string[] = [];
  const docker = await ctx.docker();
  if (state.firstDeploy) {
    notes.push('first deploy: nothing to roll back to; the containers are left for inspection (docker compose ps / logs)');
    return notes;
  }
  if (state.oldRemoved) {
    notes.push('the old containers were already removed: the new version stays');
    return notes;
  }
  const proxyId = state.proxyId ?? '';
  if (state.switched && state.oldAddresses.length) {
    const current = await readUpstreamFile(docker, proxyId);
    await switchUpstream(docker, proxyId, replaceUpstreamServers(state.originalUpstream ?? current, state.oldAddresses), current, { drainTimeoutMs: opts.drainTimeoutMs });
    notes.push(`nginx switched back to the old containers (${state.oldAddresses.join(', ')})`);
  }
  if (state.newIds.length) {
    await removeContainers(docker, state.newIds, false);
    notes.push(`removed the new container(s): ${state.newIds.map(shortId).join(', ')}`);
  }
  if (state.switched && state.originalUpstream) {
    const current = await readUpstreamFile(docker, proxyId);
    await switchUpstream(docker, proxyId, state.originalUpstream, current, { drainTimeoutMs: opts.drainTimeoutMs });
    notes.push('nginx upstream restored as it was');
  }
  const still = await apiContainers(ctx);
  notes.push(`${still.length} old container(s) keep serving`);
  return notes;
}

/** The evidence for a failed rollout: what each new container's health checks and logs said. */
export async function failureEvidence(ctx: Context, state: RolloutState): Promise<string | undefined> {
  if (!state.newIds.length) return undefined;
  const docker = await ctx.docker();
  const parts: string[] = [];
  for (const id of state.newIds.slice(0, 2)) parts.push(await describeFailure(docker, id, 20));
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
