import { createReadStream } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { t as listTar } from 'tar';
import type { Context } from '../context.js';
import { ShopctlError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { acquireLock, currentUser } from '../state/lock.js';
import { formatChecksumLine, gauge, parseChecksumFile } from '../state/backup-files.js';
import { fsyncDir, writeFileAtomic } from '../state/fs-atomic.js';
import { selectRetention, type RetentionPolicy } from '../state/retention.js';
import { formatBytes } from '../time.js';
import { execChecked } from '../docker/exec.js';
import { PG_EXEC_USER, postgresTarget, psqlArgs } from './postgres.js';
import { rowCounts, sha256File } from './dump.js';
import { execToFile, freeStem } from './files.js';
import { writeBackupMetrics } from './metrics.js';
import { DB_ARCHIVE_DIR, SANDBOX_ARCHIVE, SANDBOX_PGDATA, databaseImage, unpackBase, walArchiveVolume, withSandbox } from './sandbox.js';
import { lsnSegNo, parseLsn, prunableWal, segmentName } from './wal.js';

/** Base backups live in their own folder: `backups/base/<db>-<UTC>.tar` with .tar.sha256, .backup_manifest and .json. */
export const BASE_DIR = 'base';

/** The `.json` beside each base backup. */
export interface BaseBackupMeta {
  schema: 1;
  kind: 'base';
  file: string;
  database: string;
  /** The role the stack's database was created with (POSTGRES_USER): a restore checks as it. */
  user: string;
  /** When pg_basebackup started (the checkpoint). */
  createdAt: string;
  /** When it returned: the earliest time this backup can be restored to. */
  finishedAt: string;
  reason: string;
  sizeBytes: number;
  sha256: string;
  durationMs: number;
  serverVersion: string;
  timeline: number;
  startLsn: string;
  stopLsn: string;
  /** First and last WAL segment the backup needs (from the archive) to be consistent. */
  startWal: string;
  stopWal: string;
  /** Exact row counts just before and just after the backup: a restore of it lies in between. */
  rowCounts: Record<string, number>;
  rowCountsAfter: Record<string, number>;
  /** pg_verifybackup's verdict, checked against the WAL archive. */
  verified: string;
  host: string;
  who: string;
}

export interface BaseBackup {
  meta: BaseBackupMeta;
  stem: string;
  path: string;
  time: Date;
}

export function baseDir(ctx: Context): string {
  return join(ctx.backupDir, BASE_DIR);
}

/** Every complete base backup in backups/base (its .json and .tar both there), oldest first. */
export async function listBaseBackups(ctx: Context): Promise<BaseBackup[]> {
  const dir = baseDir(ctx);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const found: BaseBackup[] = [];
  for (const n of names) {
    if (n.startsWith('.') || !n.endsWith('.json')) continue;
    const stem = n.slice(0, -'.json'.length);
    if (!names.includes(`${stem}.tar`)) continue;
    try {
      const meta = JSON.parse(await readFile(join(dir, n), 'utf8')) as BaseBackupMeta;
      if (meta.kind === 'base') found.push({ meta, stem, path: join(dir, `${stem}.tar`), time: new Date(meta.finishedAt) });
    } catch {
      // A foreign or damaged .json is not a backup of ours: leave it alone.
    }
  }
  return found.sort((a, b) => a.time.getTime() - b.time.getTime() || a.stem.localeCompare(b.stem));
}

/** A base backup by stem or file name (`shop-20261127T170000Z`, `...tar`), or the newest. */
export async function findBaseBackup(ctx: Context, name?: string): Promise<BaseBackup> {
  const all = await listBaseBackups(ctx);
  if (!name) {
    const newest = all.at(-1);
    if (!newest) throw new ShopctlError(`No base backup in ${baseDir(ctx)}`, { exitCode: ExitCode.NOT_FOUND, hint: 'Take one: shopctl backup --physical' });
    return newest;
  }
  const stem = name.replace(/^.*\//, '').replace(/\.(tar|json|backup_manifest)$/, '');
  const hit = all.find((b) => b.stem === stem);
  if (!hit) throw new ShopctlError(`Base backup ${name} not found in ${baseDir(ctx)}`, { exitCode: ExitCode.NOT_FOUND, hint: `There are: ${all.map((b) => b.stem).join(', ') || 'none'}` });
  return hit;
}

/** The tar must match its .sha256 (written when it was taken): a truncated or altered file stops here. */
export async function checkBaseChecksum(b: BaseBackup): Promise<void> {
  let expected: string | undefined;
  try {
    expected = parseChecksumFile(await readFile(`${b.path}.sha256`, 'utf8'))?.hex;
  } catch {
    expected = undefined;
  }
  if (!expected) throw new ShopctlError(`${b.stem}.tar.sha256 is missing or unreadable: cannot prove the base backup is intact`, { exitCode: ExitCode.INTEGRITY });
  const actual = await sha256File(b.path);
  if (actual !== expected) {
    throw new ShopctlError(`Checksum mismatch for ${b.stem}.tar: the base backup is corrupted or truncated`, {
      exitCode: ExitCode.INTEGRITY,
      detail: `expected ${expected}\nactual   ${actual}`,
      hint: 'Nothing was changed. Use another base backup (shopctl restore --dry-run lists them) or take a new one.',
    });
  }
}

/** Reads small members (backup_label, backup_manifest) out of a base backup tar. */
async function tarMembers(path: string, wanted: readonly string[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  await listTar({
    file: path,
    onReadEntry: (entry) => {
      const name = entry.path.replace(/^\.\//, '');
      if (!wanted.includes(name)) {
        entry.resume();
        return;
      }
      const chunks: Buffer[] = [];
      entry.on('data', (c: Buffer) => chunks.push(c));
      entry.on('end', () => found.set(name, Buffer.concat(chunks).toString('utf8')));
    },
  });
  return found;
}

export function parseBackupLabel(label: string): { startLsn: string; timeline: number } {
  const lsn = /^START WAL LOCATION: ([0-9A-F]+\/[0-9A-F]+)/m.exec(label)?.[1];
  const tli = /^START TIMELINE: (\d+)/m.exec(label)?.[1];
  if (!lsn || !tli) throw new ShopctlError('backup_label of the base backup is not readable', { exitCode: ExitCode.INTEGRITY, detail: label.slice(0, 500) });
  return { startLsn: lsn, timeline: Number(tli) };
}

/** The end of the WAL the backup needs: the highest End-LSN of the manifest's WAL-Ranges. */
export function manifestStopLsn(manifest: string): string {
  const ranges = (JSON.parse(manifest) as { 'WAL-Ranges'?: Array<{ 'End-LSN': string }> })['WAL-Ranges'] ?? [];
  const ends = ranges.map((r) => r['End-LSN']).sort((a, b) => parseLsn(a) - parseLsn(b));
  const last = ends.at(-1);
  if (!last) throw new ShopctlError('backup_manifest has no WAL-Ranges', { exitCode: ExitCode.INTEGRITY });
  return last;
}

/** pg_verifybackup in a throwaway container: the files against the manifest, and the WAL it needs from the archive. */
export async function verifyBaseBackup(ctx: Context, b: { path: string; stem: string }, image: string, archiveVolume: string, onStep: (s: string) => void): Promise<string> {
  return withSandbox(ctx, { purpose: 'verify-base', image, dataVolume: { name: `shopctl-verify-${b.stem.toLowerCase()}-${process.pid}`, temporary: true }, archiveVolume }, async (s) => {
    onStep('unpacking into a throwaway container');
    await unpackBase(s, createReadStream(b.path));
    onStep('pg_verifybackup');
    const r = await s.exec(['pg_verifybackup', '--wal-directory', SANDBOX_ARCHIVE, SANDBOX_PGDATA]);
    if (r.exitCode !== 0) {
      throw new ShopctlError(`pg_verifybackup rejects ${b.stem}`, { exitCode: ExitCode.INTEGRITY, detail: `${r.stderr}${r.stdout}`.trim().split('\n').slice(-10).join('\n') });
    }
    return r.stdout.trim() || 'backup successfully verified';
  });
}

export interface BaseBackupOptions {
  reason?: string;
  lockWaitMs?: number;
  timeoutMs?: number;
  onStep?: (step: string) => void;
}

/**
 * A physical base backup: pg_basebackup (tar on stdout, the manifest inside, WAL left to the
 * archive) streamed out through the Engine API into a temp file with its sha256, proven with
 * pg_verifybackup against the WAL archive in a throwaway container, then renamed into place.
 */
export async function takeBaseBackup(ctx: Context, opts: BaseBackupOptions = {}): Promise<BaseBackup> {
  const started = Date.now();
  const step = opts.onStep ?? (() => {});
  const docker = await ctx.docker();
  const target = await postgresTarget(ctx);
  const image = await databaseImage(ctx);
  const archiveVolume = await walArchiveVolume(ctx);
  const lock = await acquireLock(ctx.statePath('backup.lock'), { command: 'backup --physical', label: 'backup', message: opts.reason, waitMs: opts.lockWaitMs ?? 0, signal: ctx.signal, onWait: (h) => step(`waiting for the backup lock held by ${h}`) });
  const dir = baseDir(ctx);
  const temps: string[] = [];
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const archiving = (await execChecked(docker, target.container.Id, psqlArgs(target, 'SHOW archive_mode'), 'psql', { user: PG_EXEC_USER })).stdout.trim();
    if (archiving !== 'on' && archiving !== 'always') {
      throw new ShopctlError(`WAL archiving is off in the running database (archive_mode=${archiving}): a base backup alone cannot be restored to a point in time`, {
        exitCode: ExitCode.PREFLIGHT,
        hint: 'Redeploy with the compose files and config/postgres/postgresql.conf of this version (archive_mode = on).',
      });
    }
    const time = new Date();
    const stem = await freeStem(dir, target.database, time);
    const tmp = join(dir, `.${stem}.tar.partial`);
    temps.push(tmp);
    step('reading versions and row counts');
    const serverVersion = (await execChecked(docker, target.container.Id, psqlArgs(target, 'SHOW server_version'), 'psql', { user: PG_EXEC_USER })).stdout.trim();
    const before = await rowCounts(ctx, target);

    step('pg_basebackup (checkpoint, then the data files)');
    // -X none: pg_basebackup waits until the WAL the backup needs is archived, and the archive holds it.
    const written = await execToFile(ctx, target.container.Id, ['pg_basebackup', '-U', target.user, '--no-password', '-D', '-', '-F', 't', '-X', 'none', '-c', 'fast', '-l', `shopctl ${stem}`], tmp, opts.timeoutMs);
    const finishedAt = new Date();
    const after = await rowCounts(ctx, target);

    step(`reading backup_label and backup_manifest (${formatBytes(written.size)})`);
    const members = await tarMembers(tmp, ['backup_label', 'backup_manifest']);
    const label = members.get('backup_label');
    const manifest = members.get('backup_manifest');
    if (!label || !manifest) throw new ShopctlError('The base backup has no backup_label or backup_manifest (truncated stream?)', { exitCode: ExitCode.INTEGRITY });
    const { startLsn, timeline } = parseBackupLabel(label);
    const stopLsn = manifestStopLsn(manifest);

    step('pg_verifybackup against the WAL archive');
    const verified = await verifyBaseBackup(ctx, { path: tmp, stem }, image, archiveVolume, step);

    const meta: BaseBackupMeta = {
      schema: 1,
      kind: 'base',
      file: `${stem}.tar`,
      database: target.database,
      user: target.user,
      createdAt: time.toISOString(),
      finishedAt: finishedAt.toISOString(),
      reason: opts.reason ?? 'manual',
      sizeBytes: written.size,
      sha256: written.sha256,
      durationMs: Date.now() - started,
      serverVersion,
      timeline,
      startLsn,
      stopLsn,
      startWal: segmentName(timeline, lsnSegNo(startLsn)),
      stopWal: segmentName(timeline, lsnSegNo(stopLsn)),
      rowCounts: before,
      rowCountsAfter: after,
      verified,
      host: hostname(),
      who: currentUser(),
    };
    const sidecars: Array<[string, string]> = [
      [`${stem}.tar.sha256`, formatChecksumLine(written.sha256, `${stem}.tar`)],
      [`${stem}.backup_manifest`, manifest],
      [`${stem}.json`, `${JSON.stringify(meta, null, 2)}\n`],
    ];
    for (const [name, text] of sidecars) await writeFileAtomic(join(dir, name), text, 0o600);
    // The tar last: a base backup is listed only once it has its final name next to its .json.
    await rename(tmp, join(dir, `${stem}.tar`));
    temps.length = 0;
    await fsyncDir(dir);
    await writeBackupMetrics(
      ctx.backupDir,
      gauge('shopctl_base_backup_last_success_timestamp_seconds', 'Unix time of the last base backup proven by pg_verifybackup.', Math.floor(finishedAt.getTime() / 1000)) +
        gauge('shopctl_base_backup_last_size_bytes', 'Size of the last base backup.', written.size),
    );
    return { meta, stem, path: join(dir, `${stem}.tar`), time: finishedAt };
  } finally {
    for (const t of temps) await rm(t, { force: true });
    await lock.release();
  }
}

export interface BaseRetentionOutcome {
  kept: Array<{ file: string; reasons: string[] }>;
  removed: string[];
  walRemoved: number;
  walKeptFrom: string | undefined;
}

/**
 * Base backups by the same daily/weekly/monthly policy as dumps, then every archived WAL segment
 * older than the oldest kept base backup's first segment (history files always stay).
 */
export async function applyBaseRetention(ctx: Context, policy: RetentionPolicy): Promise<BaseRetentionOutcome> {
  const all = await listBaseBackups(ctx);
  const decision = selectRetention(all, policy);
  const dir = baseDir(ctx);
  const removed: string[] = [];
  for (const b of decision.remove) {
    // The .json first: without it the set is no longer listed, so a crash midway leaves no half-set.
    await rm(join(dir, `${b.stem}.json`), { force: true });
    for (const ext of ['.tar', '.tar.sha256', '.backup_manifest']) await rm(join(dir, `${b.stem}${ext}`), { force: true });
    removed.push(b.meta.file);
  }
  await fsyncDir(dir);
  const oldest = decision.keep.map((k) => k.item).sort((a, b) => a.time.getTime() - b.time.getTime())[0];
  let walRemoved = 0;
  if (oldest) {
    const docker = await ctx.docker();
    const target = await postgresTarget(ctx);
    const ls = await execChecked(docker, target.container.Id, ['ls', '-1', DB_ARCHIVE_DIR], 'listing the WAL archive', { user: PG_EXEC_USER });
    const prune = prunableWal(ls.stdout.split('\n').filter(Boolean), lsnSegNo(oldest.meta.startLsn));
    for (let i = 0; i < prune.length; i += 200) {
      await execChecked(docker, target.container.Id, ['rm', '-f', ...prune.slice(i, i + 200).map((n) => `${DB_ARCHIVE_DIR}/${n}`)], 'pruning the WAL archive', { user: PG_EXEC_USER });
    }
    walRemoved = prune.length;
  }
  return { kept: decision.keep.map((k) => ({ file: k.item.meta.file, reasons: k.reasons })), removed, walRemoved, walKeptFrom: oldest?.meta.startWal };
}
