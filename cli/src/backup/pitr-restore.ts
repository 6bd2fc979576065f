import type { Context } from '../context.js';
import { ShopctlError, messageOf } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { formatDuration } from '../time.js';
import { execIn } from '../docker/exec.js';
import { SERVICES, type Pause } from '../orchestrators/orchestrator.js';
import { smokeCheck } from '../proxy.js';
import { PG_EXEC_USER } from './postgres.js';
import { PROJECT_LABEL, SANDBOX_PGDATA, databaseImage, startSandbox, volumeExists, walArchiveVolume, withSandbox, type Sandbox } from './sandbox.js';
import { describePlan, planRestore, replay, restoreVolumeName, type Replayed, type RestorePlan, type TargetChoice } from './pitr.js';
import { takeBaseBackup } from './base.js';
import { fetchForRestore, openStore, type Fetched } from './offsite.js';
import { progress } from '../output.js';

export interface PitrOptions extends TargetChoice {
  dryRun?: boolean | undefined;
  yes?: boolean | undefined;
  /** Seconds for the API (and recovery) to finish. */
  timeout?: number | undefined;
  /** Skip the fresh base backup on the new timeline after a restore. */
  noBaseBackup?: boolean | undefined;
}

/** Label of the volumes a restore keeps for undo; `shopctl backup prune-volumes` removes them. */
export const KEPT_LABEL = 'shopctl.kept';

/** Copies one data volume into another (emptied first) in a throwaway container, as postgres, modes and times kept. */
async function copyVolume(ctx: Context, image: string, from: string, to: string, labels?: Record<string, string>): Promise<void> {
  const docker = await ctx.docker();
  if (!(await volumeExists(docker, to))) await docker.createVolume({ Name: to, Labels: labels ?? {} });
  await withSandbox(ctx, { purpose: 'copy-volume', image, dataVolume: { name: to }, sourceVolume: from }, async (s) => {
    await s.run(['sh', '-c', `find ${SANDBOX_PGDATA} -mindepth 1 -delete && cp -a /src/. ${SANDBOX_PGDATA}/ && chmod 0700 ${SANDBOX_PGDATA} && sync`], `copying volume ${from} to ${to}`);
  });
}

/**
 * Point-in-time restore: plan (which base backup, which WAL, the reachable window; a gap stops
 * it here, before anything is touched), confirm, build a NEW data volume from the base backup
 * plus WAL replay in a throwaway container, prove it (promoted, row counts, an order with its
 * lines), and only then switch: API stopped (nginx answers 503 meanwhile), the current data
 * copied into a kept volume, the restored data put in its place, db and API started and checked
 * through nginx. Anything failing after the switch began puts the previous data back.
 */
export async function restoreToPoint(ctx: Context, choice: PitrOptions, ask: (q: string) => Promise<string | undefined>): Promise<{ data: Record<string, unknown>; human: string }> {
  const started = Date.now();
  const docker = await ctx.docker();
  const image = await databaseImage(ctx);
  const archive = await walArchiveVolume(ctx);
  const timeoutMs = (choice.timeout ?? 300) * 1000;

  const store = await openStore(ctx);
  let fetched: Fetched | undefined;
  if (store) {
    try {
      await ctx.output.tasks(
        [
          {
            title: `Fetch what the backup directory and the WAL archive lack from ${store.label}`,
            task: async (_c, task) => {
              fetched = await fetchForRestore(ctx, store, choice, progress(task));
              task.title = `From ${store.label}: ${fetched.base ? `base backup ${fetched.base}` : 'no base backup needed'}, ${fetched.wal} WAL file(s) (decrypted, authenticated)`;
            },
          },
        ],
        {},
      );
    } finally {
      store.destroy();
    }
  }

  const inspector = await startSandbox(ctx, { purpose: 'restore-plan', image, archiveVolume: archive });
  let plan: RestorePlan;
  try {
    plan = await planRestore(ctx, inspector, choice);
  } finally {
    await inspector.remove();
  }
  const planText = describePlan(plan);
  const names = { user: plan.base.meta.user, database: plan.base.meta.database };
  const planData = {
    base: plan.base.stem,
    baseFinishedAt: plan.base.meta.finishedAt,
    wal: { first: plan.walk.first, last: plan.walk.last ?? null, segments: plan.walk.count, timeline: plan.walk.timeline, gap: plan.walk.gap ?? null },
    reachable: { from: plan.from.toISOString(), to: plan.to?.toISOString() ?? null },
    target: plan.targetTime?.toISOString() ?? (plan.immediate ? 'immediate' : 'latest'),
    fetched: fetched ?? null,
  };
  if (choice.dryRun) return { data: { dryRun: true, plan: planData }, human: `Restore plan (nothing changed):\n${planText}` };

  if (!choice.yes) {
    const answer = await ask(
      `${planText}\nRestore this into database "${names.database}" of ${ctx.orchestrator.label}?\n` +
        'The API is stopped meanwhile (nginx answers 503); the current data is kept in a volume of its own.\n' +
        `Type the database name (${names.database}) to continue: `,
    );
    if (answer === undefined) throw new ShopctlError('Refusing to restore without confirmation: no terminal to ask on', { exitCode: ExitCode.REFUSED, hint: 'Pass --yes to confirm non-interactively.' });
    if (answer !== names.database) throw new ShopctlError('Not confirmed; nothing was changed', { exitCode: ExitCode.REFUSED });
  }

  const at = new Date();
  const restored = restoreVolumeName((v) => ctx.orchestrator.volumeName(v), 'db-restore', at);
  const kept = restoreVolumeName((v) => ctx.orchestrator.volumeName(v), 'db-data-before-restore', at);
  const live = ctx.orchestrator.volumeName('db-data');
  const state: { replayed?: Replayed; keptOld: boolean; switched: boolean; api?: Pause; db?: Pause; baseBackup?: string; restoreMs?: number } = { keptOld: false, switched: false };

  const undo = async (error: unknown): Promise<never> => {
    if (!state.switched) {
      if (state.api?.count) await state.api.start().catch(() => undefined);
      throw error;
    }
    const notes: string[] = [];
    try {
      if (state.keptOld) {
        await (await ctx.orchestrator.pause(SERVICES.db, timeoutMs)).stop(() => {});
        await copyVolume(ctx, image, kept, live);
        notes.push(`the previous data is back in ${live}`);
      }
      await ctx.orchestrator.startService(SERVICES.db, timeoutMs);
      if (state.api?.count) await state.api.start();
      notes.push('the stack runs again');
    } catch (undoError) {
      notes.push(`putting things back failed too: ${messageOf(undoError)}`);
    }
    throw new ShopctlError(`${messageOf(error)}; ${notes.join('; ')}`, {
      exitCode: error instanceof ShopctlError ? error.exitCode : ExitCode.FAILURE,
      detail: error instanceof ShopctlError ? error.detail : undefined,
      hint: `The restored data stays in volume ${restored} for inspection${state.keptOld ? `; the data from before in ${kept}` : ''}.`,
    });
  };

  await ctx.output
    .tasks(
      [
        {
          title: `Build ${restored} from ${plan.base.stem} and the WAL archive`,
          task: async (_c, task) => {
            // Labelled: a failed restore leaves it for inspection, findable (and removable) by project.
            await docker.createVolume({ Name: restored, Labels: { [PROJECT_LABEL]: ctx.projectName, 'shopctl.restore': plan.base.stem } });
            const sandbox: Sandbox = await startSandbox(ctx, { purpose: 'restore', image, dataVolume: { name: restored }, archiveVolume: archive });
            try {
              state.replayed = await replay(sandbox, plan, { ...names, timeoutMs, onStep: (s) => (task.output = s) });
            } finally {
              await sandbox.remove();
            }
            task.title = `Built and checked ${restored}: promoted on timeline ${state.replayed.timeline}, ${state.replayed.rowCounts.orders ?? 0} orders`;
          },
        },
        {
          title: 'Stop the API (nginx answers 503 meanwhile) and the database',
          task: async (_c, task) => {
            state.api = await ctx.orchestrator.pause(SERVICES.api, timeoutMs);
            await state.api.stop((l) => (task.output = l));
            state.db = await ctx.orchestrator.pause(SERVICES.db, timeoutMs);
            await state.db.stop((l) => (task.output = l));
          },
        },
        {
          title: `Keep the current data in ${kept}, put the restored data in ${live}`,
          task: async (_c, task) => {
            state.switched = true;
            if (await volumeExists(docker, live)) {
              task.output = `copying ${live} to ${kept}`;
              await copyVolume(ctx, image, live, kept, { [PROJECT_LABEL]: ctx.projectName, [KEPT_LABEL]: 'before-restore', 'shopctl.kept.from': live });
              state.keptOld = true;
            } else {
              // A lost disk took the volume: Compose's labels, so Compose adopts it as its own.
              await docker.createVolume({ Name: live, Labels: { 'com.docker.compose.project': ctx.projectName, 'com.docker.compose.volume': 'db-data' } });
            }
            task.output = `copying ${restored} to ${live}`;
            await copyVolume(ctx, image, restored, live);
          },
        },
        {
          title: 'Start the database and the API, check through nginx',
          task: async (_c, task) => {
            task.output = 'starting db';
            await ctx.orchestrator.startService(SERVICES.db, timeoutMs);
            await archiveHistory(ctx, state.replayed?.timeline ?? 1);
            task.output = 'starting the API';
            if (state.api?.count) await state.api.start();
            else await ctx.orchestrator.startService(SERVICES.api, timeoutMs);
            await smokeCheck(ctx, undefined, 2);
            state.restoreMs = Date.now() - started;
            task.title = `Database and API healthy on the restored data (${formatDuration(state.restoreMs)})`;
          },
        },
      ],
      {},
    )
    .catch(undo);
  // Its content now lives in the stack's volume.
  await docker.getVolume(restored).remove().catch(() => undefined);

  if (!choice.noBaseBackup) {
    try {
      state.baseBackup = (await takeBaseBackup(ctx, { reason: 'post-restore', lockWaitMs: 600_000 })).stem;
    } catch (error) {
      ctx.output.warn(`the restore succeeded, but the base backup on the new timeline failed: ${messageOf(error)}. Take one now: shopctl backup --physical`);
    }
  }
  const r = state.replayed as Replayed;
  const lines = [
    `Restored ${names.database} from ${plan.base.stem} ${plan.targetTime ? `to ${plan.targetTime.toISOString()}` : plan.immediate ? 'as it was at the end of that backup' : `to the end of the WAL archive (${plan.walk.last})`}`,
    planText.replace(/^/gm, '  '),
    `  restored: timeline ${r.timeline}, rows ${Object.entries(r.rowCounts).map(([t, n]) => `${t} ${n}`).join(', ')}`,
    `  newest order: ${r.newestOrderAt ?? 'none'}; order ${r.sampleOrder?.id ?? '-'} read with ${r.sampleOrder?.lines ?? 0} line(s)`,
    `  previous data kept in volume ${state.keptOld ? kept : '(none: the data volume was gone)'}; remove it with shopctl backup prune-volumes`,
    `  new base backup on the new timeline: ${state.baseBackup ?? 'not taken'}`,
    `  took ${formatDuration(state.restoreMs ?? Date.now() - started)} until the API was healthy`,
  ];
  return {
    data: {
      restored: true,
      plan: planData,
      timeline: r.timeline,
      rowCounts: r.rowCounts,
      newestOrderAt: r.newestOrderAt,
      sampleOrder: r.sampleOrder,
      keptVolume: state.keptOld ? kept : null,
      baseBackup: state.baseBackup ?? null,
      restoreMs: state.restoreMs ?? null,
      durationMs: Date.now() - started,
    },
    human: lines.join('\n'),
  };
}

/**
 * The promoted cluster's timeline history file goes into the archive (the throwaway ran without
 * archiving), so a later restore can follow the new timeline.
 */
async function archiveHistory(ctx: Context, timeline: number): Promise<void> {
  if (timeline <= 1) return;
  const docker = await ctx.docker();
  const db = await ctx.orchestrator.runningContainer(SERVICES.db);
  const name = `${timeline.toString(16).toUpperCase().padStart(8, '0')}.history`;
  const r = await execIn(docker, db.Id, ['sh', '/etc/postgresql/archive-wal.sh', `pg_wal/${name}`, name], { user: PG_EXEC_USER, workingDir: '/var/lib/postgresql/data' });
  if (r.exitCode !== 0) ctx.output.warn(`could not archive ${name}: ${r.stderr.trim()} (a later restore may not follow timeline ${timeline})`);
}

/** Volumes a restore kept (the data from before it), for `shopctl backup prune-volumes`. */
export async function keptVolumes(ctx: Context): Promise<Array<{ name: string; createdAt: string; from: string }>> {
  const docker = await ctx.docker();
  const r = await docker.listVolumes({ filters: { label: [`${KEPT_LABEL}`, `${PROJECT_LABEL}=${ctx.projectName}`] } });
  return (r.Volumes ?? [])
    .map((v) => ({ name: v.Name, createdAt: (v as { CreatedAt?: string }).CreatedAt ?? '', from: v.Labels?.['shopctl.kept.from'] ?? '' }))
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

export async function removeVolumes(ctx: Context, names: readonly string[]): Promise<void> {
  const docker = await ctx.docker();
  for (const n of names) await docker.getVolume(n).remove();
}
