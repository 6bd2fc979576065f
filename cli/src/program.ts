import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { Context, type GlobalOptions } from './context.js';
import type { CommandModule, Handler, Overrides } from './command.js';
import { collect, example } from './options.js';
import { ShopctlError, isShopctlError, messageOf } from './errors.js';
import { ExitCode, exitCodeName } from './exit-codes.js';
import { Output } from './output.js';
import { harmlessWarningsDropped } from './run.js';

const EXIT_CODES_HELP = `
Exit codes:
  0 ok            5 new version failed, rolled back (old one kept serving)
  1 failed        6 unhealthy
  2 usage         7 verify found failing checks
  3 preflight     8 backup integrity (checksum, unreadable dump)
  4 lock held     9 not found (release, image, file)
                 10 refused (needs --force / --yes / confirmation)
                130 interrupted`;

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

interface State {
  exitCode: number;
  controller: AbortController;
}

/** Resolves the context, runs the handler, prints the outcome or the error; returns the exit code. */

async function execute(state: State, name: string, cmd: Command, handler: Handler, overrides: Overrides = () => ({})): Promise<void> {
  const globals = cmd.optsWithGlobals<GlobalOptions>();
  const output = new Output({ json: globals.json, verbose: globals.verbose });
  let exitCode: number;
  try {
    const ctx = await Context.resolve(globals, output, state.controller.signal, overrides());
    const outcome = await handler(ctx);
    exitCode = outcome.exitCode ?? ExitCode.OK;
    if (outcome.printed) {
      // nothing more to print
    } else if (output.json) {
      const doc = { ok: exitCode === ExitCode.OK, command: name, exitCode, ...outcome.data, ...(output.warnings.length ? { warnings: output.warnings } : {}) };
      process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    } else if (outcome.human) {
      process.stdout.write(outcome.human.endsWith('\n') ? outcome.human : `${outcome.human}\n`);
    }
  } catch (error) {
    const known = isShopctlError(error) ? error : undefined;
    exitCode = state.controller.signal.aborted ? ExitCode.INTERRUPTED : (known?.exitCode ?? ExitCode.FAILURE);
    const message = messageOf(error);
    if (output.json) {
      const doc = {
        ok: false,
        command: name,
        exitCode,
        error: { code: exitCodeName(exitCode), message, detail: known?.detail, hint: known?.hint, ...(known?.details ?? {}) },
        ...(output.warnings.length ? { warnings: output.warnings } : {}),
      };
      process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    }
    const lines = [`shopctl ${name}: ${message}`];
    if (known?.detail) lines.push(known.detail);
    if (known?.hint) lines.push(`hint: ${known.hint}`);
    if (!known && globals.verbose && error instanceof Error && error.stack) lines.push(error.stack);
    process.stderr.write(`${lines.join('\n')}\n`);
  }
  const dropped = harmlessWarningsDropped();
  if (globals.verbose && dropped > 0) process.stderr.write(`(${dropped} known-harmless Compose v1 warning line(s) hidden: "deploy sub-keys are not supported", the swarm-only keys of the production file)\n`);
  state.exitCode = exitCode;
}

export function buildProgram(): Command {
  const program = new Command('shopctl');
  program
    .description('Deploy and operate the shop stack: zero-downtime deploys, rollback, checked backups, restore, health and verify.')
    .version(version(), '-V, --version')
    .option('-C, --project-dir <dir>', 'project directory with the compose files (default: the current directory or the nearest one above it with a compose file)')
    .option('-p, --project-name <name>', 'Compose project name (default: COMPOSE_PROJECT_NAME, else the directory name; production: <directory>-production)')
    .option('--env-file <file>', 'environment file (default: <project-dir>/.env)')
    .option('-f, --file <file>', 'compose file, repeatable (default: docker-compose.yml, or docker-compose.production.yml for production)', collect)
    .option('--profile <name>', 'Compose profile to enable, repeatable (default: COMPOSE_PROFILES)', collect)
    .option('-e, --env <environment>', 'development or production (default: SHOPCTL_ENV, else ENVIRONMENT in the env file, else development)')
    .option('--orchestrator <name>', 'compose (one host) or swarm (docker stack deploy; the stack is named like the project) (default: SHOPCTL_ORCHESTRATOR, else that of the last release, else compose)')
    .option('--state-dir <dir>', 'release history and locks (default: <project-dir>/.shopctl)')
    .option('--backup-dir <dir>', 'backups (default: BACKUP_DIR in the env file, else <project-dir>/backups)')
    .option('--json', 'print one JSON document on stdout and nothing else there')
    .option('-v, --verbose', 'more detail: every step, and stack traces of unexpected errors')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .addHelpText('after', `${EXIT_CODES_HELP}\n\nDocumentation: docs/operations.md`);
  program.configureOutput({ writeErr: (s) => process.stderr.write(s), writeOut: (s) => process.stdout.write(s) });
  return program;
}

/** Parses argv, runs one command, returns its exit code (bin.ts sets process.exitCode). */
export async function main(argv: readonly string[], modules: readonly CommandModule[]): Promise<number> {
  const state: State = { exitCode: ExitCode.OK, controller: new AbortController() };
  let interrupts = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupts += 1;
    if (interrupts === 1) {
      process.stderr.write(`\n${signal}: stopping after cleaning up (send again to exit at once)\n`);
      state.controller.abort(new ShopctlError(`interrupted by ${signal}`, { exitCode: ExitCode.INTERRUPTED }));
    } else {
      process.exit(ExitCode.INTERRUPTED);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const program = buildProgram();
  const runner = (name: string, cmd: Command, handler: Handler, overrides?: Overrides) => execute(state, name, cmd, handler, overrides);
  for (const m of modules) m.register(program, runner, { example });
  for (const sub of program.commands) sub.exitOverride().showHelpAfterError('(run with --help for usage)');
  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
    if (isShopctlError(error)) {
      process.stderr.write(`shopctl: ${error.message}${error.hint ? `\nhint: ${error.hint}` : ''}\n`);
      return error.exitCode;
    }
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return state.exitCode;
}

