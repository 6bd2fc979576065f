import type { Context } from '../context.js';
import { ShopctlError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { gauge } from '../state/backup-files.js';
import { formatDuration } from '../time.js';
import { writeBackupMetrics } from './metrics.js';
import { SANDBOX_ARCHIVE, SANDBOX_PGDATA, databaseImage, walArchiveVolume, withSandbox } from './sandbox.js';
import { findBaseBackup } from './base.js';
import { describePlan, planRestore, replay, stopSandboxPostgres, type TargetChoice } from './pitr.js';

export interface VerifyBackupOptions extends TargetChoice {
  timeout?: number | undefined;
  onStep?: (s: string) => void;
}

export interface CheckLine {
  name: string;
  ok: boolean;
  detail: string;
}

/** Row counts of a restore of the base backup alone lie between the counts taken just before and just after it. */
export function compareCounts(restored: Record<string, number>, before: Record<string, number>, after: Record<string, number>): CheckLine[] {
  const lines: CheckLine[] = [];
  for (const table of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const got = restored[table];
    const lo = Math.min(before[table] ?? 0, after[table] ?? 0);
    const hi = Math.max(before[table] ?? 0, after[table] ?? 0);
    if (got === undefined) lines.push({ name: `rows ${table}`, ok: false, detail: 'table missing from the restore' });
    else lines.push({ name: `rows ${table}`, ok: got >= lo && got <= hi, detail: lo === hi ? `${got} (manifest ${lo})` : `${got} (manifest ${lo}..${hi})` });
  }
  return lines;
}

/**
 * `shopctl backup verify`: restores a base backup (the newest unless named), optionally with WAL
 * to a point in time, into a throwaway container on no network, proves it and removes everything
 * it made. Any failure is exit 8 with the failing check named.
 */
export async function verifyBackup(ctx: Context, opts: VerifyBackupOptions): Promise<{ data: Record<string, unknown>; human: string }> {
  const started = Date.now();
  const step = opts.onStep ?? (() => {});
  const base = await findBaseBackup(ctx, opts.base);
  const image = await databaseImage(ctx);
  const archive = await walArchiveVolume(ctx);
  const checks: CheckLine[] = [];
  const result = await withSandbox(ctx, { purpose: 'backup-verify', image, dataVolume: { name: `shopctl-backup-verify-${process.pid}-${Date.now()}`, temporary: true }, archiveVolume: archive }, async (s) => {
    step('planning: base backup and WAL');
    const plan = await planRestore(ctx, s, { base: base.stem, toTime: opts.toTime, latest: opts.latest });
    const replayed = await replay(s, plan, {
      user: base.meta.user,
      database: base.meta.database,
      timeoutMs: (opts.timeout ?? 600) * 1000,
      onStep: step,
      keepRunning: true,
      beforeStart: async () => {
        step('pg_verifybackup');
        const r = await s.exec(['pg_verifybackup', '--wal-directory', SANDBOX_ARCHIVE, SANDBOX_PGDATA]);
        checks.push({ name: 'pg_verifybackup', ok: r.exitCode === 0, detail: `${r.stdout}${r.stderr}`.trim().split('\n').slice(-5).join('; ') });
        if (r.exitCode !== 0) throw new ShopctlError(`pg_verifybackup rejects ${base.stem}`, { exitCode: ExitCode.INTEGRITY, detail: `${r.stderr}${r.stdout}`.trim() });
      },
    });
    checks.push({ name: 'promoted', ok: replayed.promoted, detail: `timeline ${replayed.timeline}` });
    if (plan.immediate) checks.push(...compareCounts(replayed.rowCounts, base.meta.rowCounts, base.meta.rowCountsAfter));
    else checks.push({ name: 'tables', ok: Object.keys(base.meta.rowCounts).every((t) => t in replayed.rowCounts), detail: `${Object.keys(replayed.rowCounts).length} tables` });
    step('amcheck: every B-tree index against its table');
    const am = await s.exec([
      'psql', '-X', '-h', '/tmp', '-v', 'ON_ERROR_STOP=1', '-At', '-U', base.meta.user, '-d', base.meta.database, '-c',
      "CREATE EXTENSION IF NOT EXISTS amcheck; SELECT count(bt_index_check(c.oid, true)) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'btree' AND c.relnamespace = 'public'::regnamespace",
    ]);
    checks.push({ name: 'indexes and constraints (amcheck)', ok: am.exitCode === 0, detail: am.exitCode === 0 ? `${am.stdout.trim().split('\n').at(-1)} B-tree index(es) consistent with their tables` : am.stderr.trim() });
    checks.push({ name: 'an order with its lines', ok: replayed.sampleOrder === null ? !('orders' in replayed.rowCounts) || replayed.rowCounts.orders === 0 : replayed.sampleOrder.lines > 0, detail: replayed.sampleOrder ? `order ${replayed.sampleOrder.id}: ${replayed.sampleOrder.lines} line(s)` : 'no orders in this backup' });
    await stopSandboxPostgres(s);
    return { plan, replayed };
  });
  const failed = checks.filter((c) => !c.ok);
  const lines = [`${failed.length ? 'FAILED' : 'Verified'} ${base.stem} (${formatDuration(Date.now() - started)}, throwaway container removed)`, describePlan(result.plan).replace(/^/gm, '  '), ...checks.map((c) => `  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`)];
  if (failed.length) {
    throw new ShopctlError(`Backup ${base.stem} failed verification: ${failed.map((c) => `${c.name} (${c.detail})`).join('; ')}`, { exitCode: ExitCode.INTEGRITY, detail: lines.join('\n') });
  }
  await writeBackupMetrics(ctx.backupDir, gauge('shopctl_backup_last_verified_timestamp_seconds', 'Unix time of the last backup proven by restoring it (shopctl backup verify).', Math.floor(Date.now() / 1000)));
  return { data: { verified: base.stem, plan: { base: base.stem, target: result.plan.targetTime?.toISOString() ?? (result.plan.immediate ? 'immediate' : 'latest') }, checks, durationMs: Date.now() - started }, human: lines.join('\n') };
}
