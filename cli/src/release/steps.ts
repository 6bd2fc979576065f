import { readFile, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Context } from '../context.js';
import { messageOf } from '../errors.js';
import { acquireLock, breakLock, currentUser, describeHolder, readLock, realEnvironment, type LockHandle } from '../state/lock.js';
import { appendRelease, loadHistory, saveHistory, type Release } from '../state/releases.js';
import { setEnvValue } from '../formats/envfile.js';
import { writeFileAtomic } from '../state/fs-atomic.js';
import { compactUtc } from '../time.js';
import type { ImageInfo } from '../docker/images.js';
import type { Rollout } from '../orchestrators/orchestrator.js';
import type { Closing, Step } from './pipeline.js';

/** How a release takes the deploy lock: refuse at once, queue (--wait), or break a stale one first. */
export interface LockOptions {
  wait?: number | boolean | undefined;
  forceUnlock?: boolean | undefined;
  message?: string | undefined;
}

export function waitMs(wait: number | boolean | undefined): number {
  if (wait === undefined || wait === false) return 0;
  return (wait === true ? 600 : wait) * 1000;
}

/** Refuses at once when another deploy holds the lock, before building anything (unless --wait / --force-unlock). */
export async function refuseIfLocked(ctx: Context, opts: LockOptions): Promise<void> {
  if (opts.wait || opts.forceUnlock) return;
  const state = await readLock(ctx.statePath('deploy.lock'));
  if (state.state === 'free') return;
  // acquireLock with no wait produces the full message (holder, since, stale hint).
  const handle = await acquireLock(ctx.statePath('deploy.lock'), { command: 'deploy', label: 'deploy', waitMs: 0 });
  await handle.release();
}

/** The deploy lock as a step: taken when its turn comes, released last whatever happened. */
export function lockStep(ctx: Context, opts: LockOptions, command: string, version: string, held: { lock?: LockHandle }): Step {
  const dir = ctx.statePath('deploy.lock');
  return {
    name: 'lock',
    title: 'Take the deploy lock',
    plan: () => dir,
    run: async (task) => {
      if (opts.forceUnlock) {
        const removed = await breakLock(dir, 'deploy');
        if (removed.state === 'held') ctx.output.warn(`--force-unlock removed the deploy lock held by ${describeHolder(removed.info, realEnvironment)}`);
        else if (removed.state === 'incomplete') ctx.output.warn('--force-unlock removed an incomplete deploy lock');
      }
      held.lock = await acquireLock(dir, { command, label: 'deploy', version, message: opts.message, waitMs: waitMs(opts.wait), signal: ctx.signal, onWait: (holder) => (task.output = `waiting for ${holder}`) });
      task.title = `Deploy lock taken (${held.lock.dir})`;
    },
    cleanup: async () => {
      await held.lock?.release();
    },
  };
}

/** The orchestrator's rollout as steps: prepare, migrate, roll, the smoke check through the proxy, retire; its undo in the pipeline's one place. */
export function rolloutSteps(rollout: Rollout, smoke: Step): Step[] {
  const steps: Step[] = [...rollout.prepare, ...rollout.migrate, ...rollout.roll, smoke, ...rollout.retire];
  const [first, ...rest] = steps;
  if (!first) return [];
  return [{ ...first, undo: (failure) => rollout.undo(failure) }, ...rest];
}

export interface RecordFields {
  version: string;
  imageRef: string;
  image: () => ImageInfo | undefined;
  replicas: () => number;
  backup?: () => string | null;
}

/** What ends every release: the history entry (only once the lock was taken) and the pinned APP_VERSION. */
export function closing(ctx: Context, action: Release['action'], startedAt: Date, previousVersion: string | null, held: { lock?: LockHandle }, f: RecordFields): Closing {
  return {
    async record(result, error) {
      // A release that never took the lock changed nothing: not a release.
      if (!held.lock) return undefined;
      const finishedAt = new Date();
      const image = f.image();
      const release: Release = {
        id: `${compactUtc(startedAt)}-${action}-${f.version}`,
        action,
        environment: ctx.environment,
        version: f.version,
        image: f.imageRef,
        imageId: image?.id ?? 'unknown',
        digest: image?.repoDigests[0] ?? null,
        who: currentUser(),
        host: hostname(),
        startedAt: startedAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        durationMs: finishedAt.getTime() - startedAt.getTime(),
        result,
        previousVersion,
        replicas: f.replicas(),
        backup: f.backup?.() ?? null,
        ...(error ? { error: error.slice(0, 2000) } : {}),
        orchestrator: ctx.orchestrator.kind,
        project: ctx.projectName,
      };
      const path = ctx.statePath('releases.json');
      await saveHistory(path, appendRelease(await loadHistory(path), release));
      return release;
    },
    // A failure to write is a warning, not an error: the release itself is done.
    pin: () =>
      pinVersionInEnvFile(ctx, f.version).catch((e: unknown) => {
        ctx.output.warn(`could not write APP_VERSION to ${ctx.envFile}: ${messageOf(e)}`);
        return false;
      }),
  };
}

/** After a successful deploy or rollback: `docker compose up` run by hand keeps this version. */
export async function pinVersionInEnvFile(ctx: Context, version: string): Promise<boolean> {
  if (!ctx.envFileExists) return false;
  const text = await readFile(ctx.envFile, 'utf8');
  if (ctx.envValues.get('APP_VERSION') === version && /^APP_VERSION=/m.test(text)) return false;
  const mode = (await stat(ctx.envFile)).mode & 0o777;
  await writeFileAtomic(ctx.envFile, setEnvValue(text, 'APP_VERSION', version), mode);
  return true;
}
