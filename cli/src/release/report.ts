import type { Context } from '../context.js';
import type { ExitCodeValue } from '../exit-codes.js';
import { renderTable } from '../formats/table.js';
import { formatDuration } from '../time.js';
import { shortId } from '../docker/containers.js';
import type { Rollout } from '../orchestrators/orchestrator.js';
import type { Release } from '../state/releases.js';

/** What a deploy or rollback hands its command to print: --json fields and the text. */
export interface ReleaseOutcome {
  exitCode?: ExitCodeValue;
  data: Record<string, unknown>;
  human: string;
}

/** A dry-run: the plan derived from the steps that would run. */
export function releasePlan(_ctx: Context, p: { heading: string[]; steps: Array<{ step: string; what: string }>; data: Record<string, unknown> }): ReleaseOutcome {
  return {
    data: { dryRun: true, ...p.data, steps: p.steps },
    human: [...p.heading, renderTable(['step', 'what'], p.steps.map((s) => [s.step, s.what]))].join('\n'),
  };
}

/** A finished deploy or rollback: the rollout's own report, with what every release shares. */
export function releaseReport(
  ctx: Context,
  rollout: Rollout,
  done: { release: Release | undefined; pinned: boolean },
  r: { verb: string; version: string; startedAt: number; backup?: string | undefined; data: Record<string, unknown> },
): ReleaseOutcome {
  const report = rollout.report();
  const lines = [`${r.verb} ${r.version} in ${formatDuration(Date.now() - r.startedAt)}: ${report.headline}`, ...report.lines];
  if (r.backup) lines.push(`  backup before deploy: ${r.backup}`);
  if (done.pinned) lines.push(`  APP_VERSION=${r.version} written to the env file, so a plain \`docker compose up\` keeps this version`);
  if (done.release) lines.push(`  release recorded: ${done.release.id} (image ${shortId(done.release.imageId)})`);
  return {
    exitCode: report.exitCode,
    data: {
      ...r.data,
      orchestrator: ctx.orchestrator.kind,
      ...report.data,
      durationMs: Date.now() - r.startedAt,
      release: done.release,
      envFilePinned: done.pinned,
    },
    human: lines.join('\n'),
  };
}
