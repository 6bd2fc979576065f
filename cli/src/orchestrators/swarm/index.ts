import type Docker from 'dockerode';
import { relative, resolve } from 'node:path';
import { stat } from 'node:fs/promises';
import type { Context } from '../../context.js';
import { ShopctlError } from '../../errors.js';
import { ExitCode } from '../../exit-codes.js';
import type { ComposeModel } from '../../compose/model.js';
import { lastLines } from '../../run.js';
import { findContainers, inspectContainer } from '../../docker/containers.js';
import { MIGRATE_COMMAND, SERVICES, type Orchestrator, type Pause, type RolloutOptions, type StackCheck, type StackNow, type VerifyTargets } from '../orchestrator.js';
import { fail, pass } from '../../verify/checks.js';
import { findService, requireManager, runJob, scaleService, serviceTasks, swarmNodes, swarmState, waitReplicas } from './engine.js';
import { placementProblems } from './placement.js';
import { stackModel } from './project.js';
import { swarmRollout } from './rollout.js';
import { migrationJobSpec, serviceName } from './stack.js';
import { swarmHealth, swarmProxyEndpoint, swarmSnapshot, swarmStatus } from './status.js';

/** Docker Swarm (`docker stack deploy`, docs/swarm.md): swarm rolls the services; shopctl starts, follows and reports. */
export class SwarmOrchestrator implements Orchestrator {
  readonly kind = 'swarm' as const;
  readonly label: string;

  constructor(private readonly ctx: Context) {
    this.label = `swarm stack ${ctx.projectName}`;
  }

  private name(service: string): string {
    return serviceName(this.ctx.projectName, service);
  }

  /** A swarm deploy runs the production file, which `docker stack deploy` reads unchanged. */
  assertCanRelease(verb: string): void {
    if (this.ctx.environment !== 'production') {
      throw new ShopctlError(`--orchestrator swarm ${verb}s production only: docker-compose.yml is Compose's development stack`, {
        exitCode: ExitCode.USAGE,
        hint: `shopctl --orchestrator swarm ${verb} production <version> (docs/swarm.md)`,
      });
    }
  }

  model(env: Record<string, string> = {}): Promise<ComposeModel> {
    return stackModel(this.ctx, env);
  }

  async check(env: Record<string, string>): Promise<StackCheck> {
    const ctx = this.ctx;
    const docker = await ctx.docker();
    const manager = await requireManager(docker);
    const checks = [{ name: 'swarm', detail: `swarm manager ${manager.nodeAddr || manager.nodeId}` }];
    // The stack loader is stricter than Compose (no build-only keys, no pids_limit): its own check.
    const model = await stackModel(ctx, env);
    checks.push({ name: 'stack', detail: `docker stack config: ${ctx.composeFiles.map((f) => relative(ctx.projectDir, f)).join(', ')} valid` });
    const problems: string[] = [];
    // A constraint no node meets leaves tasks pending forever: say which label is missing, and how to add it.
    const nodes = await swarmNodes(docker);
    const local = nodes.find((n) => n.id === manager.nodeId);
    const placement = placementProblems([...model.services.values()].map((s) => ({ service: s.name, constraints: s.constraints })), nodes, local?.hostname || manager.nodeId);
    for (const p of placement) {
      problems.push(`no ready node meets the placement of ${this.name(p.service)} (${p.constraints.join(', ')})${p.fix.length ? `: label one, e.g. ${p.fix.join('; ')}` : ''} (docs/swarm.md, "Node labels")`);
    }
    if (!placement.length) checks.push({ name: 'placement', detail: `${nodes.length} node(s); every placement constraint is met` });
    // Compose creates a missing bind-mount source; swarm rejects the task instead ("bind source path does not exist").
    const missing = new Map<string, string[]>();
    for (const s of model.services.values()) {
      for (const source of s.bindSources) {
        const path = resolve(ctx.projectDir, source);
        if (!(await stat(path).then(() => true, () => false))) missing.set(path, [...(missing.get(path) ?? []), s.name]);
      }
    }
    for (const [path, services] of missing) {
      problems.push(`${ctx.display(path)} does not exist (bind-mounted by ${services.join(', ')}): swarm does not create it; create it on every node that runs them (mkdir -p ${ctx.display(path)})`);
    }
    return { model, checks, problems, secretsBindMounted: false };
  }

  async now(): Promise<StackNow> {
    const docker = await this.ctx.docker();
    const api = await findService(docker, this.name(SERVICES.api));
    const replicas = api?.Spec.Mode?.Replicated?.Replicas ?? (api ? 1 : 0);
    // The backup needs the db task on this node: takeBackup says so when it is elsewhere.
    return { apiReplicas: replicas, apiNames: api ? [this.name(SERVICES.api)] : [], firstDeploy: !api, dbRunning: Boolean(await findService(docker, this.name(SERVICES.db))) };
  }

  /** Compose may be absent on a swarm manager: the docker CLI pulls (with this host's registry login). */
  async pullCommand(imageRef: string): Promise<[string, string[]]> {
    return ['docker', ['pull', imageRef]];
  }

  rollout(opts: RolloutOptions, now: StackNow) {
    return swarmRollout(this.ctx, opts, { names: now.apiNames, firstDeploy: now.firstDeploy, apiReplicas: now.apiReplicas });
  }

  /** A one-off job with the api service's secrets and networks, on the version's image. */
  async migrate(version: string, onLine: (line: string) => void) {
    const ctx = this.ctx;
    const docker = await ctx.docker();
    await requireManager(docker);
    const api = await findService(docker, this.name(SERVICES.api));
    if (!api) throw new ShopctlError(`Swarm stack "${ctx.projectName}" has no api service to take the job's secrets and networks from`, { exitCode: ExitCode.PREFLIGHT, hint: 'Deploy first: shopctl --orchestrator swarm deploy production <version>' });
    const image = (await stackModel(ctx, { APP_VERSION: version })).services.get(SERVICES.api)?.image;
    if (!image) throw new ShopctlError('The compose files define no "api" service with an image', { exitCode: ExitCode.PREFLIGHT });
    const spec = migrationJobSpec(api.Spec.TaskTemplate as Parameters<typeof migrationJobSpec>[0], { stack: ctx.projectName, image, version, command: MIGRATE_COMMAND });
    const r = await runJob(docker, spec, { timeoutMs: 10 * 60_000, signal: ctx.signal, onState: (s) => onLine(`job ${spec.Name}: ${s}`) });
    const output = lastLines(r.logs, 30);
    if (r.state !== 'complete' || (r.exitCode ?? 0) !== 0) throw new ShopctlError(`Migrations failed (${r.state}${r.exitCode !== undefined ? `, exit code ${r.exitCode}` : ''}${r.error ? `: ${r.error}` : ''})`, { detail: output });
    return { output, data: { orchestrator: 'swarm' } };
  }

  proxyEndpoint() {
    return swarmProxyEndpoint(this.ctx);
  }

  async runningContainer(service: string): Promise<Docker.ContainerInspectInfo> {
    const docker = await this.ctx.docker();
    const last = (await this.containers(service)).at(-1);
    if (last) return inspectContainer(docker, last.Id);
    // exec reaches containers of this node only: say where swarm runs the task instead.
    const name = this.name(service);
    const where = await this.taskNodes(docker, name).catch(() => [] as string[]);
    throw new ShopctlError(`No running "${service}" task of swarm stack "${this.ctx.projectName}" on this node`, {
      exitCode: ExitCode.PREFLIGHT,
      hint: where.length
        ? `Swarm runs ${name} on ${where.join(', ')}: run shopctl there (the stateful services are pinned to labelled nodes, docs/swarm.md).`
        : `Is the stack deployed (shopctl --orchestrator swarm status)? Right stack name (-p)? docker service ps ${name} says why no task runs.`,
    });
  }

  /** Host names of the nodes where a swarm service's tasks run. */
  private async taskNodes(docker: Docker, name: string): Promise<string[]> {
    const service = await findService(docker, name);
    if (!service) return [];
    const nodes = await swarmNodes(docker);
    const running = (await serviceTasks(docker, service.ID)).filter((t) => t.DesiredState === 'running');
    return [...new Set(running.map((t) => nodes.find((n) => n.id === t.NodeID)?.hostname || (t.NodeID ?? '?')))];
  }

  /** This node's task containers (exited ones are swarm's task history, so running only unless `all`). */
  async containers(service?: string, all = false): Promise<Docker.ContainerInfo[]> {
    return findContainers(await this.ctx.docker(), { kind: 'swarm', stack: this.ctx.projectName }, { ...(service ? { service } : {}), all });
  }

  /** Swarm would replace stopped containers: the service is scaled to 0 (each task drains first), then back. */
  volumeName(volume: string): string {
    return `${this.ctx.projectName}_${volume}`;
  }

  startService(service: string): Promise<void> {
    // A base-backup restore swaps the db's volume on one host; swarm would have to pin it there first.
    return Promise.reject(
      new ShopctlError(`Restoring a base backup is not supported under swarm yet (${service} is not restarted by shopctl)`, {
        exitCode: ExitCode.USAGE,
        hint: 'Restore a dump (shopctl restore <file>.dump), or restore on a Compose copy of the stack (docs/operations.md, "Point-in-time recovery").',
      }),
    );
  }

  async pause(service: string, timeoutMs: number): Promise<Pause> {
    const ctx = this.ctx;
    const docker = await ctx.docker();
    const found = await findService(docker, this.name(service));
    let replicas: number | undefined;
    return {
      get count() {
        return replicas ?? 0;
      },
      stop: async (onLine) => {
        if (!found) return 'No API service to stop';
        replicas = await scaleService(docker, found.ID, 0);
        // Recorded before the wait: whatever happens next, the replicas come back.
        await waitReplicas(docker, found.ID, 0, { timeoutMs, signal: ctx.signal, onProgress: onLine });
        return `Scaled ${found.Spec.Name} from ${replicas} to 0`;
      },
      start: async () => {
        if (!found || replicas === undefined) return;
        // Back to the replicas it had; new tasks join nginx's DNS answers once healthy.
        await scaleService(docker, found.ID, replicas);
        await waitReplicas(docker, found.ID, replicas, { timeoutMs, signal: ctx.cleanupSignal });
      },
    };
  }

  status() {
    return swarmStatus(this.ctx);
  }

  health() {
    return swarmHealth(this.ctx);
  }

  async verifyTargets(): Promise<VerifyTargets> {
    const ctx = this.ctx;
    const snap = await swarmSnapshot(ctx);
    const bad = snap.services.filter((s) => s.defined && !s.healthy);
    const stack =
      snap.services.length === 0
        ? fail(`no services in swarm stack ${ctx.projectName}`)
        : bad.length
          ? fail(`not healthy: ${bad.map((s) => `${s.service} (${s.running}/${s.desired}${s.lastError ? `, ${s.lastError}` : ''}${s.update ? `, update ${s.update.state}` : ''})`).join(', ')}`)
          : pass(`${snap.services.length} service(s) run all their replicas (${snap.services.map((s) => `${s.service} ${s.running}/${s.desired}`).join(', ')})`);
    // The running tasks on this node (exited containers there are swarm's task history).
    return { stack, containers: await this.containers(), swarm: true, daemonNoNewPrivileges: (await swarmState(await ctx.docker())).daemonNoNewPrivileges };
  }
}
