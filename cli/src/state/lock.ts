import { mkdir, readFile, rm, rename, stat, writeFile } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ShopctlError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { formatDuration, sleep } from '../time.js';

/** What `.shopctl/<name>.lock/info.json` holds: enough for the next operator to find the holder. */
export interface LockInfo {
  who: string;
  host: string;
  pid: number;
  since: string;
  command: string;
  version?: string | undefined;
  message?: string | undefined;
  /** Random per acquisition: release() removes the lock only if it is still ours. */
  token: string;
}

export type LockState = { state: 'free' } | { state: 'held'; info: LockInfo } | { state: 'incomplete' };

export interface Environment {
  hostname: string;
  isAlive(pid: number): boolean;
  now(): Date;
}

export const realEnvironment: Environment = {
  hostname: hostname(),
  isAlive(pid) {
    try {
      process.kill(pid, 0);
      return true;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'EPERM';
    }
  },
  now: () => new Date(),
};

export function currentUser(): string {
  try {
    return process.env.SUDO_USER || userInfo().username;
  } catch {
    return process.env.USER ?? `uid ${process.getuid?.() ?? '?'}`;
  }
}

/** Why a held lock is probably stale (its process is gone from this host), or undefined. Never acted on silently. */
export function staleReason(info: LockInfo, env: Environment): string | undefined {
  if (info.host !== env.hostname) return undefined;
  if (env.isAlive(info.pid)) return undefined;
  return `process ${info.pid} on ${info.host} no longer exists`;
}

/** "alice@web1 (pid 4242, deploy 1.4.0) since 2026-11-27T23:01:02Z (5 min ago)". */
export function describeHolder(info: LockInfo, env: Environment): string {
  const age = env.now().getTime() - new Date(info.since).getTime();
  const what = [`pid ${info.pid}`, info.command, info.version].filter(Boolean).join(', ');
  const msg = info.message ? `: ${info.message}` : '';
  return `${info.who}@${info.host} (${what}) since ${info.since} (${formatDuration(Math.max(0, age))} ago)${msg}`;
}

export async function readLock(dir: string): Promise<LockState> {
  let raw: string;
  try {
    raw = await readFile(join(dir, 'info.json'), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    try {
      await stat(dir);
    } catch (statError) {
      if ((statError as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'free' };
      throw statError;
    }
    // The directory exists but info.json does not (yet): mkdir won, the write has not landed.
    return { state: 'incomplete' };
  }
  try {
    return { state: 'held', info: JSON.parse(raw) as LockInfo };
  } catch {
    return { state: 'incomplete' };
  }
}

export interface LockHandle {
  readonly dir: string;
  readonly info: LockInfo;
  release(): Promise<void>;
}

export interface AcquireOptions {
  command: string;
  version?: string | undefined;
  message?: string | undefined;
  /** Keep trying this long (ms) while another holder has it; 0 refuses at once. */
  waitMs?: number;
  pollMs?: number;
  signal?: AbortSignal | undefined;
  onWait?: (holder: string) => void;
  env?: Environment;
  /** What the lock protects, for messages ("deploy", "backup"). */
  label?: string;
}

/** Takes the lock with an atomic mkdir (as Kamal does): exactly one caller wins, on any local file system. */
export async function acquireLock(dir: string, opts: AcquireOptions): Promise<LockHandle> {
  const env = opts.env ?? realEnvironment;
  const label = opts.label ?? opts.command;
  const deadline = Date.now() + (opts.waitMs ?? 0);
  await mkdir(dirname(dir), { recursive: true });
  let announced = false;
  for (;;) {
    try {
      await mkdir(dir);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const current = await readLock(dir);
    if (current.state === 'free') continue;
    const holder = current.state === 'held' ? describeHolder(current.info, env) : 'an unknown holder (info.json missing or unreadable)';
    if (Date.now() >= deadline || opts.signal?.aborted) {
      const stale = current.state === 'held' ? staleReason(current.info, env) : undefined;
      throw new ShopctlError(`Another ${label} holds the lock: ${holder}`, {
        exitCode: ExitCode.LOCKED,
        hint: stale
          ? `It looks stale (${stale}). If no ${label} is running, remove it with: shopctl unlock${label === 'deploy' ? '' : ` --${label}`} (or pass --force-unlock).`
          : `Wait for it to finish, pass --wait to queue behind it, or, if you are sure it is dead, run: shopctl unlock${label === 'deploy' ? '' : ` --${label}`}.`,
        details: { lock: dir, holder: current.state === 'held' ? current.info : null },
      });
    }
    if (!announced) {
      opts.onWait?.(holder);
      announced = true;
    }
    await sleep(Math.min(opts.pollMs ?? 1000, Math.max(10, deadline - Date.now())));
  }
  const info: LockInfo = {
    who: currentUser(),
    host: env.hostname,
    pid: process.pid,
    since: env.now().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    command: opts.command,
    version: opts.version,
    message: opts.message,
    token: randomBytes(8).toString('hex'),
  };
  try {
    const tmp = join(dir, '.info.json.tmp');
    await writeFile(tmp, `${JSON.stringify(info, null, 2)}\n`);
    await rename(tmp, join(dir, 'info.json'));
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    dir,
    info,
    async release() {
      const current = await readLock(dir);
      // Someone ran `shopctl unlock` and another process took it since: not ours to remove.
      if (current.state === 'held' && current.info.token !== info.token) return;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Removes a lock whoever holds it (shopctl unlock / --force-unlock); returns what it removed. */
export async function forceUnlock(dir: string): Promise<LockState> {
  const current = await readLock(dir);
  if (current.state !== 'free') await rm(dir, { recursive: true, force: true });
  return current;
}

/**
 * `shopctl unlock` and `--force-unlock`: removes a lock left behind by a crash, but never one
 * whose process still runs on this host (that would let a second deploy start beside it).
 */
export async function breakLock(dir: string, label: string, env: Environment = realEnvironment): Promise<LockState> {
  const current = await readLock(dir);
  if (current.state === 'held' && current.info.host === env.hostname && env.isAlive(current.info.pid)) {
    throw new ShopctlError(`The ${label} lock belongs to a running process: ${describeHolder(current.info, env)}`, {
      exitCode: ExitCode.LOCKED,
      hint: `Let it finish, or stop process ${current.info.pid} first. Removing the lock under a running ${label} would let a second one start beside it.`,
    });
  }
  return forceUnlock(dir);
}
