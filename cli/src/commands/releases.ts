import type { Command } from 'commander';
import type { Context } from '../context.js';
import type { CommandModule, CommandOutcome } from '../command.js';
import { positiveInt } from '../options.js';
import { currentRelease, loadHistory } from '../state/releases.js';
import { readLock, describeHolder, realEnvironment } from '../state/lock.js';
import { formatDuration } from '../time.js';
import { renderTable } from '../formats/table.js';
import { shortId } from '../docker/containers.js';

export async function releases(ctx: Context, opts: { limit?: number; all?: boolean }): Promise<CommandOutcome> {
  const history = await loadHistory(ctx.statePath('releases.json'));
  const selected = history.releases.filter((r) => opts.all || r.environment === ctx.environment);
  const shown = selected.slice(-(opts.limit ?? 20)).reverse();
  const current = currentRelease(history, ctx.environment);
  const lock = await readLock(ctx.statePath('deploy.lock'));
  const rows = shown.map((r) => [
    r.finishedAt.replace(/\.\d{3}Z$/, 'Z'),
    r.action,
    ...(opts.all ? [r.environment] : []),
    `${r.version}${r.id === current?.id ? ' *' : ''}`,
    r.digest ? (r.digest.split('@')[1]?.slice(0, 19) ?? shortId(r.imageId)) : shortId(r.imageId),
    `${r.who}@${r.host}`,
    formatDuration(r.durationMs),
    r.result === 'success' ? 'success' : `${r.result}${r.error ? `: ${r.error.split('\n')[0]?.slice(0, 60)}` : ''}`,
  ]);
  const headers = ['when (UTC)', 'action', ...(opts.all ? ['env'] : []), 'version', 'image', 'who', 'took', 'result'];
  const human = [
    shown.length ? renderTable(headers, rows) : `No releases recorded for ${opts.all ? 'any environment' : ctx.environment} in ${ctx.statePath('releases.json')}`,
    current ? `* current ${ctx.environment} release: ${current.version}` : '',
    lock.state === 'held' ? `deploy lock held by ${describeHolder(lock.info, realEnvironment)}` : '',
  ]
    .filter(Boolean)
    .join('\n');
  return { data: { environment: opts.all ? null : ctx.environment, current: current ?? null, releases: shown, lock: lock.state === 'held' ? lock.info : null }, human };
}

export const releasesModule: CommandModule = {
  register(program: Command, run, { example }) {
    program
      .command('releases')
      .description('The release history: when, what, which version, image digest, who, result (newest first).')
      .option('-n, --limit <n>', 'how many (default 20)', positiveInt('--limit'))
      .option('-a, --all', 'every environment, not only the current one')
      .addHelpText('after', example(`
        shopctl releases
        shopctl releases --env production -n 50
        shopctl releases --json | jq '.releases[0]'`))
      .action(async (opts: { limit?: number; all?: boolean }, cmd: Command) => run('releases', cmd, (ctx) => releases(ctx, opts)));
  },
};
