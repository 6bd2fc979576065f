import { InvalidArgumentError } from 'commander';

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

