// A Compose stack for the monitoring e2e test: its own project name, free loopback ports,
// generated secrets, temp dirs for certificates and backups; torn down by project label.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { docker, poll, ROOT, run, type Run } from './monitoring.js';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** `docker compose` (v2) when the plugin answers, else `docker-compose` (v1). */
async function composeCommand(): Promise<[string, string[]]> {
  const v2 = await run('docker', ['compose', 'version']);
  return v2.code === 0 ? ['docker', ['compose']] : ['docker-compose', []];
}

export interface StackOptions {
  files: string[];
  profiles?: string[];
  env?: Record<string, string>;
}

export class MonitoringStack {
  readonly project = `shopmon${randomBytes(4).toString('hex')}`;
  env: NodeJS.ProcessEnv = {};
  httpsPort = 0;
  private cmd: [string, string[]] = ['docker', ['compose']];
  private dirs: string[] = [];

  constructor(private readonly opts: StackOptions) {}

  async init(): Promise<void> {
    this.cmd = await composeCommand();
    const backups = await mkdtemp(join(tmpdir(), 'shop-e2e-backups-'));
    const certs = await mkdtemp(join(tmpdir(), 'shop-e2e-certs-'));
    this.dirs.push(backups, certs);
    this.httpsPort = await freePort();
    const secret = () => randomBytes(24).toString('base64url');
    this.env = {
      ...process.env,
      COMPOSE_PROJECT_NAME: this.project,
      PUBLISH_ADDRESS: '127.0.0.1',
      HTTP_PORT: String(await freePort()),
      HTTPS_PORT: String(this.httpsPort),
      GRAFANA_PORT: String(await freePort()),
      POSTGRES_PASSWORD: secret(),
      REDIS_PASSWORD: secret(),
      API_SECRET_KEY: randomBytes(48).toString('base64url'),
      ADMIN_PASSWORD: secret(),
      GRAFANA_ADMIN_PASSWORD: secret(),
      BACKUP_DIR: backups,
      TLS_CERT_DIR: certs,
      APP_VERSION: process.env.APP_VERSION ?? 'e2e',
      ...this.opts.env,
    };
  }

  get backupDir(): string {
    return this.env.BACKUP_DIR as string;
  }

  compose(args: string[], timeoutMs = 600_000): Promise<Run> {
    const [bin, pre] = this.cmd;
    const files = this.opts.files.flatMap((f) => ['-f', f]);
    const profiles = (this.opts.profiles ?? []).flatMap((p) => ['--profile', p]);
    return run(bin, [...pre, '-p', this.project, ...files, ...profiles, ...args], { env: this.env, timeoutMs });
  }

  async up(services: string[]): Promise<void> {
    const r = await this.compose(['up', '-d', '--build', ...services], 900_000);
    if (r.code !== 0) throw new Error(`compose up failed:\n${r.stderr.slice(-4000)}`);
  }

  /** Every container of the project running, and healthy where it has a health check. */
  async waitHealthy(timeoutMs: number): Promise<void> {
    await poll(
      'every container healthy',
      async () => {
        const ids = (await docker(['ps', '-aq', '--filter', `label=com.docker.compose.project=${this.project}`])).stdout.split('\n').filter(Boolean);
        if (ids.length === 0) return undefined;
        const r = await docker(['inspect', '-f', '{{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.State.ExitCode}}', ...ids]);
        const states = r.stdout.trim().split('\n').map((l) => l.split(' '));
        const bad = states.filter(([service, status, health, exit]) => {
          if (service === 'tls') return !(status === 'exited' && exit === '0');
          return status !== 'running' || (health !== 'none' && health !== 'healthy');
        });
        if (bad.some(([, status]) => status === 'exited' || status === 'dead')) {
          throw new Error(`container stopped: ${bad.map((b) => b.join(' ')).join(', ')}`);
        }
        return bad.length === 0 ? true : undefined;
      },
      timeoutMs,
      2000,
    ).catch(async (error: unknown) => {
      const logs = await this.compose(['logs', '--tail', '30']);
      throw new Error(`${String(error)}\n${logs.stdout.slice(-6000)}`);
    });
  }

  /** Removes everything of the project: containers (also those started beside Compose), networks, volumes, temp dirs. */
  async down(): Promise<void> {
    await this.compose(['down', '-v', '--remove-orphans', '-t', '5'], 180_000);
    const label = `label=com.docker.compose.project=${this.project}`;
    const left = (await docker(['ps', '-aq', '--filter', label])).stdout.split('\n').filter(Boolean);
    if (left.length) await docker(['rm', '-f', '-v', ...left]);
    const nets = (await docker(['network', 'ls', '-q', '--filter', label])).stdout.split('\n').filter(Boolean);
    if (nets.length) await docker(['network', 'rm', ...nets]);
    const vols = (await docker(['volume', 'ls', '-q', '--filter', label])).stdout.split('\n').filter(Boolean);
    if (vols.length) await docker(['volume', 'rm', '-f', ...vols]);
    for (const d of this.dirs) await rm(d, { recursive: true, force: true }).catch(() => undefined);
  }

  static root = ROOT;
}
