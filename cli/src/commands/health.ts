import type { Command } from 'commander';
import type { Context } from '../context.js';
import type { CommandModule, CommandOutcome } from '../program.js';
import { seconds } from '../program.js';
import { ExitCode } from '../exit-codes.js';
import { messageOf } from '../errors.js';
import { currentRelease, loadHistory } from '../core/releases.js';
import { formatDuration, sleep } from '../core/time.js';
import { renderTable } from '../core/table.js';
import { jsonBody, request } from '../core/http.js';
import { displayName, findContainers, serviceOf, shortId } from '../docker/containers.js';
import { exitedCleanly, healthOf, type HealthState } from '../docker/health.js';
import { proxyEndpoint } from './rollout.js';
import { describeUpdate, renderTasks, swarmSnapshot, type SwarmServiceSnapshot } from './swarm-status.js';

export interface ContainerSnapshot {
  id: string;
  name: string;
  state: HealthState;
  healthy: boolean;
  restarts: number;
  startedAt: string | null;
  uptimeMs: number | null;
  image: string;
  imageId: string;
  version: string | null;
  ports: string[];
}

export interface ServiceSnapshot {
  service: string;
  /** Defined in the compose files (for the active profiles); false for strays found only by label. */
  defined: boolean;
  containers: ContainerSnapshot[];
  healthy: boolean;
}

export interface ApiHealth {
  url: string | null;
  status: number | null;
  healthy: boolean;
  body: unknown;
  error?: string | undefined;
}

/** Every container of the project by label, grouped by service, with the services Compose expects. */
export async function snapshot(ctx: Context): Promise<{ services: ServiceSnapshot[]; expectedKnown: boolean }> {
  const docker = await ctx.docker();
  const containers = await findContainers(docker, ctx.projectName, { all: true });
  const infos = await Promise.all(containers.map((c) => docker.getContainer(c.Id).inspect().catch(() => undefined)));
  let expected: string[] | undefined;
  try {
    const model = await ctx.composeModel();
    expected = [...model.services.values()].filter((s) => s.profiles.length === 0 || s.profiles.some((p) => ctx.profiles.includes(p))).map((s) => s.name);
  } catch (error) {
    ctx.output.warn(`cannot read the compose model (${messageOf(error).split('\n')[0]}); showing running containers only`);
  }
  const byService = new Map<string, ContainerSnapshot[]>();
  const now = Date.now();
  for (const info of infos) {
    if (!info) continue;
    const service = serviceOf(info);
    const state = exitedCleanly(info) ? 'completed' : healthOf(info);
    const started = info.State.Running ? Date.parse(info.State.StartedAt) : NaN;
    const env = new Map((info.Config.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)] as const));
    const ports = Object.entries(info.NetworkSettings.Ports ?? {}).flatMap(([port, bindings]) => (bindings ?? []).map((b: { HostIp: string; HostPort: string }) => `${b.HostIp || '0.0.0.0'}:${b.HostPort}->${port}`));
    const snap: ContainerSnapshot = {
      id: info.Id,
      name: displayName(info),
      state,
      // Running without a health check (none, or `disable: true`) counts as healthy; verify flags the missing check itself.
      healthy: state === 'healthy' || state === 'completed' || (state === 'running' && (!info.Config.Healthcheck?.Test?.length || info.Config.Healthcheck.Test[0] === 'NONE')),
      restarts: info.RestartCount,
      startedAt: info.State.Running ? info.State.StartedAt : null,
      uptimeMs: Number.isNaN(started) ? null : now - started,
      image: info.Config.Image,
      imageId: info.Image,
      version: env.get('APP_VERSION') ?? info.Config.Labels?.['org.opencontainers.image.version'] ?? null,
      ports,
    };
    byService.set(service, [...(byService.get(service) ?? []), snap]);
  }
  const names = new Set([...(expected ?? []), ...byService.keys()]);
  const services: ServiceSnapshot[] = [...names].sort().map((service) => {
    const cs = byService.get(service) ?? [];
    const live = cs.filter((c) => c.state !== 'exited' || c.healthy);
    return { service, defined: expected ? expected.includes(service) : true, containers: cs, healthy: live.length > 0 && live.every((c) => c.healthy) };
  });
  return { services, expectedKnown: expected !== undefined };
}

/** GET /health through nginx's published port: the API's own view of PostgreSQL and Redis. */
export async function apiHealth(ctx: Context): Promise<ApiHealth> {
  try {
    const { https } = await proxyEndpoint(ctx);
    if (!https) return { url: null, status: null, healthy: false, body: null, error: 'the proxy publishes no HTTPS port' };
    const url = `https://${https.host.includes(':') ? `[${https.host}]` : https.host}:${https.port}/health`;
    const res = await request(url, { timeoutMs: 5000 });
    const body = jsonBody<{ status?: string }>(res) ?? res.body.slice(0, 300);
    return { url, status: res.status, healthy: res.status === 200 && (body as { status?: string }).status === 'ok', body };
  } catch (error) {
    return { url: null, status: null, healthy: false, body: null, error: messageOf(error) };
  }
}

function uptime(ms: number | null): string {
  return ms === null ? '-' : formatDuration(ms);
}

function renderHealth(services: ServiceSnapshot[], api: ApiHealth): string {
  const rows: string[][] = [];
  for (const s of services) {
    if (s.containers.length === 0) rows.push([s.service, '-', 'missing', '-', '-', 'FAIL']);
    for (const c of s.containers) rows.push([s.service, c.name, c.state, String(c.restarts), uptime(c.uptimeMs), c.healthy ? 'ok' : 'FAIL']);
  }
  return `${renderTable(['service', 'container', 'state', 'restarts', 'uptime', 'ok'], rows)}\n${renderApiLine(api)}`;
}

function renderApiLine(api: ApiHealth): string {
  const body = api.body as { status?: string; version?: string; checks?: Record<string, { status?: string; latency_ms?: number }> } | null;
  const checks = body?.checks ? Object.entries(body.checks).map(([k, v]) => `${k} ${v.status ?? '?'}${v.latency_ms !== undefined ? ` (${v.latency_ms} ms)` : ''}`).join(', ') : '';
  return api.error
    ? `API /health: unreachable (${api.error})`
    : `API /health: HTTP ${api.status}, ${body?.status ?? '?'}${body?.version ? `, version ${body.version}` : ''}${checks ? `; ${checks}` : ''}`;
}

/** Swarm: every service of the stack with its running/desired tasks, the update in progress, each task's state. */
function renderSwarmHealth(services: SwarmServiceSnapshot[], api: ApiHealth): string {
  const rows = services.map((s) => [s.service, `${s.running}/${s.desired}`, renderTasks(s), describeUpdate(s), s.healthy ? 'ok' : 'FAIL']);
  return `${renderTable(['service', 'running', 'tasks (slot:state)', 'update', 'ok'], rows)}\n${renderApiLine(api)}`;
}

async function swarmHealthOnce(ctx: Context): Promise<{ exitCode: number; data: Record<string, unknown>; human: string }> {
  const { services } = await swarmSnapshot(ctx);
  const api = await apiHealth(ctx);
  const unhealthy = services.filter((s) => s.defined && !s.healthy).map((s) => s.service);
  const ok = unhealthy.length === 0 && api.healthy;
  // Swarm's last task error says why a service is short of tasks (no suitable node, no such image...).
  const why = (name: string) => services.find((s) => s.service === name)?.lastError;
  const verdict = ok ? 'All services healthy.' : `Not healthy: ${[...unhealthy.map((u) => (why(u) ? `${u} (${why(u)})` : u)), ...(api.healthy ? [] : ['API /health'])].join(', ')}`;
  return {
    exitCode: ok ? ExitCode.OK : ExitCode.UNHEALTHY,
    data: { at: new Date().toISOString(), orchestrator: 'swarm', stack: ctx.projectName, healthy: ok, unhealthy, services, api },
    human: `${renderSwarmHealth(services, api)}\n${verdict}`,
  };
}

async function healthOnce(ctx: Context): Promise<{ exitCode: number; data: Record<string, unknown>; human: string }> {
  if (ctx.orchestrator === 'swarm') return swarmHealthOnce(ctx);
  const { services } = await snapshot(ctx);
  const api = await apiHealth(ctx);
  const unhealthy = services.filter((s) => s.defined && !s.healthy).map((s) => s.service);
  const ok = unhealthy.length === 0 && api.healthy;
  const verdict = ok ? 'All services healthy.' : `Not healthy: ${[...unhealthy, ...(api.healthy ? [] : ['API /health'])].join(', ')}`;
  return {
    exitCode: ok ? ExitCode.OK : ExitCode.UNHEALTHY,
    data: { at: new Date().toISOString(), healthy: ok, unhealthy, services, api },
    human: `${renderHealth(services, api)}\n${verdict}`,
  };
}

export async function health(ctx: Context, opts: { watch?: boolean; interval?: number }): Promise<CommandOutcome> {
  if (!opts.watch) {
    const r = await healthOnce(ctx);
    return { exitCode: r.exitCode as CommandOutcome['exitCode'], data: r.data, human: r.human };
  }
  let last = await healthOnce(ctx);
  for (;;) {
    if (ctx.output.json) process.stdout.write(`${JSON.stringify(last.data)}\n`);
    else if (ctx.output.tty) process.stdout.write(`\x1b[2J\x1b[H${new Date().toISOString()}  (every ${opts.interval ?? 5} s, Ctrl-C to stop)\n${last.human}\n`);
    else process.stdout.write(`--- ${new Date().toISOString()}\n${last.human}\n`);
    await Promise.race([sleep((opts.interval ?? 5) * 1000), new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }))]);
    if (ctx.signal.aborted) break;
    last = await healthOnce(ctx);
  }
  // Under --watch --json every snapshot was already printed as one line (NDJSON).
  return { exitCode: last.exitCode as CommandOutcome['exitCode'], data: last.data, printed: true };
}

/** Swarm: services, replicas, images, versions, published ports, updates and placement of the stack. */
async function swarmStatus(ctx: Context): Promise<CommandOutcome> {
  const { services } = await swarmSnapshot(ctx);
  const history = await loadHistory(ctx.statePath('releases.json'));
  const current = currentRelease(history, ctx.environment);
  const engine = await ctx.engine();
  const rows = services.map((s) => [s.service, `${s.running}/${s.desired}`, s.image ?? '-', s.version ?? '-', s.ports.join(', ') || '-', describeUpdate(s), s.constraints.join(', ') || '-']);
  const data = {
    project: ctx.projectName,
    stack: ctx.projectName,
    orchestrator: 'swarm',
    environment: ctx.environment,
    projectDir: ctx.projectDir,
    composeFiles: ctx.composeFiles,
    engine: `${engine.serverVersion} (API ${engine.usedApiVersion})`,
    release: current ?? null,
    services: services.map((s) => ({ service: s.service, name: s.name, defined: s.defined, mode: s.mode, replicas: s.running, desired: s.desired, image: s.image, version: s.version, ports: s.ports, update: s.update, constraints: s.constraints, tasks: s.tasks })),
  };
  const human = [
    `swarm stack ${ctx.projectName} (${ctx.environment}) from ${ctx.projectDir}`,
    `engine ${data.engine}`,
    `release: ${current ? `${current.version} by ${current.who} at ${current.finishedAt} (${current.action})` : 'none recorded'}`,
    '',
    renderTable(['service', 'running', 'image', 'version', 'published', 'update', 'placement'], rows),
  ].join('\n');
  return { data, human };
}

export async function status(ctx: Context): Promise<CommandOutcome> {
  if (ctx.orchestrator === 'swarm') return swarmStatus(ctx);
  const { services, expectedKnown } = await snapshot(ctx);
  const history = await loadHistory(ctx.statePath('releases.json'));
  const current = currentRelease(history, ctx.environment);
  const engine = await ctx.engine();
  let compose: string;
  try {
    const f = await ctx.flavour();
    compose = `${f.kind === 'v2' ? 'docker compose' : 'docker-compose'} ${f.version}`;
  } catch {
    compose = 'not found';
  }
  const rows = services.map((s) => {
    const running = s.containers.filter((c) => c.state !== 'exited' && c.state !== 'completed' && c.state !== 'created' && c.state !== 'dead');
    const versions = [...new Set(s.containers.map((c) => c.version ?? shortId(c.imageId)))];
    const images = [...new Set(s.containers.map((c) => c.image))];
    const ports = [...new Set(s.containers.flatMap((c) => c.ports))];
    const states = [...new Set(s.containers.map((c) => c.state))];
    return [s.service, `${running.length}/${s.containers.length}`, states.join(',') || 'missing', images.join(', ') || '-', versions.join(', ') || '-', ports.join(', ') || '-'];
  });
  const data = {
    project: ctx.projectName,
    environment: ctx.environment,
    projectDir: ctx.projectDir,
    composeFiles: ctx.composeFiles,
    engine: `${engine.serverVersion} (API ${engine.usedApiVersion})`,
    compose,
    release: current ?? null,
    services: services.map((s) => ({
      service: s.service,
      defined: s.defined,
      replicas: s.containers.filter((c) => !['exited', 'completed', 'created', 'dead'].includes(c.state)).length,
      containers: s.containers.map((c) => ({ name: c.name, id: shortId(c.id), state: c.state, image: c.image, imageId: c.imageId, version: c.version, ports: c.ports, restarts: c.restarts, startedAt: c.startedAt })),
    })),
  };
  const human = [
    `project ${ctx.projectName} (${ctx.environment}) in ${ctx.projectDir}`,
    `engine ${data.engine}; ${compose}`,
    `release: ${current ? `${current.version} by ${current.who} at ${current.finishedAt} (${current.action})` : 'none recorded'}`,
    '',
    renderTable(['service', 'running', 'state', 'image', 'version', 'published'], rows),
  ].join('\n');
  // What it could not read is not a healthy empty project (the warning above says why).
  return { data, human, ...(expectedKnown ? {} : { exitCode: ExitCode.PREFLIGHT }) };
}

export const healthModule: CommandModule = {
  register(program: Command, run, { example }) {
    program
      .command('health')
      .description('Every service\'s state, health, restarts and uptime, and the API\'s /health checks through nginx. Exit 0 when everything is healthy, 6 otherwise.')
      .option('-w, --watch', 'refresh until interrupted (with --json: one JSON line per refresh)')
      .option('-i, --interval <seconds>', 'refresh interval for --watch (default 5)', seconds('--interval'))
      .addHelpText('after', example(`
        shopctl health
        shopctl health --watch --interval 2
        shopctl health --json | jq '.unhealthy'`))
      .action(async (opts: { watch?: boolean; interval?: number }, cmd: Command) => run('health', cmd, (ctx) => health(ctx, opts)));
    program
      .command('status')
      .description('Services, image versions, replicas and published ports; the current release.')
      .addHelpText('after', example(`
        shopctl status
        shopctl status --json | jq '.services[] | {service, replicas}'`))
      .action(async (_opts: unknown, cmd: Command) => run('status', cmd, (ctx) => status(ctx)));
  },
};

