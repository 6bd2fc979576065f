import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ShopctlError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { writeFileAtomic } from './fs-atomic.js';

const releaseSchema = z.object({
  id: z.string(),
  action: z.enum(['deploy', 'rollback']),
  environment: z.string(),
  version: z.string(),
  image: z.string(),
  imageId: z.string(),
  digest: z.string().nullable().optional(),
  who: z.string(),
  host: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
  durationMs: z.number(),
  result: z.enum(['success', 'failed', 'rolled_back']),
  previousVersion: z.string().nullable().optional(),
  replicas: z.number().int().nonnegative().optional(),
  backup: z.string().nullable().optional(),
  error: z.string().optional(),
  /** Absent in histories written before swarm support: those were Compose. */
  orchestrator: z.enum(['compose', 'swarm']).optional(),
  /** The Compose project (or swarm stack). Absent in histories written before each environment had its own: the folder's name then. */
  project: z.string().optional(),
});

const historySchema = z.object({
  schema: z.literal(1),
  releases: z.array(releaseSchema),
});

export type Release = z.infer<typeof releaseSchema>;
export type ReleaseHistory = z.infer<typeof historySchema>;

/** Older entries beyond this are dropped so the file stays small; the newest always stay. */
export const HISTORY_LIMIT = 500;

export function emptyHistory(): ReleaseHistory {
  return { schema: 1, releases: [] };
}

export function parseHistory(text: string, source = 'releases.json'): ReleaseHistory {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ShopctlError(`${source} is not valid JSON: ${(error as Error).message}`, {
      hint: 'Restore it from a copy, or move it away to start a new history (rollback needs it).',
    });
  }
  const parsed = historySchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ShopctlError(`${source} does not look like a shopctl release history: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`, {
      hint: 'Restore it from a copy, or move it away to start a new history (rollback needs it).',
    });
  }
  return parsed.data;
}

export async function loadHistory(path: string): Promise<ReleaseHistory> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptyHistory();
    throw error;
  }
  return parseHistory(text, path);
}

export async function saveHistory(path: string, history: ReleaseHistory): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(history, null, 2)}\n`, 0o644);
}

export function appendRelease(history: ReleaseHistory, release: Release, limit = HISTORY_LIMIT): ReleaseHistory {
  const releases = [...history.releases, release];
  return { schema: 1, releases: releases.slice(Math.max(0, releases.length - limit)) };
}

/** The release now serving in `environment`: the newest successful one. */
export function currentRelease(history: ReleaseHistory, environment: string): Release | undefined {
  return history.releases.findLast((r) => r.environment === environment && r.result === 'success');
}

/**
 * What `shopctl rollback [version]` goes back to: the named version's newest successful
 * release, or else the newest successful release before the current one with another version.
 */
export function rollbackTarget(history: ReleaseHistory, environment: string, version?: string): Release {
  const ok = history.releases.filter((r) => r.environment === environment && r.result === 'success');
  const current = ok.at(-1);
  if (version !== undefined) {
    const named = ok.findLast((r) => r.version === version);
    if (!named) {
      throw new ShopctlError(`No successful release of version "${version}" in ${environment}'s history`, {
        exitCode: ExitCode.NOT_FOUND,
        hint: `shopctl releases lists what can be rolled back to; to deploy a version never released here, use shopctl deploy ${environment} ${version}.`,
      });
    }
    return named;
  }
  if (!current) {
    throw new ShopctlError(`No successful release in ${environment}'s history, so there is nothing to roll back to`, {
      exitCode: ExitCode.NOT_FOUND,
      hint: 'shopctl releases shows the history; deploy a version with shopctl deploy.',
    });
  }
  const previous = ok.findLast((r) => r.version !== current.version);
  if (!previous) {
    throw new ShopctlError(`Only version ${current.version} was ever released in ${environment}: no previous release to roll back to`, {
      exitCode: ExitCode.NOT_FOUND,
      hint: 'Name a version explicitly (shopctl rollback <version>) once another one has been released.',
    });
  }
  return previous;
}
