// A newcomer's checkout for end-to-end tests: the repository's files as a clone has them, in a
// folder of its own, the README's recipes as runnable steps, and a teardown of every Compose
// project the checkout created (by project label), also when the test process exits early.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Docker from 'dockerode';
import { PROJECT_LABEL, REPO_ROOT, removeProjectSync } from './stack.js';

/** Copies the files git tracks (and new ones it does not ignore) into `dir`, then `git init`: a fresh clone of this work tree. */
export function freshCheckout(dir: string): void {
  const files = execFileSync('git', ['-C', REPO_ROOT, 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], { encoding: 'utf8' })
    .split('\0')
    .filter(Boolean);
  for (const f of files) {
    try {
      mkdirSync(dirname(join(dir, f)), { recursive: true });
      cpSync(join(REPO_ROOT, f), join(dir, f));
    } catch (error) {
      // A file deleted in the work tree but not yet in the index is not in a clone either.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  execFileSync('git', ['init', '-q', dir]);
}

/** One line of a README recipe: the command, and the exit code its comment promises (`exit N`, else 0). */
export interface RecipeStep {
  command: string;
  expectedExit: number;
}

/** The first ```bash block under the heading `### <title>` of README.md, one step per line. */
export function readmeRecipe(title: string): RecipeStep[] {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf(`\n### ${title}\n`);
  if (start < 0) throw new Error(`README.md has no "### ${title}" section`);
  const block = /```bash\n([\s\S]*?)```/.exec(readme.slice(start));
  if (!block?.[1]) throw new Error(`README.md "### ${title}" has no bash block`);
  return block[1]
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.trim().startsWith('#'))
    .map((line) => {
      const hash = line.indexOf('  #');
      const comment = hash >= 0 ? line.slice(hash) : '';
      const code = /\bexit (\d+)\b/.exec(comment);
      return { command: (hash >= 0 ? line.slice(0, hash) : line).trim(), expectedExit: code ? Number(code[1]) : 0 };
    });
}

/** Removes every container, network and volume of these Compose projects (by label); never throws. */
export async function removeProjects(docker: Docker, projects: readonly string[]): Promise<void> {
  for (const project of projects) {
    const label = [`${PROJECT_LABEL}=${project}`];
    const containers = await docker.listContainers({ all: true, filters: { label } }).catch(() => []);
    await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
    const networks = await docker.listNetworks({ filters: { label } }).catch(() => []);
    await Promise.all(networks.map((n) => docker.getNetwork(n.Id).remove().catch(() => undefined)));
    const volumes = await docker.listVolumes({ filters: { label } }).catch(() => ({ Volumes: [] }));
    await Promise.all((volumes.Volumes ?? []).map((v) => docker.getVolume(v.Name).remove().catch(() => undefined)));
  }
}

/** The same, synchronously, for process exit; then the folders. */
export function removeProjectsSync(projects: readonly string[], dirs: readonly string[]): void {
  for (const project of projects) removeProjectSync(project);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
