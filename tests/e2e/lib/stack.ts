// A Compose stack for end-to-end tests: its own project name and free ports, a hermetic
// environment (the repository's .env.example plus overrides; never a developer's .env),
// a bounded wait for health, containers found by label, and a teardown by project label
// that also runs when the test process exits early.
//
//   const stack = await ComposeStack.create({ profiles: ['monitoring'] });
//   test.after.always(() => stack.destroy());
//   await stack.build(['api']);
//   await stack.up();                       // returns the time to healthy in ms
//   const api = await stack.container('api');
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { isAbsolute, join } from 'node:path';
import Docker from 'dockerode';
import { execa } from 'execa';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export const PROJECT_LABEL = 'com.docker.compose.project';
export const SERVICE_LABEL = 'com.docker.compose.service';

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface StackOptions {
  /** Project name prefix; a random suffix keeps parallel runs apart. */
  prefix?: string;
  /** Compose files, relative to the repository (default: docker-compose.yml). */
  files?: string[];
  /** Interpolation defaults (default: .env.example, like the quick start). */
  envFile?: string;
  profiles?: string[];
  /** Variables for Compose; they win over the env file. */
  env?: Record<string, string>;
  /** Services `up` starts (default: all of the active profiles). */
  services?: string[];
}

/** Variables of the caller that reach Compose: the engine, proxies and image overrides only. */
const PASSED_THROUGH = /^(PATH|HOME|USER|TMPDIR|LANG|DOCKER_[A-Z_]+|BUILDKIT_[A-Z_]+|COMPOSE_DOCKER_CLI_BUILD|[A-Z0-9_]+_IMAGE|https?_proxy|HTTPS?_PROXY|no_proxy|NO_PROXY)$/;

/** A TCP port that is free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

let composeCommand: Promise<[string, string[]]> | undefined;

/** `docker compose` (v2) when the plugin answers, else `docker-compose` (v1). */
export function composeCli(): Promise<[string, string[]]> {
  composeCommand ??= execa('docker', ['compose', 'version', '--short'], { reject: false }).then((r) =>
    r.exitCode === 0 ? ['docker', ['compose']] : ['docker-compose', []],
  );
  return composeCommand;
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

export class ComposeStack {
  readonly docker = new Docker();
  readonly project: string;
  readonly httpPort: number;
  readonly httpsPort: number;
  /** The environment Compose sees (and the values a test may need: passwords, ports). */
  readonly env: Record<string, string>;
  private readonly files: string[];
  private readonly envFile: string;
  private readonly profiles: string[];
  private readonly services: string[];
  /** Host folder for the stack's bind mounts (backups/metrics, certs), removed by destroy(). */
  readonly scratchDir: string;
  private readonly exitHook: () => void;
  private destroyed = false;

  private constructor(opts: StackOptions, httpPort: number, httpsPort: number, scratchDir: string) {
    this.scratchDir = scratchDir;
    this.project = `${opts.prefix ?? 'e2e'}-${randomBytes(4).toString('hex')}`;
    this.httpPort = httpPort;
    this.httpsPort = httpsPort;
    this.files = (opts.files ?? ['docker-compose.yml']).map((f) => (isAbsolute(f) ? f : join(REPO_ROOT, f)));
    const envFile = opts.envFile ?? '.env.example';
    this.envFile = isAbsolute(envFile) ? envFile : join(REPO_ROOT, envFile);
    this.profiles = opts.profiles ?? [];
    this.services = opts.services ?? [];
    const passed = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => PASSED_THROUGH.test(e[0]) && e[1] !== undefined));
    this.env = {
      ...passed,
      PUBLISH_ADDRESS: '127.0.0.1',
      HTTP_PORT: String(httpPort),
      HTTPS_PORT: String(httpsPort),
      // A tag of its own, removed at teardown; the build cache keeps rebuilds fast.
      APP_VERSION: this.project,
      // Host folders the stack mounts: under a scratch folder, not the work tree.
      BACKUP_DIR: join(scratchDir, 'backups'),
      TLS_CERT_DIR: join(scratchDir, 'certs'),
      ...readEnvFile(this.envFile, ['PUBLISH_ADDRESS', 'HTTP_PORT', 'HTTPS_PORT', 'APP_VERSION', 'BACKUP_DIR', 'TLS_CERT_DIR']),
      ...opts.env,
    };
    // Last resort when the process ends without destroy() (a crash or a time-out): synchronous.
    this.exitHook = () => this.removeByLabelSync();
    process.once('exit', this.exitHook);
  }

  static async create(opts: StackOptions = {}): Promise<ComposeStack> {
    const [httpPort, httpsPort] = [await freePort(), await freePort()];
    const scratch = join(process.env.TMPDIR ?? '/tmp', `shop-${randomBytes(6).toString('hex')}`);
    return new ComposeStack(opts, httpPort, httpsPort, scratch);
  }

  get origin(): string {
    return `https://127.0.0.1:${this.httpsPort}`;
  }

  get apiImage(): string {
    return `${this.env.API_IMAGE ?? 'shop-api'}:${this.env.APP_VERSION}`;
  }

  /** `docker compose -p <project> -f ... --env-file ... [--profile ...] <args>`; never throws. */
  async compose(args: string[], opts: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<CommandResult> {
    const [cmd, prefix] = await composeCli();
    const full = [...prefix, '--project-name', this.project, '--project-directory', REPO_ROOT];
    for (const f of this.files) full.push('--file', f);
    full.push('--env-file', this.envFile);
    for (const p of this.profiles) full.push('--profile', p);
    const r = await execa(cmd, [...full, ...args], {
      env: { ...this.env, ...opts.env },
      extendEnv: false,
      reject: false,
      timeout: opts.timeoutMs ?? 600_000,
      cwd: REPO_ROOT,
      all: false,
    });
    return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
  }

  private async composeOk(args: string[], opts: { timeoutMs?: number } = {}): Promise<CommandResult> {
    const r = await this.compose(args, opts);
    if (r.exitCode !== 0) throw new Error(`compose ${args.join(' ')} failed (${r.exitCode}):\n${tail(r.stderr || r.stdout, 60)}`);
    return r;
  }

  async build(services: string[] = []): Promise<number> {
    const started = Date.now();
    await this.composeOk(['build', ...services], { timeoutMs: 900_000 });
    return Date.now() - started;
  }

  /** `up -d` (no build), then waits until every container is healthy; returns the time in ms. */
  async up(opts: { timeoutMs?: number; services?: string[] } = {}): Promise<number> {
    const started = Date.now();
    await this.composeOk(['up', '--detach', '--no-build', ...(opts.services ?? this.services)], { timeoutMs: opts.timeoutMs ?? 300_000 });
    await this.waitHealthy({ timeoutMs: Math.max(10_000, (opts.timeoutMs ?? 300_000) - (Date.now() - started)) });
    return Date.now() - started;
  }

  /** Containers of this project (all states), optionally of one service. */
  async containers(service?: string): Promise<Docker.ContainerInfo[]> {
    const label = [`${PROJECT_LABEL}=${this.project}`];
    if (service) label.push(`${SERVICE_LABEL}=${service}`);
    return this.docker.listContainers({ all: true, filters: { label } });
  }

  async inspect(service?: string): Promise<Docker.ContainerInspectInfo[]> {
    const list = await this.containers(service);
    return Promise.all(list.map((c) => this.docker.getContainer(c.Id).inspect()));
  }

  /** The one running container of a service (the first, when it is scaled). */
  async container(service: string): Promise<Docker.ContainerInspectInfo> {
    const all = (await this.inspect(service)).filter((c) => c.State.Running);
    const first = all.sort((a, b) => a.Created.localeCompare(b.Created))[0];
    if (!first) throw new Error(`no running container for service ${service} in ${this.project}`);
    return first;
  }

  /**
   * Every container healthy; one without a health check running; a one-shot helper
   * (restart "no") exited with 0. Fails fast on an unhealthy or failed container.
   */
  async waitHealthy(opts: { timeoutMs?: number } = {}): Promise<void> {
    const deadline = Date.now() + (opts.timeoutMs ?? 180_000);
    let pending: string[] = [];
    while (Date.now() < deadline) {
      const containers = await this.inspect();
      pending = [];
      for (const c of containers) {
        const name = `${c.Config.Labels[SERVICE_LABEL]} (${c.Name.replace(/^\//, '')})`;
        const oneShot = c.HostConfig.RestartPolicy?.Name === 'no' || c.HostConfig.RestartPolicy?.Name === '';
        if (!c.State.Running) {
          if (oneShot && c.State.Status === 'exited' && c.State.ExitCode === 0) continue;
          if (oneShot && c.State.Status === 'exited') throw new Error(`${name} exited with ${c.State.ExitCode}:\n${await this.logs(c.Id)}`);
          pending.push(`${name}: ${c.State.Status}`);
          continue;
        }
        const health = c.State.Health?.Status;
        if (health === undefined || health === 'healthy') continue;
        if (health === 'unhealthy') {
          const last = c.State.Health?.Log?.at(-1)?.Output?.trim();
          throw new Error(`${name} is unhealthy (${last ?? 'no output'}):\n${await this.logs(c.Id)}`);
        }
        pending.push(`${name}: ${health}`);
      }
      if (containers.length > 0 && pending.length === 0) return;
      await sleep(250);
    }
    throw new Error(`not healthy within ${opts.timeoutMs ?? 180_000} ms: ${pending.join(', ') || 'no containers'}`);
  }

  async logs(containerId: string, lines = 40): Promise<string> {
    const r = await execa('docker', ['logs', '--tail', String(lines), containerId], { reject: false, all: true });
    return String(r.all ?? '');
  }

  /**
   * The container's last lines once one matches `pattern`, polling for up to `timeoutMs`: the API
   * writes its log in batches (every 8 KB or 250 ms), so a line shows up a moment after its answer.
   */
  async logsMatching(containerId: string, pattern: RegExp, lines = 200, timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = await this.logs(containerId, lines);
      if (pattern.test(text) || Date.now() > deadline) return text;
      await sleep(100);
    }
  }

  /** `docker exec` in the first running container of a service, as its default user unless given. */
  async exec(service: string, cmd: string[], opts: { user?: string; env?: Record<string, string>; input?: string } = {}): Promise<CommandResult> {
    const c = await this.container(service);
    const args = ['exec', '-i'];
    if (opts.user) args.push('--user', opts.user);
    for (const [k, v] of Object.entries(opts.env ?? {})) args.push('--env', `${k}=${v}`);
    const r = await execa('docker', [...args, c.Id, ...cmd], { reject: false, input: opts.input ?? '', timeout: 60_000 });
    return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
  }

  /** A throwaway container on one of the project's networks (e.g. BUSYBOX_IMAGE probes). */
  async probe(network: 'frontend' | 'backend', image: string, cmd: string[]): Promise<CommandResult> {
    const r = await execa('docker', ['run', '--rm', '--network', `${this.project}_${network}`, '--label', `${PROJECT_LABEL}=${this.project}`, image, ...cmd], {
      reject: false,
      timeout: 60_000,
    });
    return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
  }

  /** `down` keeping the volumes (data survives), or removing them. */
  async down(opts: { volumes?: boolean } = {}): Promise<void> {
    await this.composeOk(['down', '--remove-orphans', '--timeout', '30', ...(opts.volumes ? ['--volumes'] : [])], { timeoutMs: 180_000 });
  }

  /** Leaves the stack running when this process ends (no removal at exit): for debugging and BENCH_KEEP. */
  keepAfterExit(): void {
    process.removeListener('exit', this.exitHook);
  }

  /** Removes everything of this project (containers, networks, volumes, its image tag); never throws. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    process.removeListener('exit', this.exitHook);
    await this.compose(['down', '--volumes', '--remove-orphans', '--timeout', '10'], { timeoutMs: 180_000 }).catch(() => undefined);
    const label = [`${PROJECT_LABEL}=${this.project}`];
    const containers = await this.docker.listContainers({ all: true, filters: { label } }).catch(() => []);
    await Promise.all(containers.map((c) => this.docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
    const networks = await this.docker.listNetworks({ filters: { label } }).catch(() => []);
    await Promise.all(networks.map((n) => this.docker.getNetwork(n.Id).remove().catch(() => undefined)));
    const volumes = await this.docker.listVolumes({ filters: { label } }).catch(() => ({ Volumes: [] }));
    await Promise.all((volumes.Volumes ?? []).map((v) => this.docker.getVolume(v.Name).remove().catch(() => undefined)));
    await this.docker.getImage(this.apiImage).remove({ noprune: false }).catch(() => undefined);
    rmSync(this.scratchDir, { recursive: true, force: true });
  }

  /** The same by label, synchronously (for process exit). */
  private removeByLabelSync(): void {
    removeProjectSync(this.project);
    rmSync(this.scratchDir, { recursive: true, force: true });
  }
}

/** Removes a Compose project's containers, networks and volumes by label, synchronously (for process exit); never throws. */
export function removeProjectSync(project: string): void {
  const filter = `label=${PROJECT_LABEL}=${project}`;
  const run = (args: string[]) => {
    try {
      return execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60_000 }).split('\n').filter(Boolean);
    } catch {
      return [];
    }
  };
  const ids = run(['ps', '-aq', '--filter', filter]);
  if (ids.length) run(['rm', '-f', '-v', ...ids]);
  const nets = run(['network', 'ls', '-q', '--filter', filter]);
  if (nets.length) run(['network', 'rm', ...nets]);
  const vols = run(['volume', 'ls', '-q', '--filter', filter]);
  if (vols.length) run(['volume', 'rm', '-f', ...vols]);
}

/** KEY=value lines (comments and blanks skipped), without the keys the harness sets itself. */
function readEnvFile(path: string, skip: string[]): Record<string, string> {
  const text = readFileSync(path, 'utf8');
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m?.[1] && !skip.includes(m[1])) out[m[1]] = m[2]!.trim();
  }
  return out;
}

function tail(text: string, lines: number): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}
