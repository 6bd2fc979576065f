import { readFile, rm } from 'node:fs/promises';
import { ShopctlError } from '../errors.js';
import { writeFileAtomic } from './fs-atomic.js';
import { realEnvironment, type Environment } from './lock.js';

/**
 * The rolling update's journal (state dir, rollout.json): written before new api containers are
 * started and again before the old ones are stopped, removed once the rollout is done or undone.
 * A run killed in between (SIGKILL, a crash, a reboot) leaves it behind, and the next deploy or
 * rollback removes that run's containers before it counts what runs: otherwise it would keep them
 * as replicas, and every killed deploy would add some.
 */
export interface RolloutJournal {
  host: string;
  pid: number;
  /** start: new containers may run beside `oldIds`; retire: the new ones serve and `oldIds` are being stopped. */
  phase: 'start' | 'retire';
  oldIds: string[];
  newIds: string[];
  since: string;
}

export const JOURNAL_FILE = 'rollout.json';

export async function writeJournal(path: string, entry: Pick<RolloutJournal, 'phase' | 'oldIds' | 'newIds'>, env: Environment = realEnvironment): Promise<void> {
  const journal: RolloutJournal = { host: env.hostname, pid: process.pid, ...entry, since: env.now().toISOString() };
  await writeFileAtomic(path, `${JSON.stringify(journal, null, 2)}\n`, 0o600);
}

/** A file's text, or undefined when it does not exist. */
async function readIfThere(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The journal a run left, or undefined; one that cannot be read is an error that says what to do. */
export async function readJournal(path: string): Promise<RolloutJournal | undefined> {
  const raw = await readIfThere(path);
  if (raw === undefined) return undefined;
  try {
    const j = JSON.parse(raw) as RolloutJournal;
    if ((j.phase === 'start' || j.phase === 'retire') && Array.isArray(j.oldIds) && Array.isArray(j.newIds) && typeof j.pid === 'number') return j;
  } catch {
    // reported below
  }
  throw new ShopctlError(`${path} is not a rollout journal shopctl can read`, {
    hint: 'Check the api containers (shopctl status), remove any a killed deploy left (docker rm -f <id>), then delete the file and deploy again.',
  });
}

export async function clearJournal(path: string): Promise<void> {
  await rm(path, { force: true });
}

/** Refuses to clean up after a run that still lives (its lock was broken by hand): the two would fight. */
export function assertAbandoned(j: Pick<RolloutJournal, 'host' | 'pid' | 'since'>, env: Environment = realEnvironment): void {
  if (j.host === env.hostname && j.pid !== process.pid && env.isAlive(j.pid)) {
    throw new ShopctlError(`the rollout of process ${j.pid} (since ${j.since}) is still running`, {
      hint: `Let it finish, or stop process ${j.pid}; then run this again.`,
    });
  }
}

/**
 * The api containers a dead run leaves to remove: while starting, every one it did not find
 * running (its new ones, also those compose created before it was killed); while retiring, the old
 * ones it had not stopped yet (the new ones serve).
 */
export function leftoverContainers(j: RolloutJournal, apiIds: readonly string[]): string[] {
  const old = new Set(j.oldIds);
  return j.phase === 'start' ? apiIds.filter((id) => !old.has(id)) : apiIds.filter((id) => old.has(id));
}

/**
 * The containers a restore stopped (state dir, paused-<service>.json), written before it stops
 * them and removed once they run again: a restore killed in between leaves the API stopped, and
 * the next one starts those too.
 */
export interface PausedJournal {
  host: string;
  pid: number;
  ids: string[];
  since: string;
}

export async function writePaused(path: string, ids: readonly string[], env: Environment = realEnvironment): Promise<void> {
  const journal: PausedJournal = { host: env.hostname, pid: process.pid, ids: [...ids], since: env.now().toISOString() };
  await writeFileAtomic(path, `${JSON.stringify(journal, null, 2)}\n`, 0o600);
}

export async function readPaused(path: string): Promise<PausedJournal | undefined> {
  const raw = await readIfThere(path);
  if (raw === undefined) return undefined;
  try {
    const j = JSON.parse(raw) as PausedJournal;
    if (Array.isArray(j.ids) && typeof j.pid === 'number') return j;
  } catch {
    // reported below
  }
  throw new ShopctlError(`${path} is not a list of stopped containers shopctl can read`, {
    hint: 'Start the API containers it was about (docker compose start api), then delete the file and run the command again.',
  });
}
