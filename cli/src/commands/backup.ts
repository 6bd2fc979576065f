import type { Command } from 'commander';
import type { Context } from '../context.js';
import type { CommandModule, CommandOutcome } from '../command.js';
import { positiveInt, seconds } from '../options.js';
import { ShopctlError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import type { RetentionPolicy } from '../state/retention.js';
import { formatBytes, formatDuration } from '../time.js';
import { takeBackup, type BackupResult } from '../backup/take.js';
import { applyRetention, type RetentionOutcome } from '../backup/files.js';

interface BackupCliOptions {
  withRedis?: boolean;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  timeout?: number;
}

export async function backupCommand(ctx: Context, opts: BackupCliOptions): Promise<CommandOutcome> {
  const retention = opts.keepDaily !== undefined || opts.keepWeekly !== undefined || opts.keepMonthly !== undefined;
  const policy: RetentionPolicy = { daily: opts.keepDaily ?? 0, weekly: opts.keepWeekly ?? 0, monthly: opts.keepMonthly ?? 0 };
  if (retention && policy.daily + policy.weekly + policy.monthly === 0) {
    throw new ShopctlError('--keep-daily 0 --keep-weekly 0 --keep-monthly 0 would delete every backup, the new one too', { exitCode: ExitCode.USAGE, hint: 'Keep at least one (e.g. --keep-daily 7).' });
  }
  const state: { result?: BackupResult; retention?: RetentionOutcome } = {};
  await ctx.output.tasks(
    [
      {
        title: 'Back up PostgreSQL' + (opts.withRedis ? ' and Redis' : ''),
        task: async (_c, task) => {
          state.result = await takeBackup(ctx, {
            withRedis: opts.withRedis,
            reason: 'manual',
            timeoutMs: opts.timeout ? opts.timeout * 1000 : undefined,
            onStep: (s) => {
              task.output = s;
            },
          });
          task.title = `Backed up ${state.result.meta.database}: ${state.result.file} (${formatBytes(state.result.sizeBytes)}, ${formatDuration(state.result.durationMs)})`;
        },
      },
      {
        title: 'Apply retention',
        enabled: () => retention,
        task: async (_c, task) => {
          state.retention = await applyRetention(ctx.backupDir, state.result?.meta.database ?? '', policy);
          task.title = `Retention: kept ${state.retention.kept.length}, removed ${state.retention.removed.length}`;
        },
      },
    ],
    {},
  );
  const r = state.result;
  if (!r) throw new ShopctlError('backup did not complete');
  const lines = [
    `${r.path}`,
    `  size ${formatBytes(r.sizeBytes)}, sha256 ${r.sha256.slice(0, 16)}..., ${r.meta.tocEntries} TOC entries, ${formatDuration(r.durationMs)}`,
    `  rows: ${Object.entries(r.meta.rowCounts).map(([t, n]) => `${t} ${n}`).join(', ') || '(no tables)'}`,
  ];
  if (r.meta.redis) lines.push(`  redis: ${r.meta.redis.file} (${formatBytes(r.meta.redis.sizeBytes)}, ${r.meta.redis.fresh ? 'fresh BGSAVE' : `the last automatic snapshot, of ${r.meta.redis.snapshotAt ?? 'unknown time'}`})`);
  if (state.retention) {
    lines.push(`  retention: kept ${state.retention.kept.length}, removed ${state.retention.removed.length}${state.retention.removed.length ? `: ${state.retention.removed.join(', ')}` : ''}`);
  }
  return {
    data: { backup: { ...r.meta, path: r.path }, retention: state.retention ?? null },
    human: lines.join('\n'),
  };
}

export const backupModule: CommandModule = {
  register(program: Command, run, { example }) {
    program
      .command('backup')
      .description('pg_dump -Fc inside the db container, streamed out, fsynced, checked with pg_restore, then renamed into backups/ with .sha256 and .json. Safe in cron.')
      .option('--with-redis', 'also copy a fresh Redis RDB snapshot (BGSAVE)')
      .option('--keep-daily <n>', 'after the backup, keep the newest backup of each of the last n days', positiveInt('--keep-daily'))
      .option('--keep-weekly <n>', 'keep the newest backup of each of the last n ISO weeks', positiveInt('--keep-weekly'))
      .option('--keep-monthly <n>', 'keep the newest backup of each of the last n months', positiveInt('--keep-monthly'))
      .option('--timeout <seconds>', 'give up on pg_dump after this long', seconds('--timeout'))
      .addHelpText(
        'after',
        example(`
          shopctl backup
          shopctl backup --with-redis --keep-daily 7 --keep-weekly 4 --keep-monthly 6
          # crontab: every night at 03:17, mail only on failure
          17 3 * * * cd /srv/shop && shopctl backup --keep-daily 7 --keep-weekly 4 --keep-monthly 6 >/dev/null`),
      )
      .action(async (opts: BackupCliOptions, cmd: Command) => run('backup', cmd, (ctx) => backupCommand(ctx, opts)));
  },
};
