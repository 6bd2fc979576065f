import type Docker from 'dockerode';
import { relative } from 'node:path';
import type { Context } from '../../context.js';
import { ShopctlError } from '../../errors.js';
import { ExitCode } from '../../exit-codes.js';
import { configCheck, pull, run as composeRun, up } from '../../compose/commands.js';
import type { ComposeModel } from '../../compose/model.js';
import { run, lastLines } from '../../run.js';
import { displayName, findContainers, inspectContainer, publishedAddress, startContainers, stopContainer } from '../../docker/containers.js';
import { waitHealthy } from '../../docker/health.js';
import { MIGRATE_COMMAND, SERVICES, type Orchestrator, type Pause, type ProxyEndpoint, type RolloutOptions, type StackCheck, type StackNow, type VerifyTargets } from '../orchestrator.js';
import { fail, pass } from '../../verify/checks.js';
import { assertAbandoned, clearJournal, readPaused, writePaused } from '../../state/rollout-journal.js';
import { composeRollout } from './rollout.js';
import { composeHealth, composeStatus, snapshot } from './status.js';
import { projectClash } from './project.js';

/** How long verify waits for health checks that are still starting. */
const STARTING_GRACE_MS = 60_000;

/** Docker Compose on one host: containers found by the project's labels, rolled by shopctl itself. */
export class ComposeOrchestrator implements Orchestrator {
  readonly kind = 'compose' as const;
  readonly label: string;

  constructor(private readonly ctx: Context) {
    this.label = `project ${ctx.projectName}`;
  }

  assertCanRelease(): void {
    // Compose runs either environment's file.
  }

  model(env: Record<string, string> = {}): Promise<ComposeModel> {
    return this.ctx.composeModel(env);
  }

  async check(env: Record<string, string>): Promise<StackCheck> {
    const ctx = this.ctx;
    const flavour = await ctx.flavour();
    const valid = await run(configCheck(await ctx.compose()), { env, signal: ctx.signal, timeoutMs: 60_000 });
    if (valid.exitCode !== 0) {
      throw new ShopctlError('The compose configuration is invalid', { exitCode: ExitCode.PREFLIGHT, detail: lastLines(`${valid.stderr}\n${valid.stdout}`, 15) });
    }
    const files = ctx.composeFiles.map((f) => relative(ctx.projectDir, f)).join(', ');
    // Before anything changes: never one environment's deploy onto another's containers and volumes.
    const clash = await projectClash(ctx);
    if (clash) throw new ShopctlError(clash.message, { exitCode: ExitCode.PREFLIGHT, hint: clash.hint });
    return {
      model: await ctx.composeModel(env),
      checks: [
        { name: 'compose', detail: `${flavour.kind === 'v2' ? 'docker compose' : 'docker-compose'} ${flavour.version}: ${files} valid` },
        { name: 'project', detail: `Compose project ${ctx.projectName} (${ctx.environment})` },
      ],
      problems: [],
      secretsBindMounted: true,
    };
  }

  async now(): Promise<StackNow> {
    const api = await this.containers(SERVICES.api);
    return { apiReplicas: api.length, apiNames: api.map((c) => displayName(c)), firstDeploy: api.length === 0, dbRunning: (await this.containers(SERVICES.db)).length > 0 };
  }

  async pullCommand(): Promise<[string, string[]]> {
    return pull(await this.ctx.compose(), [SERVICES.api]);
  }

  rollout(opts: RolloutOptions, now: StackNow) {
    return composeRollout(this.ctx, opts, { names: now.apiNames });
  }

  async migrate(version: string, onLine: (line: string) => void) {
    const ctx = this.ctx;
    if ((await this.containers(SERVICES.db)).length === 0) {
      throw new ShopctlError('The db service is not running', { exitCode: ExitCode.PREFLIGHT, hint: 'Start it first: docker compose up -d db' });
    }
    const r = await run(composeRun(await ctx.compose(), SERVICES.api, MIGRATE_COMMAND, { noDeps: true }), { env: { APP_VERSION: version }, signal: ctx.signal, timeoutMs: 10 * 60_000, onLine });
    const output = lastLines(`${r.stdout}\n${r.stderr}`, 30);
    if (r.exitCode !== 0) throw new ShopctlError(`Migrations failed (exit code ${r.exitCode})`, { detail: output });
    return { output, data: {} };
  }

  /** The proxy's published HTTPS address (0.0.0.0 -> 127.0.0.1): what an operator's browser would reach. */
  async proxyEndpoint(): Promise<ProxyEndpoint> {
    const proxy = (await this.containers(SERVICES.proxy)).at(-1);
    if (!proxy) throw new ShopctlError('The proxy service is not running', { exitCode: ExitCode.PREFLIGHT });
    const info = await inspectContainer(await this.ctx.docker(), proxy.Id);
    return { https: publishedAddress(info, '8443/tcp'), http: publishedAddress(info, '8080/tcp') };
  }

  async runningContainer(service: string): Promise<Docker.ContainerInspectInfo> {
    const last = (await this.containers(service)).at(-1);
    if (!last) {
      throw new ShopctlError(`No running "${service}" container in Compose project "${this.ctx.projectName}"`, {
        exitCode: ExitCode.PREFLIGHT,
        hint: `Is the stack up (shopctl status)? Right project? (-p/--project-name, or run in the project directory). Start it with: shopctl deploy ${this.ctx.environment}`,
      });
    }
    return inspectContainer(await this.ctx.docker(), last.Id);
  }

  async containers(service?: string, all = false): Promise<Docker.ContainerInfo[]> {
    return findContainers(await this.ctx.docker(), this.ctx.projectName, { ...(service ? { service } : {}), all });
  }

  async pause(service: string, timeoutMs: number): Promise<Pause> {
    const ctx = this.ctx;
    const docker = await ctx.docker();
    const journal = ctx.statePath(`paused-${service}.json`);
    // What a killed run stopped and never started again is ours to start too.
    const left = await readPaused(journal);
    if (left) assertAbandoned(left);
    const existing = new Set((await this.containers(service, true)).map((c) => c.Id));
    const stopped: string[] = (left?.ids ?? []).filter((id) => existing.has(id));
    return {
      get count() {
        return stopped.length;
      },
      stop: async (onLine) => {
        const running = await this.containers(service);
        await writePaused(journal, [...new Set([...stopped, ...running.map((c) => c.Id)])]);
        for (const c of running) {
          onLine(`stopping ${displayName(c)}`);
          await stopContainer(docker, c.Id);
          stopped.push(c.Id);
        }
        return `Stopped ${stopped.length} API container(s)`;
      },
      start: async () => {
        if (stopped.length === 0) return;
        await startContainers(docker, stopped);
        // Ready again, they take nginx's socket slots back by themselves (nothing else serves).
        await waitHealthy(docker, stopped, { timeoutMs, signal: ctx.cleanupSignal });
        await clearJournal(journal);
      },
    };
  }

  volumeName(volume: string): string {
    return `${this.ctx.projectName}_${volume}`;
  }

  async startService(service: string, timeoutMs: number): Promise<void> {
    const ctx = this.ctx;
    let ids = (await this.containers(service, true)).map((c) => c.Id);
    if (ids.length) await startContainers(await ctx.docker(), ids);
    else {
      // Removed (a lost disk takes the container with its volume): Compose makes it again, nothing else.
      const r = await run(up(await ctx.compose(), { services: [service], noDeps: true, noBuild: true }), { signal: ctx.signal, timeoutMs: 300_000 });
      if (r.exitCode !== 0) throw new ShopctlError(`Starting ${service} failed (exit code ${r.exitCode})`, { detail: lastLines(`${r.stderr}\n${r.stdout}`, 15) });
      ids = (await this.containers(service)).map((c) => c.Id);
    }
    await waitHealthy(await ctx.docker(), ids, { timeoutMs, signal: ctx.cleanupSignal });
  }

  status() {
    return composeStatus(this.ctx);
  }

  health() {
    return composeHealth(this.ctx);
  }

  async verifyTargets(): Promise<VerifyTargets> {
    let snap = await snapshot(this.ctx);
    let bad = snap.services.filter((s) => s.defined && !s.healthy);
    // A health check still `starting` (a verify right after a deploy) is waited for, briefly; anything else fails at once.
    const starting = () => bad.length > 0 && bad.every((s) => s.containers.length > 0 && s.containers.every((c) => c.healthy || c.state === 'starting'));
    for (const deadline = Date.now() + STARTING_GRACE_MS; starting() && Date.now() < deadline && !this.ctx.signal.aborted; ) {
      await new Promise((r) => setTimeout(r, 2000));
      snap = await snapshot(this.ctx);
      bad = snap.services.filter((s) => s.defined && !s.healthy);
    }
    const stack =
      snap.services.length === 0
        ? fail(`no containers in project ${this.ctx.projectName}`)
        : bad.length
          ? fail(`not healthy: ${bad.map((s) => `${s.service} (${s.containers.map((c) => c.state).join(',') || 'missing'})`).join(', ')}`)
          : pass(`${snap.services.length} service(s) healthy`);
    return { stack, containers: await this.containers(undefined, true), swarm: false, daemonNoNewPrivileges: false };
  }
}
