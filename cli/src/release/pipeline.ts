import type { ListrTask } from 'listr2';
import { messageOf } from '../errors.js';
import type { Failure, RolloutStep } from '../orchestrators/orchestrator.js';
import type { Release } from '../state/releases.js';
import { pauseForTest } from '../test-pause.js';

/**
 * The release pipeline deploy and rollback share: a list of steps run in order. When one fails,
 * the steps that started are undone newest first (here and nowhere else), the release is recorded
 * with how it ended, and every step's `cleanup` runs whatever happened (the deploy lock's release).
 * A dry-run runs nothing: it prints each step's `plan()`, so the plan cannot drift from what runs.
 */
export interface Step extends RolloutStep {
  /** Puts back what the step changed, when it or a later step failed; may say how the release ended. */
  undo?: (failure: Failure) => Promise<Failure>;
  /** Runs at the very end, success or not, after the release is recorded. */
  cleanup?: () => Promise<void>;
}

export interface Closing {
  /** Records the release; undefined when there is nothing to record (the lock was never taken). */
  record(result: Release['result'], error?: string): Promise<Release | undefined>;
  /** After a success: pins the version for a later plain `docker compose up`; true when it wrote. */
  pin(): Promise<boolean>;
}

export interface Runner {
  tasks(tasks: Array<ListrTask<object>>, ctx: object): Promise<unknown>;
  warn(message: string): void;
}

export async function runRelease(runner: Runner, steps: readonly Step[], closing: Closing, signal: AbortSignal): Promise<{ release: Release | undefined; pinned: boolean }> {
  const started: Step[] = [];
  try {
    try {
      await runner.tasks(
        steps.map((s) => ({
          title: s.title,
          ...(s.enabled ? { enabled: s.enabled } : {}),
          task: async (_c: object, task: { title: string; output: string | unknown; skip(message?: string): void }) => {
            // Test-only hook (SHOPCTL_TEST_PAUSE_AT_STEP): before the step counts as started, so its own undo is not asked for.
            await pauseForTest(started.length + 1, s.name, signal);
            started.push(s);
            await s.run(task);
          },
        })),
        {},
      );
    } catch (error) {
      const message = messageOf(error);
      let failure: Failure = { result: 'failed', error };
      for (const s of [...started].reverse()) if (s.undo) failure = await s.undo(failure);
      await closing.record(failure.result, message).catch((e: unknown) => runner.warn(`could not record the release: ${messageOf(e)}`));
      throw failure.error;
    }
    const release = await closing.record('success');
    return { release, pinned: await closing.pin() };
  } finally {
    for (const s of [...started].reverse()) await s.cleanup?.();
  }
}

/** The dry-run plan: every step that would run, with what it would do. */
export function planOf(steps: readonly Step[], closing: Array<[string, string]>): Array<{ step: string; what: string }> {
  const rows: Array<{ step: string; what: string }> = [];
  for (const s of steps) {
    const what = s.plan();
    if (what !== undefined) rows.push({ step: s.name, what });
  }
  return [...rows, ...closing.map(([step, what]) => ({ step, what }))];
}
