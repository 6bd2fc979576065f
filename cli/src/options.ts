import { InvalidArgumentError, type Command } from 'commander';

/** Option parsers and help helpers every command shares. */

export function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`${name} must be a whole number >= 0.`);
    return n;
  };
}

export function seconds(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a number of seconds > 0.`);
    return n;
  };
}

/** Repeatable option: `-f a.yml -f b.yml` -> ['a.yml', 'b.yml'] (variadic options would swallow the command). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** The `Examples:` block of a command's --help. */
export function example(lines: string): string {
  return `\nExamples:\n${lines
    .trim()
    .split('\n')
    .map((l) => `  ${l.trim()}`)
    .join('\n')}\n`;
}


/** The options deploy and rollback share: the rolling procedure and its lock. */
export function releaseOptions(cmd: Command): Command {
  return cmd
    .option('--dry-run', 'print the plan and change nothing')
    .option('--wait [seconds]', 'queue behind a deploy that holds the lock (default 600 s) instead of refusing', seconds('--wait'))
    .option('--force-unlock', 'remove a stale deploy lock first (never one whose process still runs here; say why in --message)')
    .option('--replicas <n>', 'api replicas to run (default: as many as run now, at least 1)', positiveInt('--replicas'))
    .option('--timeout <seconds>', 'how long new containers may take to become healthy (default 120)', seconds('--timeout'))
    .option('--drain-timeout <seconds>', 'no effect since nginx is no longer reloaded during deploys (an old container drains within its stop_grace_period); kept so scripts keep working', seconds('--drain-timeout'))
    .option('-m, --message <text>', 'why: shown to anyone who finds the lock held');
}
