import type { Command } from 'commander';
import type { Context } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import type { CommandModule, CommandOutcome } from '../command.js';
import { currentRelease, loadHistory } from '../state/releases.js';
import { renderTable } from '../formats/table.js';

/** Services, image versions, replicas and published ports as the orchestrator sees them; the current release. */
export async function status(ctx: Context): Promise<CommandOutcome> {
  const facts = await ctx.orchestrator.status();
  const current = currentRelease(await loadHistory(ctx.statePath('releases.json')), ctx.environment);
  const engine = await ctx.engine();
  const data = {
    project: ctx.projectName,
    environment: ctx.environment,
    projectDir: ctx.projectDir,
    composeFiles: ctx.composeFiles,
    engine: `${engine.serverVersion} (API ${engine.usedApiVersion})`,
    release: current ?? null,
    ...facts.data,
  };
  const human = [
    facts.heading,
    `engine ${data.engine}${facts.tooling}`,
    `release: ${current ? `${current.version} by ${current.who} at ${current.finishedAt} (${current.action})` : 'none recorded'}`,
    '',
    renderTable(facts.table.headers, facts.table.rows),
  ].join('\n');
  // What it could not read is not a healthy empty project (the warning above says why).
  return { data, human, ...(facts.readable === false ? { exitCode: ExitCode.PREFLIGHT } : {}) };
}

export const statusModule: CommandModule = {
  register(program: Command, run, { example }) {
    program
      .command('status')
      .description('Services, image versions, replicas and published ports; the current release.')
      .addHelpText('after', example(`
        shopctl status
        shopctl status --json | jq '.services[] | {service, replicas}'`))
      .action(async (_opts: unknown, cmd: Command) => run('status', cmd, (ctx) => status(ctx)));
  },
};
