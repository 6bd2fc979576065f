import type { Command } from 'commander';
import type { Context } from '../context.js';
import type { CommandModule, CommandOutcome } from '../command.js';
import { ShopctlError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { currentRelease, loadHistory } from '../state/releases.js';
import { progress } from '../output.js';

/** Applies pending migrations with the current release's image (or the given version's) in a one-off container or job. */
export async function migrate(ctx: Context, versionArg: string | undefined): Promise<CommandOutcome> {
  const history = await loadHistory(ctx.statePath('releases.json'));
  const version = versionArg ?? currentRelease(history, ctx.environment)?.version ?? ctx.envValues.get('APP_VERSION') ?? process.env.APP_VERSION;
  if (!version) throw new ShopctlError('Which version? No release is recorded and APP_VERSION is not set', { exitCode: ExitCode.USAGE, hint: 'shopctl migrate <version>' });
  await ctx.docker();
  const state: { output?: string; data?: Record<string, unknown> } = {};
  await ctx.output.tasks(
    [
      {
        title: `Migrate with the ${version} image`,
        task: async (_c, task) => {
          const r = await ctx.orchestrator.migrate(version, progress(task));
          state.output = r.output;
          state.data = r.data;
          task.title = `Migrations applied with ${version}`;
        },
      },
    ],
    {},
  );
  return { data: { version, ...state.data, output: state.output ?? '' }, human: state.output ?? '' };
}

export const migrateModule: CommandModule = {
  register(program: Command, run, { example }) {
    program
      .command('migrate')
      .description('Apply pending database migrations in a one-off container of the current release\'s image (deploy does this by itself).')
      .argument('[version]', 'image tag to migrate with (default: the current release, else APP_VERSION)')
      .addHelpText('after', example(`
        shopctl migrate
        shopctl migrate 1.4.0`))
      .action(async (version: string | undefined, _opts: unknown, cmd: Command) => run('migrate', cmd, (ctx) => migrate(ctx, version)));
  },
};
