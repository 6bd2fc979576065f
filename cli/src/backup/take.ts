import { mkdir, rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Context } from '../context.js';
import { ShopctlError } from '../errors.js';
import { acquireLock, currentUser } from '../state/lock.js';
import { backupMetrics, formatChecksumLine, gauge, type BackupMeta } from '../state/backup-files.js';
import { writeFileAtomic, fsyncDir } from '../state/fs-atomic.js';
import { formatBytes } from '../time.js';
import { currentRelease, loadHistory } from '../state/releases.js';
import { execChecked } from '../docker/exec.js';
import { PG_EXEC_USER, postgresTarget, psqlArgs } from './postgres.js';
import { checkDump, rowCounts } from './dump.js';
import { redisSnapshot } from './redis.js';
import { execToFile, freeStem } from './files.js';
import { writeBackupMetrics } from './metrics.js';

export interface BackupOptions {
  reason?: string;
  withRedis?: boolean;
  /** How long to queue behind another backup (cron overlap refuses at once: 0). */
  lockWaitMs?: number;
  timeoutMs?: number;
  onStep?: (step: string) => void;
}

export interface BackupResult {
  file: string;
  path: string;
  sizeBytes: number;
  sha256: string;
  durationMs: number;
  meta: BackupMeta;
}

/** Takes one verified backup set; every file appears under its final name only once all of them are complete. */
export async function takeBackup(ctx: Context, opts: BackupOptions = {}): Promise<BackupResult> {
  const started = Date.now();
  const step = opts.onStep ?? (() => {});
  const docker = await ctx.docker();
  const target = await postgresTarget(ctx);
  const lock = await acquireLock(ctx.statePath('backup.lock'), {
    command: 'backup',
    label: 'backup',
    message: opts.reason,
    waitMs: opts.lockWaitMs ?? 0,
    signal: ctx.signal,
    onWait: (holder) => step(`waiting for the backup lock held by ${holder}`),
  });
  const temps: string[] = [];
  let failed = false;
  try {
    await mkdir(ctx.backupDir, { recursive: true, mode: 0o700 });
    const time = new Date();
    const stem = await freeStem(ctx.backupDir, target.database, time);
    const dumpName = `${stem}.dump`;
    const tmp = (name: string) => {
      const p = join(ctx.backupDir, `.${name}.partial`);
      temps.push(p);
      return p;
    };
    const dumpTmp = tmp(dumpName);

    step('reading versions and row counts');
    const serverVersion = (await execChecked(docker, target.container.Id, psqlArgs(target, 'SHOW server_version'), 'psql', { user: PG_EXEC_USER })).stdout.trim();
    const pgDumpVersion = (await execChecked(docker, target.container.Id, ['pg_dump', '--version'], 'pg_dump --version', { user: PG_EXEC_USER })).stdout.trim();
    const counts = await rowCounts(ctx, target);

    step(`pg_dump -Fc ${target.database}`);
    const dumped = await execToFile(ctx, target.container.Id, ['pg_dump', '--format=custom', '--no-password', '-U', target.user, '-d', target.database], dumpTmp, opts.timeoutMs);
    if (dumped.size === 0) throw new ShopctlError('pg_dump produced an empty file');

    step(`checking the dump with pg_restore (${formatBytes(dumped.size)})`);
    const check = await checkDump(ctx, target, dumpTmp);

    let redis: BackupMeta['redis'] = null;
    const finals: Array<[string, string]> = [];
    if (opts.withRedis) {
      const rdbName = `${stem}.redis.rdb`;
      const rdbTmp = tmp(rdbName);
      const r = await redisSnapshot(ctx, rdbTmp, step);
      redis = { file: rdbName, sizeBytes: r.size, sha256: r.sha256, fresh: r.fresh, snapshotAt: r.snapshotAt };
      const rdbSumTmp = tmp(`${rdbName}.sha256`);
      await writeFileAtomic(rdbSumTmp, formatChecksumLine(r.sha256, rdbName), 0o600);
      finals.push([rdbTmp, rdbName], [rdbSumTmp, `${rdbName}.sha256`]);
    }

    const history = await loadHistory(ctx.statePath('releases.json')).catch(() => undefined);
    const meta: BackupMeta = {
      schema: 1,
      file: dumpName,
      database: target.database,
      createdAt: time.toISOString(),
      reason: opts.reason ?? 'manual',
      sizeBytes: dumped.size,
      sha256: dumped.sha256,
      durationMs: Date.now() - started,
      serverVersion,
      pgDumpVersion,
      tocEntries: check.tocEntries,
      rowCounts: counts,
      appVersion: (history && currentRelease(history, ctx.environment)?.version) ?? null,
      redis,
      host: hostname(),
      who: currentUser(),
    };
    const sumTmp = tmp(`${dumpName}.sha256`);
    const metaTmp = tmp(`${stem}.json`);
    await writeFileAtomic(sumTmp, formatChecksumLine(dumped.sha256, dumpName), 0o600);
    await writeFileAtomic(metaTmp, `${JSON.stringify(meta, null, 2)}\n`, 0o600);
    // Sidecars first, the dump last: a set is listed (and restorable) only once its dump has its final name.
    finals.push([sumTmp, `${dumpName}.sha256`], [metaTmp, `${stem}.json`], [dumpTmp, dumpName]);
    for (const [from, to] of finals) await rename(from, join(ctx.backupDir, to));
    temps.length = 0;
    await fsyncDir(ctx.backupDir);

    const finishedAt = new Date();
    const durationMs = meta.durationMs;
    await writeBackupMetrics(ctx.backupDir, backupMetrics({ finishedAt, sizeBytes: dumped.size, durationMs }));
    return { file: dumpName, path: join(ctx.backupDir, dumpName), sizeBytes: dumped.size, sha256: dumped.sha256, durationMs, meta };
  } catch (error) {
    failed = true;
    if ((error as NodeJS.ErrnoException).code === 'ENOSPC') {
      throw new ShopctlError(`The backup directory ${ctx.backupDir} is full (no space left on device): the backup failed and nothing of it was kept`, {
        hint: 'Earlier backups are untouched. Free space there (or keep fewer: --keep-daily/--keep-weekly/--keep-monthly), then run shopctl backup again.',
      });
    }
    throw error;
  } finally {
    // The partial files first: on a full disk they hold the space the failure record needs.
    for (const t of temps) await rm(t, { force: true });
    if (failed) await writeBackupMetrics(ctx.backupDir, failureMetric(new Date())).catch(() => undefined);
    await lock.release();
  }
}

/** A failed run, beside the last success (which writeBackupMetrics keeps): BackupFailed alerts on the two. */
export function failureMetric(at: Date): string {
  return gauge('shopctl_backup_last_failure_timestamp_seconds', 'Unix time of the last backup that failed.', Math.floor(at.getTime() / 1000));
}

