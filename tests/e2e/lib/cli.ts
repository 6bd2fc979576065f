// Running shopctl from its TypeScript sources, as the e2e suites do.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { REPO_ROOT } from './stack.js';

export const SHOPCTL_BIN = join(REPO_ROOT, 'cli/src/bin.ts');

/** What one shopctl run left: exit code, output and how long it took. */
export interface Cli {
  exitCode: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** node's argv for `shopctl <args>` (tsx loads the sources). */
export function shopctlArgv(args: string[]): string[] {
  return ['--import', 'tsx', SHOPCTL_BIN, ...args];
}

/** Runs shopctl with exactly `env` (nothing inherited), from the repository root; never throws on an exit code. */
export async function runShopctl(args: string[], env: Record<string, string>, timeoutMs: number): Promise<Cli> {
  const started = Date.now();
  const r = await execa(process.execPath, shopctlArgv(args), { env, extendEnv: false, reject: false, timeout: timeoutMs, cwd: REPO_ROOT });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr), ms: Date.now() - started };
}

/** A run's exit code and the tail of its output, for an assertion's message. */
export function show(r: Cli, tail = 5000): string {
  return `exit ${r.exitCode}\n--- stdout\n${r.stdout.slice(-tail)}\n--- stderr\n${r.stderr.slice(-tail)}`;
}

/**
 * The env file shopctl gets in the e2e suites: the stack's variables (ports, passwords, image
 * overrides, BACKUP_DIR) without the shell's own, as an operator's .env would hold them.
 */
export async function writeShopctlEnvFile(path: string, env: Record<string, string>): Promise<void> {
  const lines = Object.entries(env)
    .filter(([k]) => !/^(PATH|HOME|USER|TMPDIR|LANG|APP_VERSION)$/.test(k) && !k.startsWith('DOCKER_'))
    .map(([k, val]) => `${k}=${val}`);
  await writeFile(path, `ENVIRONMENT=development\n${lines.join('\n')}\n`, { mode: 0o600 });
}
