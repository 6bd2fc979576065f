import type { Command } from 'commander';
import type { Context } from '../context.js';
import type { CommandModule, CommandOutcome } from '../command.js';
import { seconds } from '../options.js';
import { ExitCode } from '../exit-codes.js';
import { sleep } from '../time.js';
import { renderTable } from '../formats/table.js';
import { apiHealth, type ApiHealth } from '../proxy.js';

function renderApiLine(api: ApiHealth): string {
  const body = api.body as { status?: string; version?: string; checks?: Record<string, { status?: string; latency_ms?: number }> } | null;
  const checks = body?.checks ? Object.entries(body.checks).map(([k, v]) => `${k} ${v.status ?? '?'}${v.latency_ms !== undefined ? ` (${v.latency_ms} ms)` : ''}`).join(', ') : '';
  return api.error
    ? `API /health: unreachable (${api.error})`
    : `API /health: HTTP ${api.status}, ${body?.status ?? '?'}${body?.version ? `, version ${body.version}` : ''}${checks ? `; ${checks}` : ''}`;
}

/** The orchestrator's view of every service, and the API's own /health through the proxy. */
async function healthOnce(ctx: Context): Promise<{ exitCode: number; data: Record<string, unknown>; human: string }> {
  const facts = await ctx.orchestrator.health();
  const api = await apiHealth(ctx);
  const ok = facts.unhealthy.length === 0 && api.healthy;
  const verdict = ok ? 'All services healthy.' : `Not healthy: ${[...facts.unhealthy.map((u) => (u.why ? `${u.service} (${u.why})` : u.service)), ...(api.healthy ? [] : ['API /health'])].join(', ')}`;
  return {
    exitCode: ok ? ExitCode.OK : ExitCode.UNHEALTHY,
    data: { at: new Date().toISOString(), ...facts.data, healthy: ok, unhealthy: facts.unhealthy.map((u) => u.service), services: facts.services, api },
    human: `${renderTable(facts.table.headers, facts.table.rows)}\n${renderApiLine(api)}\n${verdict}`,
  };
}

export async function health(ctx: Context, opts: { watch?: boolean; interval?: number }): Promise<CommandOutcome> {
  if (!opts.watch) {
    const r = await healthOnce(ctx);
    return { exitCode: r.exitCode as CommandOutcome['exitCode'], data: r.data, human: r.human };
  }
  let last = await healthOnce(ctx);
  for (;;) {
    if (ctx.output.json) process.stdout.write(`${JSON.stringify(last.data)}\n`);
    else if (ctx.output.tty) process.stdout.write(`\x1b[2J\x1b[H${new Date().toISOString()}  (every ${opts.interval ?? 5} s, Ctrl-C to stop)\n${last.human}\n`);
    else process.stdout.write(`--- ${new Date().toISOString()}\n${last.human}\n`);
    await Promise.race([sleep((opts.interval ?? 5) * 1000), new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }))]);
    if (ctx.signal.aborted) break;
    last = await healthOnce(ctx);
  }
  // Under --watch --json every snapshot was already printed as one line (NDJSON).
  return { exitCode: last.exitCode as CommandOutcome['exitCode'], data: last.data, printed: true };
}

export const healthModule: CommandModule = {
  register(program: Command, run, { example }) {
    program
      .command('health')
      .description('Every service\'s state, health, restarts and uptime, and the API\'s /health checks through nginx. Exit 0 when everything is healthy, 6 otherwise.')
      .option('-w, --watch', 'refresh until interrupted (with --json: one JSON line per refresh)')
      .option('-i, --interval <seconds>', 'refresh interval for --watch (default 5)', seconds('--interval'))
      .addHelpText('after', example(`
        shopctl health
        shopctl health --watch --interval 2
        shopctl health --json | jq '.unhealthy'`))
      .action(async (opts: { watch?: boolean; interval?: number }, cmd: Command) => run('health', cmd, (ctx) => health(ctx, opts)));
  },
};

