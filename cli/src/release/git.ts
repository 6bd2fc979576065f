import { run } from '../run.js';

/** The version when none is given: the git commit (with -dirty for uncommitted changes), as Kamal does. */
export async function gitVersion(dir: string): Promise<string | undefined> {
  try {
    const head = await run(['git', ['-C', dir, 'rev-parse', '--short=12', 'HEAD']], { timeoutMs: 10_000 });
    if (head.exitCode !== 0) return undefined;
    const dirty = await run(['git', ['-C', dir, 'status', '--porcelain', '--untracked-files=no']], { timeoutMs: 10_000 });
    return `${head.stdout.trim()}${dirty.stdout.trim() ? '-dirty' : ''}`;
  } catch {
    return undefined;
  }
}

export async function gitSha(dir: string): Promise<string | undefined> {
  try {
    const r = await run(['git', ['-C', dir, 'rev-parse', 'HEAD']], { timeoutMs: 10_000 });
    return r.exitCode === 0 ? r.stdout.trim() : undefined;
  } catch {
    return undefined;
  }
}
