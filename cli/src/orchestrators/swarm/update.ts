import { sameImage } from './stack.js';

/**
 * What a swarm rolling update is doing, read from the service's UpdateStatus and its tasks.
 * Pure: the Engine's answers are passed in, so every branch has a unit test.
 *
 * Swarm does the rolling update (update_config: start-first, failure_action rollback);
 * shopctl only watches it, reports progress, and says how it ended.
 */

/** The fields of GET /services/{id} UpdateStatus shopctl reads. */
export interface UpdateStatusLike {
  State?: string | undefined;
  StartedAt?: string | undefined;
  CompletedAt?: string | undefined;
  Message?: string | undefined;
}

/** The fields of a GET /tasks entry shopctl reads. */
export interface TaskLike {
  ID: string;
  Slot?: number | undefined;
  NodeID?: string | undefined;
  DesiredState?: string | undefined;
  CreatedAt?: string | undefined;
  Spec?: { ContainerSpec?: { Image?: string | undefined } | undefined } | undefined;
  Status?:
    | {
        State?: string | undefined;
        Message?: string | undefined;
        Err?: string | undefined;
        Timestamp?: string | undefined;
        ContainerStatus?: { ContainerID?: string | undefined; ExitCode?: number | undefined } | undefined;
      }
    | undefined;
}

/** Task states before `running` (swarm's task lifecycle). */
const STARTING = new Set(['new', 'allocated', 'pending', 'assigned', 'accepted', 'preparing', 'ready', 'starting']);
/** Task states that mean it ended badly. */
const FAILED = new Set(['failed', 'rejected', 'orphaned']);

/** Whether the service's UpdateStatus describes an update begun after `before` was read (ours), by its start time. */
export function isNewUpdate(before: UpdateStatusLike | undefined, now: UpdateStatusLike | undefined): boolean {
  return Boolean(now?.StartedAt) && now?.StartedAt !== before?.StartedAt;
}

export interface Progress {
  desired: number;
  /** Tasks of the target image that run (for a service with a health check: that are healthy). */
  newRunning: number;
  newStarting: number;
  /** Tasks of another image still meant to run. */
  oldRunning: number;
  /** Tasks of the target image that failed (created since the deploy began). */
  failedNew: TaskLike[];
}

/** Counts tasks by image and state. `since` (ISO time) leaves out failures of earlier attempts. */
export function progressOf(tasks: readonly TaskLike[], targetImage: string, desired: number, since?: string): Progress {
  const p: Progress = { desired, newRunning: 0, newStarting: 0, oldRunning: 0, failedNew: [] };
  for (const t of tasks) {
    const state = t.Status?.State ?? '';
    const isNew = sameImage(t.Spec?.ContainerSpec?.Image, targetImage);
    const wanted = t.DesiredState === 'running';
    // A server task that exits, even with 0, while it is meant to run has failed too.
    if (isNew && (FAILED.has(state) || (state === 'complete' && wanted))) {
      if (!since || (t.CreatedAt ?? '') >= since) p.failedNew.push(t);
      continue;
    }
    if (!wanted) continue;
    if (state === 'running') {
      if (isNew) p.newRunning += 1;
      else p.oldRunning += 1;
    } else if (STARTING.has(state) && isNew) {
      p.newStarting += 1;
    }
  }
  return p;
}

/** `2/3 on shop-api:1.4.0 (1 starting), 1 old` */
export function describeProgress(p: Progress, image: string): string {
  const parts = [`${p.newRunning}/${p.desired} on ${image}`];
  if (p.newStarting) parts.push(`(${p.newStarting} starting)`);
  let line = parts.join(' ');
  if (p.oldRunning) line += `, ${p.oldRunning} old`;
  if (p.failedNew.length) line += `, ${p.failedNew.length} failed`;
  return line;
}

export type Verdict =
  | { done: false; line: string }
  | { done: true; result: 'converged'; message: string }
  /** Swarm rolled the service back by itself (failure_action rollback): the previous version serves. */
  | { done: true; result: 'rolled_back'; message: string }
  /** The update stopped half-way (failure_action pause, or someone paused it): old and new tasks mixed. */
  | { done: true; result: 'paused'; message: string }
  /** Even the rollback stopped: the service needs a person. */
  | { done: true; result: 'rollback_paused'; message: string }
  /** No update to roll back (a new service): its tasks keep failing. */
  | { done: true; result: 'failing'; message: string };

export interface JudgeInput {
  update: UpdateStatusLike | undefined;
  /** The update status belongs to this deploy (isNewUpdate). */
  ours: boolean;
  /** The deploy changed the service's task template, so swarm will start an update. */
  expectUpdate: boolean;
  progress: Progress;
  image: string;
  /** Failed tasks of a service that has nothing to roll back to, before giving up. */
  maxFailures?: number;
}

/**
 * Where the rollout of one service stands. With an update of ours: swarm's own verdict
 * (completed, rolled back, paused). Without one (a new service, or nothing changed): the
 * tasks converge, or keep failing.
 */
export function judge(input: JudgeInput): Verdict {
  const { update, ours, progress: p } = input;
  const progressLine = describeProgress(p, input.image);
  if (ours) {
    const message = update?.Message ?? '';
    switch (update?.State) {
      case 'completed':
        return { done: true, result: 'converged', message: message || 'update completed' };
      case 'rollback_completed':
        return { done: true, result: 'rolled_back', message: message || 'rollback completed' };
      case 'paused':
        return { done: true, result: 'paused', message: message || 'update paused' };
      case 'rollback_paused':
        return { done: true, result: 'rollback_paused', message: message || 'rollback paused' };
      case 'rollback_started':
        return { done: false, line: `swarm is rolling back: ${message || 'the new tasks failed'}` };
      default:
        return { done: false, line: `updating: ${progressLine}` };
    }
  }
  if (input.expectUpdate) return { done: false, line: `waiting for swarm to start the update (${progressLine})` };
  if (p.failedNew.length >= (input.maxFailures ?? 3)) {
    return { done: true, result: 'failing', message: `${p.failedNew.length} task(s) failed: ${taskFailure(p.failedNew.at(-1))}` };
  }
  if (p.newRunning >= p.desired && p.newStarting === 0 && p.oldRunning === 0) return { done: true, result: 'converged', message: `${p.newRunning}/${p.desired} running` };
  return { done: false, line: `starting: ${progressLine}` };
}

/** Why a task ended, in swarm's words: `task: non-zero exit (1)`, `No such image: ...`. */
export function taskFailure(t: TaskLike | undefined): string {
  if (!t) return 'unknown';
  const s = t.Status;
  return [s?.State, s?.Err || s?.Message].filter(Boolean).join(': ') || 'unknown';
}

/** The update's bound: every batch may take the health timeout, the delay and a stop, then swarm monitors the last. */
export function updateDeadlineMs(opts: { replicas: number; parallelism: number; healthTimeoutMs: number; delayMs: number; stopGraceMs: number; monitorMs: number }): number {
  const batches = Math.max(1, Math.ceil(opts.replicas / Math.max(1, opts.parallelism || opts.replicas)));
  // +2 s per batch: swarm takes a stopping task out of DNS 2 s before it sends SIGTERM.
  return batches * (opts.healthTimeoutMs + opts.delayMs + opts.stopGraceMs + 2000) + opts.monitorMs + 30_000;
}
