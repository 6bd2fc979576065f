import type { Command } from 'commander';
import type { Context } from '../context.js';
import type { CommandModule, CommandOutcome } from '../command.js';
import { seconds } from '../options.js';
import { ask } from '../prompt.js';
import { ShopctlError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { restore } from '../backup/restore.js';
import { restoreToPoint } from '../backup/pitr-restore.js';
import { parseTargetTime } from '../backup/pitr.js';
import { downloadDump, openStore } from '../backup/offsite.js';
import { progress } from '../output.js';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

interface RestoreCliOptions {
  yes?: boolean;
  timeout?: number;
  latest?: boolean;
  toTime?: string;
  base?: string;
  dryRun?: boolean;
  baseBackup?: boolean;
}

/** A dump named by file name that is not in the backup directory comes from the store, when one is configured. */
async function fetchDumpIfMissing(ctx: Context, file: string): Promise<void> {
  if (file.includes('/') || existsSync(join(ctx.backupDir, file)) || existsSync(resolve(file))) return;
  const store = await openStore(ctx);
  if (!store) return;
  try {
    await ctx.output.tasks([{ title: `Fetch ${file} from ${store.label}`, task: async (_c, task) => void (await downloadDump(store, ctx.backupDir, file, progress(task))) }], {});
  } finally {
    store.destroy();
  }
}

export async function restoreCommand(ctx: Context, file: string | undefined, opts: RestoreCliOptions): Promise<CommandOutcome> {
  const pointInTime = opts.latest || opts.toTime !== undefined || opts.base !== undefined;
  if (file && /\.dump$/.test(file)) {
    if (pointInTime || opts.dryRun) throw new ShopctlError('A .dump restores as it is: --latest, --to-time, --base and --dry-run go with base backups', { exitCode: ExitCode.USAGE });
    await fetchDumpIfMissing(ctx, file);
    return restore(ctx, file, opts, ask);
  }
  if (opts.latest && opts.toTime) throw new ShopctlError('--latest and --to-time exclude each other', { exitCode: ExitCode.USAGE });
  const base = opts.base ?? file;
  if (!pointInTime && !base) {
    throw new ShopctlError('Say what to restore: a .dump file, --latest, --to-time <ISO 8601>, or a base backup name', { exitCode: ExitCode.USAGE, hint: 'shopctl restore --latest --dry-run shows the plan.' });
  }
  return restoreToPoint(ctx, { base, latest: opts.latest, toTime: opts.toTime ? parseTargetTime(opts.toTime) : undefined, dryRun: opts.dryRun, yes: opts.yes, timeout: opts.timeout, noBaseBackup: opts.baseBackup === false }, ask);
}

export const restoreModule: CommandModule = {
  register(program: Command, run, { example }) {
    program
      .command('restore')
      .argument('[file]', 'a .dump path or file name in the backup directory, or a base backup name (backups/base/)')
      .description(
        'A .dump: check it, take a safety backup, stop the API, restore in one transaction, start the API. ' +
          'A point in time (--latest, --to-time, a base backup): build a new data volume from a base backup and the WAL archive, prove it, then switch the stack to it, keeping the previous data in a volume of its own.',
      )
      .option('--latest', 'replay the whole WAL archive: everything archived up to now (with BACKUP_S3_BUCKET set, what is missing here is fetched from the store first)')
      .option('--to-time <iso8601>', 'replay up to this time (ISO 8601 with a zone) and stop there')
      .option('--base <name>', 'start from this base backup (default: the newest one that fits)')
      .option('--dry-run', 'print the base backup, the WAL range and the reachable window; change nothing (a WAL gap fails here)')
      .option('--no-base-backup', 'after a point-in-time restore, do not take a base backup on the new timeline')
      .option('-y, --yes', 'do not ask for confirmation (required without a TTY)')
      .option('--timeout <seconds>', 'how long recovery and the API may take (default 120 for a dump, 300 for a point in time)', seconds('--timeout'))
      .addHelpText(
        'after',
        example(`
          shopctl restore shop-20261127T031700Z.dump
          shopctl restore --latest --dry-run                       # which base backup, which WAL, the reachable window
          shopctl restore --latest --yes                           # after a lost disk: everything archived
          shopctl restore --to-time 2026-11-27T16:59:59Z --yes     # undo a mistake made at 17:00
          shopctl restore shop-20261127T031700Z                    # a base backup as it was, without replaying WAL`),
      )
      .action(async (file: string | undefined, opts: RestoreCliOptions, cmd: Command) => run('restore', cmd, (ctx) => restoreCommand(ctx, file, opts)));
  },
};
