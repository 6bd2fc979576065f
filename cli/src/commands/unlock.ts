import type { Command } from 'commander';
import type { Context } from '../context.js';
import type { CommandModule, CommandOutcome } from '../command.js';
import { breakLock, readLock, describeHolder, realEnvironment } from '../state/lock.js';

export async function unlock(ctx: Context, opts: { backup?: boolean }): Promise<CommandOutcome> {
  const name = opts.backup ? 'backup' : 'deploy';
  const dir = ctx.statePath(`${name}.lock`);
  const before = await readLock(dir);
  if (before.state === 'free') {
    return { data: { lock: dir, removed: null }, human: `No ${name} lock is held (${dir})` };
  }
  const removed = await breakLock(dir, name);
  const who = removed.state === 'held' ? describeHolder(removed.info, realEnvironment) : 'an incomplete lock (no info.json)';
  return { data: { lock: dir, removed: removed.state === 'held' ? removed.info : 'incomplete' }, human: `Removed the ${name} lock held by ${who}` };
}

export const unlockModule: CommandModule = {
  register(program: Command, run, { example }) {
    program
      .command('unlock')
      .description('Remove a stale deploy (or backup) lock, naming who held it. Refuses while its process still runs on this host.')
      .option('--backup', 'the backup lock instead of the deploy lock')
      .addHelpText('after', example(`
        shopctl unlock
        shopctl unlock --backup`))
      .action(async (opts: { backup?: boolean }, cmd: Command) => run('unlock', cmd, (ctx) => unlock(ctx, opts)));
  },
};
