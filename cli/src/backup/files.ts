import { createHash } from 'node:crypto';
import { open, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { backupStem, groupBackups } from '../state/backup-files.js';
import { selectRetention, type RetentionPolicy } from '../state/retention.js';
import { fsyncDir } from '../state/fs-atomic.js';
import type { Context } from '../context.js';
import { ShopctlError } from '../errors.js';
import { execIn } from '../docker/exec.js';
import { PG_EXEC_USER } from './postgres.js';

/** A name not taken yet in `dir` for this database and second. */
export async function freeStem(dir: string, database: string, time: Date): Promise<string> {
  const names = new Set(await readdir(dir));
  for (let seq = 1; ; seq += 1) {
    const stem = backupStem(database, time, seq);
    if (![...names].some((n) => n.startsWith(`${stem}.`))) return stem;
  }
}

/** Writes what `fill` produces into a new file; a failed write (a full disk: ENOSPC) is the error, not what it made the producer do. */
export async function streamToFile(path: string, fill: (write: (chunk: Buffer) => Promise<void>) => Promise<void>): Promise<{ size: number; sha256: string }> {
  const fh = await open(path, 'wx', 0o600);
  const hash = createHash('sha256');
  let size = 0;
  let writeError: unknown;
  try {
    await fill(async (chunk) => {
      if (writeError) throw writeError;
      hash.update(chunk);
      size += chunk.length;
      try {
        await fh.write(chunk);
      } catch (error) {
        writeError = error;
        throw error;
      }
    }).catch((error: unknown) => {
      throw writeError ?? error;
    });
    // The producer may have ended "normally" after its output stopped being read (pg_dump exits 126).
    if (writeError) throw writeError;
    await fh.sync();
  } finally {
    await fh.close();
  }
  return { size, sha256: hash.digest('hex') };
}

/**
 * Streams a PostgreSQL client's stdout (pg_dump, pg_basebackup) out of the db container into a
 * new file at `path`, as the image's postgres user; throws with its stderr on a non-zero exit.
 */
export async function execToFile(ctx: Context, containerId: string, cmd: readonly string[], path: string, timeoutMs?: number): Promise<{ size: number; sha256: string }> {
  const docker = await ctx.docker();
  let stderr = '';
  let exitCode = 0;
  const written = await streamToFile(path, async (write) => {
    const r = await execIn(docker, containerId, cmd, { user: PG_EXEC_USER, onStdout: write, signal: ctx.signal, timeoutMs });
    stderr = r.stderr;
    exitCode = r.exitCode;
  });
  if (exitCode !== 0) throw new ShopctlError(`${cmd[0]} failed (exit code ${exitCode})`, { detail: stderr.trim() || undefined });
  return written;
}

export interface RetentionOutcome {
  kept: Array<{ file: string; reasons: string[] }>;
  removed: string[];
}

/** Deletes the backup sets the policy does not keep (every file of a set, sidecars included). */
export async function applyRetention(dir: string, database: string, policy: RetentionPolicy): Promise<RetentionOutcome> {
  const sets = groupBackups(await readdir(dir), database);
  const decision = selectRetention(sets, policy);
  const removed: string[] = [];
  for (const set of decision.remove) {
    // The dump first: a set without its dump is no longer listed, so a crash midway leaves no half-set.
    await rm(join(dir, set.dump), { force: true });
    for (const f of set.files) if (f !== set.dump) await rm(join(dir, f), { force: true });
    removed.push(set.dump);
  }
  await fsyncDir(dir);
  return { kept: decision.keep.map((k) => ({ file: k.item.dump, reasons: k.reasons })), removed };
}

