import type { Command } from 'commander';
import type { Context } from '../context.js';
import type { CommandModule, CommandOutcome } from '../command.js';
import { positiveInt, seconds } from '../options.js';
import { ShopctlError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { ask } from '../prompt.js';
import { progress } from '../output.js';
import type { RetentionPolicy } from '../state/retention.js';
import { formatBytes, formatDuration } from '../time.js';
import { takeBackup, type BackupResult } from '../backup/take.js';
import { applyRetention, type RetentionOutcome } from '../backup/files.js';
import { applyBaseRetention, takeBaseBackup, type BaseBackup, type BaseRetentionOutcome } from '../backup/base.js';
import { verifyBackup } from '../backup/verify.js';
import { keptVolumes, removeVolumes } from '../backup/pitr-restore.js';
import { parseTargetTime } from '../backup/pitr.js';
import { applyRemoteRetention, openStore, uploadFromStack, type RemoteRetentionOutcome, type UploadOutcome } from '../backup/offsite.js';
import type { BackupStore } from '../backup/store.js';
import type { ListrTask } from 'listr2';

interface BackupCliOptions {
  withRedis?: boolean;
  physical?: boolean;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  timeout?: number;
  upload?: boolean;
}

/** The store when this backup uploads (--upload, or BACKUP_UPLOAD=always); opened before the backup so a bad setting fails first. */
async function uploadTarget(ctx: Context, upload: boolean | undefined): Promise<BackupStore | undefined> {
  const store = await openStore(ctx, (s) => Boolean(upload) || s.always);
  if (upload && !store) {
    throw new ShopctlError('No store to upload to: BACKUP_S3_BUCKET is not set', { exitCode: ExitCode.PREFLIGHT, hint: 'Set BACKUP_S3_BUCKET, BACKUP_ENCRYPTION_KEY_FILE and credentials in the env file (docs/operations.md, "Off-host copies").' });
  }
  return store;
}

interface OffsiteState {
  upload?: UploadOutcome;
  remoteRetention?: RemoteRetentionOutcome;
}

/** The upload (and remote retention) tasks appended to a backup. */
function offsiteTasks(ctx: Context, store: BackupStore | undefined, policy: RetentionPolicy | undefined, state: OffsiteState): Array<ListrTask<object>> {
  return [
    {
      title: `Upload encrypted copies to ${store?.label ?? ''}`,
      enabled: () => store !== undefined,
      task: async (_c, task) => {
        state.upload = await uploadFromStack(ctx, store as BackupStore, progress(task));
        task.title = `Uploaded ${state.upload.objects} encrypted object(s), ${formatBytes(state.upload.bytes)} (${state.upload.wal} WAL file(s), ${state.upload.base.length} base backup(s), ${state.upload.dumps.length} dump(s)) to ${store?.label}`;
      },
    },
    {
      title: 'Apply retention in the store',
      enabled: () => store !== undefined && policy !== undefined,
      task: async (_c, task) => {
        state.remoteRetention = await applyRemoteRetention(store as BackupStore, policy as RetentionPolicy, progress(task));
        const r = state.remoteRetention;
        task.title = `Retention in the store: removed ${r.base.removed.length} base backup(s), ${r.dumps.removed.length} dump(s), ${r.walRemoved} WAL file(s)`;
      },
    },
  ];
}

function offsiteLines(state: OffsiteState): string[] {
  const lines: string[] = [];
  if (state.upload) lines.push(`  uploaded (encrypted): ${state.upload.objects} object(s), ${formatBytes(state.upload.bytes)}; ${state.upload.wal} WAL, base ${state.upload.base.join(', ') || 'none new'}, dumps ${state.upload.dumps.join(', ') || 'none new'}`);
  if (state.remoteRetention) {
    const r = state.remoteRetention;
    lines.push(`  store retention: removed base ${r.base.removed.join(', ') || 'none'}; dumps ${r.dumps.removed.join(', ') || 'none'}; ${r.walRemoved} WAL file(s)`);
  }
  return lines;
}

function retentionPolicy(opts: BackupCliOptions): RetentionPolicy | undefined {
  if (opts.keepDaily === undefined && opts.keepWeekly === undefined && opts.keepMonthly === undefined) return undefined;
  const policy: RetentionPolicy = { daily: opts.keepDaily ?? 0, weekly: opts.keepWeekly ?? 0, monthly: opts.keepMonthly ?? 0 };
  if (policy.daily + policy.weekly + policy.monthly === 0) {
    throw new ShopctlError('--keep-daily 0 --keep-weekly 0 --keep-monthly 0 would delete every backup, the new one too', { exitCode: ExitCode.USAGE, hint: 'Keep at least one (e.g. --keep-daily 7).' });
  }
  return policy;
}

/** `backup --physical`: a base backup proven by pg_verifybackup; retention then prunes base backups and the WAL none of them needs. */
async function physicalBackup(ctx: Context, opts: BackupCliOptions, policy: RetentionPolicy | undefined, store: BackupStore | undefined): Promise<CommandOutcome> {
  const state: { base?: BaseBackup; retention?: BaseRetentionOutcome } & OffsiteState = {};
  await ctx.output.tasks(
    [
      {
        title: 'Base backup of PostgreSQL (pg_basebackup, pg_verifybackup)',
        task: async (_c, task) => {
          state.base = await takeBaseBackup(ctx, { reason: 'manual', timeoutMs: opts.timeout ? opts.timeout * 1000 : undefined, onStep: (s) => (task.output = s) });
          task.title = `Base backup ${state.base.stem} (${formatBytes(state.base.meta.sizeBytes)}, ${formatDuration(state.base.meta.durationMs)})`;
        },
      },
      {
        title: 'Apply retention to base backups and the WAL archive',
        enabled: () => policy !== undefined,
        task: async (_c, task) => {
          state.retention = await applyBaseRetention(ctx, policy as RetentionPolicy);
          task.title = `Retention: kept ${state.retention.kept.length}, removed ${state.retention.removed.length} base backup(s) and ${state.retention.walRemoved} WAL file(s)`;
        },
      },
      ...offsiteTasks(ctx, store, policy, state),
    ],
    {},
  );
  const b = state.base;
  if (!b) throw new ShopctlError('base backup did not complete');
  const lines = [
    b.path,
    `  size ${formatBytes(b.meta.sizeBytes)}, sha256 ${b.meta.sha256.slice(0, 16)}..., ${formatDuration(b.meta.durationMs)}; ${b.meta.verified}`,
    `  timeline ${b.meta.timeline}, WAL ${b.meta.startWal} .. ${b.meta.stopWal} (in the archive); restorable from ${b.meta.finishedAt}`,
    `  manifest ${b.stem}.backup_manifest; rows: ${Object.entries(b.meta.rowCounts).map(([t, n]) => `${t} ${n}`).join(', ') || '(no tables)'}`,
  ];
  if (state.retention) lines.push(`  retention: kept ${state.retention.kept.length}, removed ${state.retention.removed.join(', ') || 'none'}; WAL kept from ${state.retention.walKeptFrom ?? '-'}, ${state.retention.walRemoved} file(s) pruned`);
  lines.push(...offsiteLines(state));
  return { data: { backup: { ...b.meta, path: b.path }, retention: state.retention ?? null, upload: state.upload ?? null, remoteRetention: state.remoteRetention ?? null }, human: lines.join('\n') };
}

export async function backupCommand(ctx: Context, opts: BackupCliOptions): Promise<CommandOutcome> {
  const policy = retentionPolicy(opts);
  if (opts.physical && opts.withRedis) throw new ShopctlError('--with-redis goes with a dump backup, not --physical', { exitCode: ExitCode.USAGE });
  const store = await uploadTarget(ctx, opts.upload);
  try {
    return opts.physical ? await physicalBackup(ctx, opts, policy, store) : await dumpBackup(ctx, opts, policy, store);
  } finally {
    store?.destroy();
  }
}

async function dumpBackup(ctx: Context, opts: BackupCliOptions, policy: RetentionPolicy | undefined, store: BackupStore | undefined): Promise<CommandOutcome> {
  const state: { result?: BackupResult; retention?: RetentionOutcome } & OffsiteState = {};
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
        enabled: () => policy !== undefined,
        task: async (_c, task) => {
          state.retention = await applyRetention(ctx.backupDir, state.result?.meta.database ?? '', policy as RetentionPolicy);
          task.title = `Retention: kept ${state.retention.kept.length}, removed ${state.retention.removed.length}`;
        },
      },
      ...offsiteTasks(ctx, store, policy, state),
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
  lines.push(...offsiteLines(state));
  return {
    data: { backup: { ...r.meta, path: r.path }, retention: state.retention ?? null, upload: state.upload ?? null, remoteRetention: state.remoteRetention ?? null },
    human: lines.join('\n'),
  };
}

interface VerifyCliOptions {
  toTime?: string;
  latest?: boolean;
  timeout?: number;
}

export async function backupVerifyCommand(ctx: Context, base: string | undefined, opts: VerifyCliOptions): Promise<CommandOutcome> {
  const state: { out?: { data: Record<string, unknown>; human: string } } = {};
  await ctx.output.tasks(
    [
      {
        title: `Restore ${base ?? 'the newest base backup'} into a throwaway container and check it`,
        task: async (_c, task) => {
          state.out = await verifyBackup(ctx, { base, toTime: opts.toTime ? parseTargetTime(opts.toTime) : undefined, latest: opts.latest, timeout: opts.timeout, onStep: (s) => (task.output = s) });
          task.title = `Verified ${String(state.out.data.verified)}`;
        },
      },
    ],
    {},
  );
  if (!state.out) throw new ShopctlError('verify did not complete');
  return state.out;
}

export async function pruneVolumesCommand(ctx: Context, opts: { yes?: boolean }): Promise<CommandOutcome> {
  const kept = await keptVolumes(ctx);
  if (kept.length === 0) return { data: { removed: [] }, human: `No volumes kept by a restore in ${ctx.orchestrator.label}.` };
  const list = kept.map((k) => `  ${k.name} (created ${k.createdAt}, the data of ${k.from} before a restore)`).join('\n');
  if (!opts.yes) {
    const answer = await ask(`${list}\nRemove these ${kept.length} volume(s)? The data from before those restores is then gone. [y/N] `);
    if (answer === undefined) throw new ShopctlError('Refusing to remove volumes without confirmation: no terminal to ask on', { exitCode: ExitCode.REFUSED, hint: 'Pass --yes to confirm non-interactively.' });
    if (!/^y(es)?$/i.test(answer.trim())) throw new ShopctlError('Not confirmed; nothing was removed', { exitCode: ExitCode.REFUSED });
  }
  await removeVolumes(ctx, kept.map((k) => k.name));
  return { data: { removed: kept.map((k) => k.name) }, human: `Removed ${kept.length} volume(s):\n${list}` };
}

/** `backup upload`: whatever is not in the store yet (WAL since the last run, backups); meant for a frequent cron line. */
export async function backupUploadCommand(ctx: Context, opts: BackupCliOptions): Promise<CommandOutcome> {
  const policy = retentionPolicy(opts);
  const store = await uploadTarget(ctx, true);
  const state: OffsiteState = {};
  try {
    await ctx.output.tasks(offsiteTasks(ctx, store, policy, state), {});
  } finally {
    store?.destroy();
  }
  return { data: { upload: state.upload ?? null, remoteRetention: state.remoteRetention ?? null }, human: [`Store ${store?.label}`, ...offsiteLines(state)].join('\n') };
}

export const backupModule: CommandModule = {
  register(program: Command, run, { example }) {
    const backup = program
      .command('backup')
      .description(
        'pg_dump -Fc inside the db container, streamed out, fsynced, checked with pg_restore, then renamed into backups/ with .sha256 and .json. ' +
          'With --physical: a base backup (pg_basebackup + pg_verifybackup) for point-in-time recovery with the WAL archive. Safe in cron.',
      )
      .option('--physical', 'a base backup (pg_basebackup, proven by pg_verifybackup) into backups/base/; with the WAL archive it restores to any point in time')
      .option('--with-redis', 'also copy a fresh Redis RDB snapshot (BGSAVE)')
      .option('--upload', 'then copy what the store lacks (base backups, WAL, dumps), encrypted here, to BACKUP_S3_BUCKET; retention applies there too (BACKUP_UPLOAD=always does this on every backup)')
      .option('--keep-daily <n>', 'after the backup, keep the newest backup of each of the last n days', positiveInt('--keep-daily'))
      .option('--keep-weekly <n>', 'keep the newest backup of each of the last n ISO weeks', positiveInt('--keep-weekly'))
      .option('--keep-monthly <n>', 'keep the newest backup of each of the last n months', positiveInt('--keep-monthly'))
      .option('--timeout <seconds>', 'give up on pg_dump / pg_basebackup after this long', seconds('--timeout'))
      .addHelpText(
        'after',
        example(`
          shopctl backup
          shopctl backup --with-redis --keep-daily 7 --keep-weekly 4 --keep-monthly 6
          shopctl backup --physical --keep-daily 7 --keep-weekly 4     # also prunes WAL no kept base backup needs
          shopctl backup verify                                          # restore the newest base backup in a throwaway container and check it
          # crontab: base backup every night at 03:17, verify on Sundays, mail only on failure
          17 3 * * * cd /srv/shop && shopctl backup --physical --upload --keep-daily 7 --keep-weekly 4 >/dev/null
          */5 * * * * cd /srv/shop && shopctl backup upload >/dev/null      # WAL off the host within minutes
          47 4 * * 0 cd /srv/shop && shopctl backup verify >/dev/null`),
      )
      .action(async (opts: BackupCliOptions, cmd: Command) => run('backup', cmd, (ctx) => backupCommand(ctx, opts)));
    backup
      .command('verify')
      .argument('[base]', 'a base backup name (default: the newest)')
      .description('Restore a base backup (and with --to-time/--latest, WAL) into a throwaway PostgreSQL container on no network, check it (pg_verifybackup, promoted, row counts against the manifest, amcheck, an order with its lines), remove it. Exit 8 on any failure.')
      .option('--to-time <iso8601>', 'replay WAL up to this time and check that point instead')
      .option('--latest', 'replay the whole WAL archive')
      .option('--timeout <seconds>', 'how long recovery may take (default 600)', seconds('--timeout'))
      .addHelpText('after', example(`
          shopctl backup verify
          shopctl backup verify --latest --json`))
      .action(async (base: string | undefined, opts: VerifyCliOptions, cmd: Command) => run('backup verify', cmd, (ctx) => backupVerifyCommand(ctx, base, opts)));
    backup
      .command('upload')
      .description('Copy what the store lacks (WAL archived since the last run, base backups, dumps) to BACKUP_S3_BUCKET, encrypted on this host with BACKUP_ENCRYPTION_KEY_FILE; with --keep-*, retention in the store too.')
      .option('--keep-daily <n>', 'then keep the newest backup of each of the last n days in the store', positiveInt('--keep-daily'))
      .option('--keep-weekly <n>', 'keep the newest backup of each of the last n ISO weeks in the store', positiveInt('--keep-weekly'))
      .option('--keep-monthly <n>', 'keep the newest backup of each of the last n months in the store', positiveInt('--keep-monthly'))
      .addHelpText('after', example(`
          shopctl backup upload
          */5 * * * * cd /srv/shop && shopctl backup upload >/dev/null`))
      .action(async (opts: BackupCliOptions, cmd: Command) => run('backup upload', cmd, (ctx) => backupUploadCommand(ctx, opts)));
    backup
      .command('prune-volumes')
      .description('Remove the data volumes restores kept (the data from before each restore, for undo).')
      .option('-y, --yes', 'do not ask (required without a TTY)')
      .action(async (opts: { yes?: boolean }, cmd: Command) => run('backup prune-volumes', cmd, (ctx) => pruneVolumesCommand(ctx, opts)));
  },
};
