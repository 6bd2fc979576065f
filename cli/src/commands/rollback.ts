import type { Command } from 'commander';
import type { CommandModule } from '../command.js';
import { releaseOptions } from '../options.js';
import { rollback } from '../release/rollback.js';
import type { ReleaseOptions } from '../release/deploy.js';

export const rollbackModule: CommandModule = {
  register(program: Command, run, { example }) {
    const cmd = program
      .command('rollback')
      .argument('[version]', 'a released version (default: the newest successful release whose version differs from the current one)')
      .description('The same zero-downtime rolling update, back to a previous release from the history, with its exact image (no build, no migrations). Refuses when that image is gone.');
    releaseOptions(cmd)
      .addHelpText(
        'after',
        example(`
          shopctl rollback                  # to the previous release
          shopctl rollback 1.3.2            # to a named one
          shopctl rollback --dry-run`),
      )
      .action(async (version: string | undefined, opts: ReleaseOptions, cmd: Command) => run('rollback', cmd, (ctx) => rollback(ctx, version, opts)));
  },
};
