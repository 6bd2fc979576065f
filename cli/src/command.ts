import type { Command } from 'commander';
import type { Context, Environment } from './context.js';
import type { ExitCodeValue } from './exit-codes.js';
import type { example } from './options.js';

/** What a command hands back: the JSON document under --json, the text otherwise. */
export interface CommandOutcome {
  exitCode?: ExitCodeValue;
  data: Record<string, unknown>;
  human?: string | undefined;
  /** The command printed its own output already (health --watch). */
  printed?: boolean;
}

export type Handler = (ctx: Context) => Promise<CommandOutcome>;

/** Values a command fixes from its own arguments before the context resolves (deploy's <environment>). */
export type Overrides = () => { environment?: Environment };

/** What a file of commands/ exports: it adds its command to the program. */
export interface CommandModule {
  register(program: Command, run: (name: string, cmd: Command, handler: Handler, overrides?: Overrides) => Promise<void>, helpers: { example: typeof example }): void;
}

