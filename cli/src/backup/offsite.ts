import { createReadStream } from 'node:fs';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Context } from '../context.js';
import { ShopctlError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { groupBackups, parseStem } from '../state/backup-files.js';
import { fsyncDir } from '../state/fs-atomic.js';
import { selectRetention, type RetentionPolicy } from '../state/retention.js';
import { BASE_DIR, listBaseBackups, type BaseBackupMeta } from './base.js';
import { BackupStore, storeSettings, type RemoteObject, type StoreSettings } from './store.js';
import { historyTimeline, lsnSegNo, parseSegmentName, prunableWal } from './wal.js';
import { SANDBOX_ARCHIVE, databaseImage, readArchive, walArchiveVolume, withSandbox } from './sandbox.js';

/**
 * Off-host copies: what is in the backup directory and the WAL archive but not yet in the store
 * goes up (encrypted here), retention applies there as here, and a restore fetches what is
 * missing locally. Remote layout, under BACKUP_S3_PREFIX: base/<stem>.{tar,tar.sha256,backup_manifest,json}.enc,
 * wal/<segment>.enc, dumps/<dump set files>.enc. A set is listed remotely only once its last
 * object (.json for base backups, .dump for dumps) is there, so an interrupted upload is finished next time.
 */

/** The WAL archive as the uploader and a restore see it (in the stack: a throwaway container on the archive volume). */
export interface WalArchive {
  list(): Promise<string[]>;
  read(name: string): Promise<Buffer>;
  /** Adds a file (restore from the store); never overwrites one that is there. */
  write?(name: string, data: Buffer): Promise<void>;
}

/**
 * The store of this project, or undefined when BACKUP_S3_BUCKET is not set (or, with `onlyIf`,
 * when it says no: a plain backup must not fail on a store setting it does not use).
 */
export async function openStore(ctx: Context, onlyIf?: (settings: StoreSettings) => boolean): Promise<BackupStore | undefined> {
  const settings = await storeSettings((k) => process.env[k] || ctx.envValues.get(k) || undefined, ctx.projectDir);
  if (!settings || (onlyIf && !onlyIf(settings))) return undefined;
  return BackupStore.open(settings);
}

const BASE_PARTS = ['.tar', '.tar.sha256', '.backup_manifest', '.json'] as const;

/** Base backup stems whose `.json` (the object written last) is present among `names`. */
export function completeBaseStems(names: readonly string[]): string[] {
  return names.filter((n) => !n.startsWith('.') && n.endsWith('.json')).map((n) => n.slice(0, -'.json'.length)).filter((s) => names.includes(`${s}.tar`)).sort();
}

function isWalFile(name: string): boolean {
  return parseSegmentName(name) !== undefined || historyTimeline(name) !== undefined || /^[0-9A-F]{24}\.[0-9A-F]{8}\.backup$/.test(name);
}

export interface UploadOutcome {
  wal: number;
  base: string[];
  dumps: string[];
  objects: number;
  bytes: number;
}

/** Uploads everything not in the store yet: WAL first (a base backup is of no use without it), then base backups, then dumps. */
export async function uploadBackups(store: BackupStore, local: { backupDir: string; wal?: WalArchive | undefined }, step: (s: string) => void = () => {}): Promise<UploadOutcome> {
  const out: UploadOutcome = { wal: 0, base: [], dumps: [], objects: 0, bytes: 0 };
  const put = async (name: string, body: Readable, size: number) => {
    await store.put(name, body);
    out.objects += 1;
    out.bytes += size;
  };
  const putFile = async (folder: string, dir: string, file: string, remote: Set<string>) => {
    if (remote.has(`${folder}/${file}`)) return;
    const path = join(dir, file);
    step(`uploading ${folder}/${file}`);
    const { size } = await stat(path);
    await put(`${folder}/${file}`, createReadStream(path), size);
  };

  if (local.wal) {
    const remote = new Set((await store.list('wal')).map((o) => o.name));
    const missing = (await local.wal.list()).filter((n) => isWalFile(n) && !remote.has(`wal/${n}`)).sort();
    for (const [i, n] of missing.entries()) {
      step(`uploading WAL ${n} (${i + 1}/${missing.length})`);
      const data = await local.wal.read(n);
      await put(`wal/${n}`, Readable.from([data]), data.length);
      out.wal += 1;
    }
  }

  const baseDir = join(local.backupDir, BASE_DIR);
  const baseNames = await readdir(baseDir).catch(() => [] as string[]);
  const remoteBase = new Set((await store.list('base')).map((o) => o.name));
  for (const stem of completeBaseStems(baseNames)) {
    if (remoteBase.has(`base/${stem}.json`)) continue;
    for (const ext of BASE_PARTS) await putFile('base', baseDir, `${stem}${ext}`, remoteBase);
    out.base.push(stem);
  }

  const remoteDumps = new Set((await store.list('dumps')).map((o) => o.name));
  for (const set of groupBackups(await readdir(local.backupDir).catch(() => [] as string[]))) {
    if (remoteDumps.has(`dumps/${set.dump}`)) continue;
    // The dump last: the set is listed remotely only once it is there.
    for (const f of [...set.files.filter((f) => f !== set.dump), set.dump]) await putFile('dumps', local.backupDir, f, remoteDumps);
    out.dumps.push(set.dump);
  }
  return out;
}

export interface RemoteRetentionOutcome {
  base: { kept: string[]; removed: string[] };
  dumps: { kept: string[]; removed: string[] };
  walRemoved: number;
}

const strip = (folder: string, objects: readonly RemoteObject[]) => objects.map((o) => o.name.slice(folder.length + 1));

/** The local keep rules applied to the store: base backups, the WAL none of the kept ones needs, dump sets. */
export async function applyRemoteRetention(store: BackupStore, policy: RetentionPolicy, step: (s: string) => void = () => {}): Promise<RemoteRetentionOutcome> {
  step(`listing ${store.label}`);
  const baseNames = strip('base', await store.list('base'));
  const bases = completeBaseStems(baseNames).flatMap((stem) => {
    const p = parseStem(stem);
    return p ? [{ stem, time: p.time }] : [];
  });
  const baseDecision = selectRetention(bases, policy);
  for (const b of baseDecision.remove) {
    step(`deleting base/${b.stem}`);
    // The .json first: without it the set is no longer listed.
    await store.remove([`base/${b.stem}.json`]);
    await store.remove(BASE_PARTS.filter((e) => e !== '.json' && baseNames.includes(`${b.stem}${e}`)).map((e) => `base/${b.stem}${e}`));
  }
  let walRemoved = 0;
  const oldest = baseDecision.keep.map((k) => k.item).sort((a, b) => a.time.getTime() - b.time.getTime())[0];
  if (oldest) {
    const meta = JSON.parse((await store.getBuffer(`base/${oldest.stem}.json`)).toString('utf8')) as BaseBackupMeta;
    const prune = prunableWal(strip('wal', await store.list('wal')), lsnSegNo(meta.startLsn));
    if (prune.length) step(`deleting ${prune.length} WAL file(s) older than ${meta.startWal}`);
    await store.remove(prune.map((n) => `wal/${n}`));
    walRemoved = prune.length;
  }
  const dumpNames = strip('dumps', await store.list('dumps'));
  const dumpDecision = selectRetention(groupBackups(dumpNames), policy);
  for (const set of dumpDecision.remove) {
    step(`deleting dumps/${set.dump}`);
    await store.remove([`dumps/${set.dump}`]);
    await store.remove(set.files.filter((f) => f !== set.dump).map((f) => `dumps/${f}`));
  }
  return {
    base: { kept: baseDecision.keep.map((k) => k.item.stem), removed: baseDecision.remove.map((b) => b.stem) },
    dumps: { kept: dumpDecision.keep.map((k) => k.item.dump), removed: dumpDecision.remove.map((s) => s.dump) },
    walRemoved,
  };
}

/** The `.json` of every complete base backup in the store, oldest first. */
export async function remoteBaseBackups(store: BackupStore): Promise<Array<{ stem: string; meta: BaseBackupMeta; time: Date }>> {
  const stems = completeBaseStems(strip('base', await store.list('base')));
  const all = [];
  for (const stem of stems) {
    const meta = JSON.parse((await store.getBuffer(`base/${stem}.json`)).toString('utf8')) as BaseBackupMeta;
    all.push({ stem, meta, time: new Date(meta.finishedAt) });
  }
  return all.sort((a, b) => a.time.getTime() - b.time.getTime());
}

/**
 * Downloads one base backup into backups/base (decrypted and authenticated per object; the tar
 * first, the .json last, so it is listed only when complete). The caller checks its sha256.
 */
export async function downloadBaseBackup(store: BackupStore, backupDir: string, stem: string, step: (s: string) => void = () => {}): Promise<void> {
  const dir = join(backupDir, BASE_DIR);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const ext of BASE_PARTS) {
    step(`downloading base/${stem}${ext}`);
    await store.getToFile(`base/${stem}${ext}`, join(dir, `${stem}${ext}`));
  }
  await fsyncDir(dir);
}

/** Picks the base backup a restore would use among those in the store (same rule as locally). */
export function chooseRemoteBase<T extends { stem: string; time: Date }>(all: readonly T[], choice: { base?: string | undefined; toTime?: Date | undefined }): T {
  if (choice.base) {
    const stem = choice.base.replace(/^.*\//, '').replace(/\.(tar|json|backup_manifest)$/, '');
    const hit = all.find((b) => b.stem === stem);
    if (!hit) throw new ShopctlError(`Base backup ${choice.base} is neither in the backup directory nor in the store`, { exitCode: ExitCode.NOT_FOUND, hint: `The store has: ${all.map((b) => b.stem).join(', ') || 'none'}` });
    return hit;
  }
  const fitting = choice.toTime ? all.filter((b) => b.time.getTime() <= (choice.toTime as Date).getTime()) : all;
  const chosen = fitting.at(-1);
  if (!chosen) throw new ShopctlError(`No base backup in the store${choice.toTime ? ` ends before ${choice.toTime.toISOString()}` : ''}`, { exitCode: ExitCode.NOT_FOUND, hint: 'Upload one: shopctl backup --physical --upload' });
  return chosen;
}

/** Downloads the WAL the archive lacks from `fromSegNo` on (and every timeline history file). */
export async function downloadWal(store: BackupStore, archive: WalArchive, fromSegNo: number, step: (s: string) => void = () => {}): Promise<number> {
  if (!archive.write) throw new Error('the WAL archive is read-only here');
  const local = new Set(await archive.list());
  const wanted = strip('wal', await store.list('wal')).filter((n) => {
    if (local.has(n)) return false;
    if (historyTimeline(n) !== undefined) return true;
    const id = parseSegmentName(n);
    return id !== undefined && id.segNo >= fromSegNo;
  });
  for (const [i, n] of wanted.sort().entries()) {
    step(`downloading WAL ${n} (${i + 1}/${wanted.length})`);
    await archive.write(n, await store.getBuffer(`wal/${n}`));
  }
  return wanted.length;
}

/** The stack's WAL archive through a throwaway container on its volume (writable only when fetching). */
export async function withStackArchive<T>(ctx: Context, writable: boolean, fn: (archive: WalArchive) => Promise<T>): Promise<T> {
  const image = await databaseImage(ctx);
  const volume = await walArchiveVolume(ctx);
  return withSandbox(ctx, { purpose: writable ? 'wal-fetch' : 'wal-upload', image, archiveVolume: volume, archiveWritable: writable }, async (s) =>
    fn({
      list: async () => (await readArchive(s)).names,
      read: async (name) => {
        const chunks: Buffer[] = [];
        const r = await s.exec(['cat', `${SANDBOX_ARCHIVE}/${name}`], { onStdout: (c) => void chunks.push(c) });
        if (r.exitCode !== 0) throw new ShopctlError(`Reading ${name} from the WAL archive failed`, { detail: r.stderr.trim() });
        return Buffer.concat(chunks);
      },
      // Same rules as archive-wal.sh: never overwrite, fsync, appear under the final name only when complete.
      write: async (name, data) => {
        await s.run(['sh', '-c', 'set -e; f="$1"; test ! -e "$f"; dd of="$f.partial" bs=1048576 conv=fsync 2>/dev/null; mv "$f.partial" "$f"; sync "$(dirname "$f")" 2>/dev/null || sync', 'sh', `${SANDBOX_ARCHIVE}/${name}`], `writing ${name} into the WAL archive`, { stdin: data });
      },
    }),
  );
}

/** `shopctl backup --upload` and `backup upload`: the WAL archive too when the stack has one. */
export async function uploadFromStack(ctx: Context, store: BackupStore, step: (s: string) => void): Promise<UploadOutcome> {
  let hasArchive = true;
  try {
    await walArchiveVolume(ctx);
  } catch (error) {
    if (!(error instanceof ShopctlError && error.exitCode === ExitCode.NOT_FOUND)) throw error;
    hasArchive = false;
  }
  if (!hasArchive) return uploadBackups(store, { backupDir: ctx.backupDir }, step);
  return withStackArchive(ctx, false, (wal) => uploadBackups(store, { backupDir: ctx.backupDir, wal }, step));
}

/** A dump set from the store into the backup directory (the dump last, after its .sha256 and .json). */
export async function downloadDump(store: BackupStore, backupDir: string, dump: string, step: (s: string) => void = () => {}): Promise<string> {
  const set = groupBackups(strip('dumps', await store.list('dumps'))).find((s) => s.dump === dump);
  if (!set) throw new ShopctlError(`Backup file ${dump} is neither in ${backupDir} nor in ${store.label}dumps/`, { exitCode: ExitCode.NOT_FOUND });
  await mkdir(backupDir, { recursive: true, mode: 0o700 });
  for (const f of [...set.files.filter((f) => f !== set.dump), set.dump]) {
    step(`downloading dumps/${f}`);
    await store.getToFile(`dumps/${f}`, join(backupDir, f));
  }
  await fsyncDir(backupDir);
  return join(backupDir, dump);
}

export interface Fetched {
  /** The base backup downloaded, when the store had a better fit than the backup directory. */
  base: string | undefined;
  wal: number;
}

/**
 * Before a point-in-time restore: the base backup the restore needs comes from the store when
 * the backup directory lacks it (or has only older ones), and the WAL the archive lacks from that
 * base backup on. Downloads are authenticated object by object; the tar's sha256 is checked by the restore.
 */
export async function fetchForRestore(ctx: Context, store: BackupStore, choice: { base?: string | undefined; toTime?: Date | undefined }, step: (s: string) => void): Promise<Fetched> {
  const pick = <T extends { stem: string; time: Date }>(all: readonly T[]): T | undefined => {
    try {
      return chooseRemoteBase(all, choice);
    } catch (error) {
      if (error instanceof ShopctlError && error.exitCode === ExitCode.NOT_FOUND) return undefined;
      throw error;
    }
  };
  step(`listing ${store.label}`);
  const local = pick(await listBaseBackups(ctx));
  const remote = pick(await remoteBaseBackups(store));
  let base: string | undefined;
  let startLsn = local?.meta.startLsn;
  if (remote && (!local || remote.time > local.time)) {
    await downloadBaseBackup(store, ctx.backupDir, remote.stem, step);
    base = remote.stem;
    startLsn = remote.meta.startLsn;
  }
  if (!startLsn) return { base, wal: 0 };
  const from = lsnSegNo(startLsn);
  const wal = await withStackArchive(ctx, true, (archive) => downloadWal(store, archive, from, step));
  return { base, wal };
}
