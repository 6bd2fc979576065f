import { Listr, ListrLogger, PRESET_TIMER, ProcessOutput, type ListrTask } from 'listr2';

/**
 * Where shopctl writes. Human mode: results on stdout, progress by listr2 (animated on a TTY,
 * plain `[STARTED]`/`[COMPLETED]` lines in cron and CI). JSON mode: exactly one JSON document
 * on stdout; progress and warnings go to stderr (progress only with --verbose).
 */
export class Output {
  readonly json: boolean;
  readonly verbose: boolean;
  readonly tty: boolean;
  readonly warnings: string[] = [];

  constructor(opts: { json?: boolean | undefined; verbose?: boolean | undefined; tty?: boolean | undefined }) {
    this.json = opts.json ?? false;
    this.verbose = opts.verbose ?? false;
    this.tty = opts.tty ?? Boolean(process.stdout.isTTY);
  }

  /** A line of human output (stdout), or stderr under --json --verbose. */
  info(line: string): void {
    if (!this.json) process.stdout.write(`${line}\n`);
    else if (this.verbose) process.stderr.write(`${line}\n`);
  }

  warn(message: string): void {
    this.warnings.push(message);
    process.stderr.write(`warning: ${message}\n`);
  }

  /** Runs a task list with the renderer that fits the terminal. */
  async tasks<Ctx extends object>(tasks: Array<ListrTask<Ctx>>, ctx: Ctx): Promise<Ctx> {
    const renderer = this.json ? (this.verbose ? 'simple' : 'silent') : this.verbose ? 'verbose' : this.tty ? 'default' : 'simple';
    // Under --json, stdout carries the document only: task lines go to stderr.
    const logger = this.json ? new ListrLogger({ processOutput: new ProcessOutput(process.stderr, process.stderr) }) : undefined;
    const list = new Listr<Ctx, 'default' | 'simple' | 'verbose' | 'silent', 'simple'>(tasks, {
      ctx,
      renderer,
      fallbackRenderer: 'simple',
      exitOnError: true,
      registerSignalListeners: false,
      rendererOptions: { timer: PRESET_TIMER, collapseSubtasks: false, ...(logger ? { logger } : {}) } as never,
      fallbackRendererOptions: { timer: PRESET_TIMER, ...(logger ? { logger } : {}) } as never,
    } as never);
    return list.run();
  }
}

/** Sets a task's output line only when it changes, so plain renderers (cron, CI) print each state once. */
export function progress(task: { output: string | unknown }): (line: string) => void {
  let last = '';
  return (line: string) => {
    if (line === last) return;
    last = line;
    task.output = line;
  };
}
