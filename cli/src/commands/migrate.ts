import type { Command } from 'commander';
import type { Context } from '../context.js';
import type { CommandModule, CommandOutcome } from '../command.js';
import { ShopctlError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { currentRelease, loadHistory } from '../state/releases.js';
import { run as composeRun } from '../compose/commands.js';
import { run, lastLines } from '../run.js';
import { findContainers } from '../docker/containers.js';
import { MIGRATE_COMMAND } from '../orchestrators/compose/rollout.js';
import { SERVICES } from './shared.js';
import { progress } from '../output.js';
import { findService, requireManager, runJob } from '../orchestrators/swarm/engine.js';
import { migrationJobSpec, serviceName } from '../orchestrators/swarm/stack.js';

/** Applies pending migrations with the current release's image (or --version's) in a one-off container. */
export async function migrate(ctx: Context, versionArg: string | undefined): Promise<CommandOutcome> {
  const history = await loadHistory(ctx.statePath('releases.json'));
  const version = versionArg ?? currentRelease(history, ctx.environment)?.version ?? ctx.envValues.get('APP_VERSION') ?? process.env.APP_VERSION;
  if (!version) throw new ShopctlError('Which version? No release is recorded and APP_VERSION is not set', { exitCode: ExitCode.USAGE, hint: 'shopctl migrate <version>' });
  const docker = await ctx.docker();
  if (ctx.orchestrator === 'swarm') return migrateSwarm(ctx, version);
  if ((await findContainers(docker, ctx.projectName, { service: SERVICES.db })).length === 0) {
    throw new ShopctlError('The db service is not running', { exitCode: ExitCode.PREFLIGHT, hint: 'Start it first: docker compose up -d db' });
  }
  const state: { output?: string } = {};
  await ctx.output.tasks(
    [
      {
        title: `Migrate with the ${version} image`,
        task: async (_c, task) => {
          const show = progress(task);
          const r = await run(composeRun(await ctx.compose(), SERVICES.api, MIGRATE_COMMAND, { noDeps: true }), {
            env: { APP_VERSION: version },
            signal: ctx.signal,
            timeoutMs: 10 * 60_000,
            onLine: show,
          });
          state.output = lastLines(`${r.stdout}\n${r.stderr}`, 30);
          if (r.exitCode !== 0) throw new ShopctlError(`Migrations failed (exit code ${r.exitCode})`, { detail: state.output });
          task.title = `Migrations applied with ${version}`;
        },
      },
    ],
    {},
  );
  return { data: { version, output: state.output ?? '' }, human: state.output ?? '' };
}

/** Swarm: a one-off job with the api service's secrets and networks, on the version's image. */
async function migrateSwarm(ctx: Context, version: string): Promise<CommandOutcome> {
  const docker = await ctx.docker();
  await requireManager(docker);
  const api = await findService(docker, serviceName(ctx.projectName, SERVICES.api));
  if (!api) throw new ShopctlError(`Swarm stack "${ctx.projectName}" has no api service to take the job's secrets and networks from`, { exitCode: ExitCode.PREFLIGHT, hint: 'Deploy first: shopctl --orchestrator swarm deploy production <version>' });
  const model = await ctx.stackModel({ APP_VERSION: version });
  const image = model.services.get(SERVICES.api)?.image;
  if (!image) throw new ShopctlError('The compose files define no "api" service with an image', { exitCode: ExitCode.PREFLIGHT });
  const state: { output?: string } = {};
  await ctx.output.tasks(
    [
      {
        title: `Migrate with the ${version} image (one-off swarm job)`,
        task: async (_c, task) => {
          const show = progress(task);
          const spec = migrationJobSpec(api.Spec.TaskTemplate as Parameters<typeof migrationJobSpec>[0], { stack: ctx.projectName, image, version, command: MIGRATE_COMMAND });
          const r = await runJob(docker, spec, { timeoutMs: 10 * 60_000, signal: ctx.signal, onState: (s) => show(`job ${spec.Name}: ${s}`) });
          state.output = lastLines(r.logs, 30);
          if (r.state !== 'complete' || (r.exitCode ?? 0) !== 0) throw new ShopctlError(`Migrations failed (${r.state}${r.exitCode !== undefined ? `, exit code ${r.exitCode}` : ''}${r.error ? `: ${r.error}` : ''})`, { detail: state.output });
          task.title = `Migrations applied with ${version}`;
        },
      },
    ],
    {},
  );
  return { data: { version, orchestrator: 'swarm', output: state.output ?? '' }, human: state.output ?? '' };
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
