import type Docker from 'dockerode';
import type { Readable } from 'node:stream';
import type { Context } from '../context.js';
import { ShopctlError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { execIn, type ExecOptions, type ExecResult } from '../docker/exec.js';
import { SERVICES } from '../orchestrators/orchestrator.js';
import { sleep } from '../time.js';
import { PG_EXEC_USER } from './postgres.js';

/**
 * Throwaway containers of the database's own image, on no network at all, for work on backups
 * that must not touch the running stack: reading the WAL archive, proving a base backup with
 * pg_verifybackup, replaying WAL into a new data volume, `backup verify`. Labelled so that a
 * crash leaves nothing anonymous behind (`docker ps -a --filter label=shopctl.sandbox`).
 */

export const SANDBOX_LABEL = 'shopctl.sandbox';
export const PROJECT_LABEL = 'shopctl.project';
/** Where a sandbox sees the data volume, and the WAL archive volume (read-only unless asked). */
export const SANDBOX_PGDATA = '/var/lib/postgresql/data';
export const SANDBOX_ARCHIVE = '/archive/wal-archive';
/** The WAL archive's folder inside the db container (config/postgres/archive-wal.sh). */
export const DB_ARCHIVE_DIR = '/var/lib/postgresql/wal-archive';
/** The mount point of the wal-archive volume in the db service (both compose files). */
const DB_ARCHIVE_MOUNT = '/var/lib/postgresql';

export interface Sandbox {
  readonly id: string;
  exec(cmd: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Runs and throws (with stderr) on a non-zero exit. */
  run(cmd: readonly string[], what: string, opts?: ExecOptions): Promise<string>;
  /** Removes the container (and the data volume when the sandbox created it for itself). */
  remove(): Promise<void>;
}

export interface SandboxOptions {
  purpose: string;
  image: string;
  /** A data volume mounted at SANDBOX_PGDATA; `temporary` ones are created here and removed with the sandbox. */
  dataVolume?: { name: string; temporary?: boolean; labels?: Record<string, string> } | undefined;
  /** The WAL archive volume, at /archive (read-only unless `archiveWritable`). */
  archiveVolume?: string | undefined;
  archiveWritable?: boolean;
  /** Another volume read-only at /src (copying one data volume into another). */
  sourceVolume?: string | undefined;
}

/** The database image the stack runs (or ran): the db container's, else the compose model's. */
export async function databaseImage(ctx: Context): Promise<string> {
  const docker = await ctx.docker();
  const db = (await ctx.orchestrator.containers(SERVICES.db, true)).at(-1);
  if (db) return db.Image;
  const image = (await ctx.orchestrator.model()).services.get(SERVICES.db)?.image;
  if (!image) throw new ShopctlError('Cannot tell which PostgreSQL image the stack uses (no db container, no image in the compose files)', { exitCode: ExitCode.PREFLIGHT });
  try {
    await docker.getImage(image).inspect();
  } catch {
    throw new ShopctlError(`The database image ${image} is not on this host`, { exitCode: ExitCode.PREFLIGHT, hint: `Pull it first: docker pull ${image}` });
  }
  return image;
}

/** The Docker volume holding the WAL archive: the one mounted on the db service's /var/lib/postgresql, else <project>_wal-archive. */
export async function walArchiveVolume(ctx: Context): Promise<string> {
  const docker = await ctx.docker();
  for (const c of (await ctx.orchestrator.containers(SERVICES.db, true)).reverse()) {
    const mount = c.Mounts.find((m) => m.Destination === DB_ARCHIVE_MOUNT && m.Type === 'volume');
    if (mount?.Name) return mount.Name;
  }
  const name = ctx.orchestrator.volumeName('wal-archive');
  try {
    await docker.getVolume(name).inspect();
    return name;
  } catch {
    throw new ShopctlError(`No WAL archive volume (${name}) in ${ctx.orchestrator.label}`, {
      exitCode: ExitCode.NOT_FOUND,
      hint: 'WAL archiving comes with the compose files of this version (the wal-archive volume): redeploy, then take a base backup with shopctl backup --physical.',
    });
  }
}

export async function volumeExists(docker: Docker, name: string): Promise<boolean> {
  try {
    await docker.getVolume(name).inspect();
    return true;
  } catch {
    return false;
  }
}

export async function startSandbox(ctx: Context, opts: SandboxOptions): Promise<Sandbox> {
  const docker = await ctx.docker();
  const labels = { [SANDBOX_LABEL]: opts.purpose, [PROJECT_LABEL]: ctx.projectName };
  if (opts.dataVolume?.temporary) await docker.createVolume({ Name: opts.dataVolume.name, Labels: { ...labels, ...opts.dataVolume.labels } });
  const binds: string[] = [];
  if (opts.dataVolume) binds.push(`${opts.dataVolume.name}:${SANDBOX_PGDATA}`);
  if (opts.archiveVolume) binds.push(`${opts.archiveVolume}:/archive${opts.archiveWritable ? '' : ':ro'}`);
  if (opts.sourceVolume) binds.push(`${opts.sourceVolume}:/src:ro`);
  let container: Docker.Container;
  try {
    container = await docker.createContainer({
      Image: opts.image,
      // tini (Init) ends `tail` at once on stop; the work happens in execs.
      Entrypoint: ['tail', '-f', '/dev/null'],
      Cmd: [],
      User: PG_EXEC_USER,
      Labels: labels,
      HostConfig: {
        Init: true,
        NetworkMode: 'none',
        Binds: binds,
        ReadonlyRootfs: true,
        Tmpfs: { '/tmp': 'size=128m', '/var/run/postgresql': 'size=1m' },
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges:true'],
        ShmSize: 256 * 1024 * 1024,
        Memory: 1024 * 1024 * 1024,
        PidsLimit: 200,
      },
    });
    await container.start();
  } catch (error) {
    if (opts.dataVolume?.temporary) await docker.getVolume(opts.dataVolume.name).remove().catch(() => undefined);
    throw new ShopctlError(`Cannot start a throwaway ${opts.image} container (${opts.purpose}): ${(error as Error).message}`);
  }
  const exec = (cmd: readonly string[], o: ExecOptions = {}) => execIn(docker, container.id, cmd, { user: PG_EXEC_USER, signal: ctx.signal, ...o });
  return {
    id: container.id,
    exec,
    async run(cmd, what, o = {}) {
      const r = await exec(cmd, o);
      if (r.exitCode !== 0) throw new ShopctlError(`${what} failed (exit code ${r.exitCode})`, { detail: (r.stderr || r.stdout).trim().split('\n').slice(-15).join('\n') || undefined });
      return r.stdout;
    },
    async remove() {
      await container.remove({ force: true }).catch(() => undefined);
      if (opts.dataVolume?.temporary) {
        // The engine may release the volume a moment after the container is gone.
        for (let i = 0; i < 20; i += 1) {
          try {
            await docker.getVolume(opts.dataVolume.name).remove();
            break;
          } catch (error) {
            if ((error as { statusCode?: number }).statusCode === 404) break;
            await sleep(250);
          }
        }
      }
    },
  };
}

/** Runs `fn` with a sandbox and removes it afterwards, whatever happened. */
export async function withSandbox<T>(ctx: Context, opts: SandboxOptions, fn: (s: Sandbox) => Promise<T>): Promise<T> {
  const sandbox = await startSandbox(ctx, opts);
  try {
    return await fn(sandbox);
  } finally {
    await sandbox.remove();
  }
}

/** Unpacks a base backup (tar on stdin) into the sandbox's data volume, owned by postgres, mode 0700 as PostgreSQL requires. */
export async function unpackBase(sandbox: Sandbox, tar: Readable): Promise<void> {
  await sandbox.run(['tar', '-xf', '-', '-C', SANDBOX_PGDATA], 'unpacking the base backup', { stdin: tar });
  await sandbox.run(['chmod', '0700', SANDBOX_PGDATA], 'chmod of the data directory');
}

/** Listing of the WAL archive and the content of every timeline history file in it. */
export async function readArchive(sandbox: Sandbox): Promise<{ names: string[]; histories: Map<number, string> }> {
  const ls = await sandbox.exec(['ls', '-1', SANDBOX_ARCHIVE]);
  if (ls.exitCode !== 0) return { names: [], histories: new Map() };
  const names = ls.stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('.'));
  const histories = new Map<number, string>();
  for (const n of names) {
    const m = /^([0-9A-F]{8})\.history$/.exec(n);
    if (m) histories.set(Number.parseInt(m[1] ?? '', 16), await sandbox.run(['cat', `${SANDBOX_ARCHIVE}/${n}`], `reading ${n}`));
  }
  return { names, histories };
}
