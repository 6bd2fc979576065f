import type { Command } from 'commander';
import type { Context } from '../context.js';
import type { CommandModule, CommandOutcome } from '../command.js';
import { seconds } from '../options.js';
import { ask } from '../prompt.js';
import { restore, type RestoreOptions } from '../backup/restore.js';

export async function restoreCommand(ctx: Context, file: string, opts: RestoreOptions): Promise<CommandOutcome> {
  return restore(ctx, file, opts, ask);
}

export const restoreModule: CommandModule = {
  register(program: Command, run, { example }) {
    program
      .command('restore')
      .argument('<file>', 'a .dump path, or a file name in the backup directory')
      .description('Check the dump (sha256, pg_restore), take a safety backup, stop the API, restore in one transaction (--clean --if-exists), start the API, wait until healthy.')
      .option('-y, --yes', 'do not ask for confirmation (required without a TTY)')
      .option('--timeout <seconds>', 'how long the API may take to become healthy again (default 120)', seconds('--timeout'))
      .addHelpText(
        'after',
        example(`
          shopctl restore shop-20261127T031700Z.dump
          shopctl restore /mnt/offsite/shop-20261127T031700Z.dump --yes`),
      )
      .action(async (file: string, opts: RestoreOptions, cmd: Command) => run('restore', cmd, (ctx) => restoreCommand(ctx, file, opts)));
  },
};
