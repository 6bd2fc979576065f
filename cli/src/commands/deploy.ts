import type { Command } from 'commander';
import { parseEnvironment } from '../context.js';
import type { CommandModule } from '../command.js';
import { releaseOptions } from '../options.js';
import { deploy, type DeployOptions } from '../release/deploy.js';

export const deployModule: CommandModule = {
  register(program: Command, run, { example }) {
    const cmd = program
      .command('deploy')
      .argument('<environment>', 'development or production')
      .argument('[version]', 'image tag to deploy (default: the git commit, with -dirty when the tree has changes)')
      .description(
        'Zero-downtime deploy: preflight, lock, backup (production), build or pull, migrations in a one-off container, then start new api containers beside the old ones, wait healthy, switch nginx, drain, stop the old ones, smoke-check, record the release. Any failure after the new containers start removes them; the old ones keep serving.',
      );
    releaseOptions(cmd)
      .option('--build', 'build the image here (default in development when the api service has a build section)')
      .option('--pull', 'pull the image from its registry (default in production)')
      .option('--local', 'use an image already on this host (docker load, CI artifacts)')
      .option('--skip-backup', 'production: do not take the pre-deploy backup')
      .option('--skip-migrations', 'do not run database migrations')
      .addHelpText(
        'after',
        example(`
          shopctl deploy production 1.4.0
          shopctl deploy production 1.4.0 --dry-run
          shopctl deploy development              # builds the current commit
          shopctl deploy production 1.4.1 --wait 900 -m "hotfix for #231"`),
      )
      .action(async (environment: string, version: string | undefined, opts: DeployOptions, cmd: Command) =>
        run('deploy', cmd, (ctx) => deploy(ctx, version, opts), () => ({ environment: parseEnvironment(environment, 'the <environment> argument') })),
      );
  },
};
