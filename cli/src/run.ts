import { execa } from 'execa';
import { ShopctlError } from './errors.js';
import { ExitCode } from './exit-codes.js';
import type { Argv } from './compose/flavour.js';

export interface RunOptions {
  /** Added to the inherited environment (Compose reads APP_VERSION etc. from here first). */
  env?: Readonly<Record<string, string>>;
  cwd?: string;
  input?: string;
  timeoutMs?: number;
  signal?: AbortSignal | undefined;
  /** Each output line as it arrives, e.g. for a task's progress line. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
}

export interface RunResult {
  command: string;
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
  timedOut: boolean;
}

/**
 * Warnings known to be harmless, dropped from every output: Compose v1 (--compatibility) prints
 * one per service for the swarm-only deploy keys of the production file, on every command.
 */
const HARMLESS = [/^(WARNING: )?The following deploy sub-keys are not supported and have been ignored: /];
let harmlessDropped = 0;

/** How many harmless warnings were dropped so far (said once under --verbose). */
export function harmlessWarningsDropped(): number {
  return harmlessDropped;
}

function isHarmless(line: string): boolean {
  if (!HARMLESS.some((re) => re.test(line.trim()))) return false;
  harmlessDropped += 1;
  return true;
}

function withoutHarmless(text: string): string {
  return text
    .split('\n')
    .filter((l) => !isHarmless(l))
    .join('\n');
}

/** Runs a program (never through a shell). A non-zero exit is a result, not an exception. */
export async function run([file, args]: Argv, opts: RunOptions = {}): Promise<RunResult> {
  const started = Date.now();
  const command = [file, ...args].join(' ');
  const subprocess = execa(file, args, {
    env: { ...opts.env },
    extendEnv: true,
    cwd: opts.cwd,
    input: opts.input,
    stdin: opts.input === undefined ? 'ignore' : 'pipe',
    timeout: opts.timeoutMs,
    cancelSignal: opts.signal,
    forceKillAfterDelay: 5000,
    reject: false,
    stripFinalNewline: true,
  });
  if (opts.onLine) {
    for (const stream of ['stdout', 'stderr'] as const) {
      let partial = '';
      subprocess[stream]?.on('data', (chunk: Buffer) => {
        const text = partial + chunk.toString('utf8');
        const lines = text.split(/\r?\n|\r/);
        partial = lines.pop() ?? '';
        for (const line of lines) if (line.trim() !== '' && !HARMLESS.some((re) => re.test(line.trim()))) opts.onLine?.(line, stream);
      });
    }
  }
  const result = await subprocess;
  if ((result as { code?: string }).code === 'ENOENT' || /ENOENT/.test(String(result.originalMessage ?? ''))) {
    throw new ShopctlError(`${file} is not installed or not on PATH`, {
      exitCode: ExitCode.PREFLIGHT,
      hint: file.startsWith('docker') ? 'Install Docker Engine with the Compose plugin (docker compose) or docker-compose.' : undefined,
    });
  }
  return {
    command,
    exitCode: result.exitCode ?? (result.isCanceled ? ExitCode.INTERRUPTED : 1),
    stdout: String(result.stdout ?? ''),
    stderr: withoutHarmless(String(result.stderr ?? '')),
    durationMs: Date.now() - started,
    timedOut: result.timedOut,
  };
}

/** Runs and throws a ShopctlError carrying the last lines of stderr when the program fails. */
export async function runChecked(argv: Argv, what: string, opts: RunOptions & { exitCode?: (typeof ExitCode)[keyof typeof ExitCode]; hint?: string } = {}): Promise<RunResult> {
  const result = await run(argv, opts);
  if (result.exitCode !== 0) {
    const tail = lastLines(`${result.stderr}\n${result.stdout}`, 15);
    const reason = result.timedOut ? `timed out after ${opts.timeoutMs} ms` : `exit code ${result.exitCode}`;
    throw new ShopctlError(`${what} failed (${reason})`, {
      exitCode: opts.exitCode ?? ExitCode.FAILURE,
      detail: tail || undefined,
      hint: opts.hint,
      details: { command: result.command, exitCode: result.exitCode },
    });
  }
  return result;
}

export function lastLines(text: string, n: number): string {
  return text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '')
    .slice(-n)
    .join('\n');
}
