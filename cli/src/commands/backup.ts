import type { Command } from 'commander';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Context } from '../context.js';
import type { CommandModule, CommandOutcome } from '../command.js';
import { positiveInt, seconds } from '../options.js';
import { ShopctlError, messageOf } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { acquireLock, currentUser } from '../state/lock.js';
import { backupMetrics, backupStem, formatChecksumLine, groupBackups, type BackupMeta } from '../state/backup-files.js';
import { selectRetention, type RetentionPolicy } from '../state/retention.js';
import { fsyncDir, writeFileAtomic } from '../state/fs-atomic.js';
import { formatBytes, formatDuration, sleep } from '../time.js';
import { currentRelease, loadHistory } from '../state/releases.js';
import { execChecked, execIn } from '../docker/exec.js';
import { copyFileOut } from '../docker/archive.js';
import { PG_EXEC_USER, SERVICES, containerSetting, postgresTarget, psqlArgs, runningContainer, type PostgresTarget } from './shared.js';

export interface BackupOptions {
  reason?: string;
  withRedis?: boolean;
  /** How long to queue behind another backup (cron overlap refuses at once: 0). */
  lockWaitMs?: number;
  timeoutMs?: number;
  onStep?: (step: string) => void;
}

export interface BackupResult {
  file: string;
  path: string;
  sizeBytes: number;
  sha256: string;
  durationMs: number;
  meta: BackupMeta;
}

/** Exact row counts of every base table in `public`, in one query (query_to_xml runs a count per table). */
const ROW_COUNTS_SQL = `SELECT table_name, (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', table_schema, table_name), false, true, '')))[1]::text
FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`;

export async function rowCounts(ctx: Context, target: PostgresTarget): Promise<Record<string, number>> {
  const docker = await ctx.docker();
  const r = await execChecked(docker, target.container.Id, psqlArgs(target, ROW_COUNTS_SQL), 'counting rows', { user: PG_EXEC_USER, signal: ctx.signal });
  const counts: Record<string, number> = {};
  for (const line of r.stdout.split('\n')) {
    const [table, count] = line.split('\t');
    if (table && count !== undefined) counts[table] = Number(count);
  }
  return counts;
}

export interface DumpCheck {
  tocEntries: number;
}

/**
 * Proves a dump restores: `pg_restore --list` reads its table of contents, then a full
 * `pg_restore --file=/dev/null` reads every data block (a truncated or corrupted file fails
 * here). Runs inside the db container, the file fed through exec's stdin: nothing is copied in.
 */
export async function checkDump(ctx: Context, target: PostgresTarget, path: string): Promise<DumpCheck> {
  const docker = await ctx.docker();
  const list = await execIn(docker, target.container.Id, ['pg_restore', '--list'], {
    user: PG_EXEC_USER,
    stdin: createReadStream(path),
    stdinMayStopEarly: true,
    signal: ctx.signal,
  });
  if (list.exitCode !== 0) {
    throw new ShopctlError(`pg_restore cannot read the table of contents of ${path}`, { exitCode: ExitCode.INTEGRITY, detail: list.stderr.trim() || undefined });
  }
  const tocEntries = list.stdout.split('\n').filter((l) => l.trim() !== '' && !l.startsWith(';')).length;
  const full = await execIn(docker, target.container.Id, ['pg_restore', '--file=/dev/null'], { user: PG_EXEC_USER, stdin: createReadStream(path), signal: ctx.signal });
  if (full.exitCode !== 0) {
    throw new ShopctlError(`pg_restore cannot read all of ${path} (truncated or corrupted)`, { exitCode: ExitCode.INTEGRITY, detail: full.stderr.trim() || undefined });
  }
  if (tocEntries === 0) throw new ShopctlError(`${path} has an empty table of contents`, { exitCode: ExitCode.INTEGRITY });
  return { tocEntries };
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A name not taken yet in `dir` for this database and second. */
async function freeStem(dir: string, database: string, time: Date): Promise<string> {
  const names = new Set(await readdir(dir));
  for (let seq = 1; ; seq += 1) {
    const stem = backupStem(database, time, seq);
    if (![...names].some((n) => n.startsWith(`${stem}.`))) return stem;
  }
}

async function streamToFile(path: string, fill: (write: (chunk: Buffer) => Promise<void>) => Promise<void>): Promise<{ size: number; sha256: string }> {
  const fh = await open(path, 'wx', 0o600);
  const hash = createHash('sha256');
  let size = 0;
  try {
    await fill(async (chunk) => {
      hash.update(chunk);
      size += chunk.length;
      await fh.write(chunk);
    });
    await fh.sync();
  } finally {
    await fh.close();
  }
  return { size, sha256: hash.digest('hex') };
}

function infoField(info: string, name: string): string | undefined {
  return new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

export interface RedisSnapshot {
  size: number;
  sha256: string;
  /** False when the ACL refused BGSAVE and the last automatic snapshot was copied instead. */
  fresh: boolean;
  snapshotAt: string | null;
}

/**
 * A Redis RDB snapshot: BGSAVE, wait until rdb_last_save_time moves (INFO persistence),
 * then copy the file out with GET /archive. BGSAVE is tried as REDIS_BACKUP_USER (an ACL
 * user allowed +bgsave) and as the default user; when the ACL refuses both, the newest
 * automatic snapshot is copied and its age reported.
 */
async function redisSnapshot(ctx: Context, tmpPath: string, onStep: (s: string) => void): Promise<RedisSnapshot> {
  const docker = await ctx.docker();
  const cache = await runningContainer(ctx, SERVICES.cache);
  const password = await containerSetting(docker, cache, 'REDIS_PASSWORD');
  const backupUser = await containerSetting(docker, cache, 'REDIS_BACKUP_USER');
  // REDISCLI_AUTH keeps the password out of the process list (as the healthcheck does).
  const env = password ? [`REDISCLI_AUTH=${password}`] : [];
  const cli = (user: string | undefined, ...args: string[]) => ['redis-cli', '--no-auth-warning', ...(user ? ['--user', user] : []), ...args];
  const call = async (user: string | undefined, ...args: string[]) => (await execChecked(docker, cache.Id, cli(user, ...args), `redis-cli ${args[0]}`, { env, signal: ctx.signal })).stdout.trim();
  const persistence = () => call(undefined, 'INFO', 'persistence');
  const before = await persistence();
  const t0 = Number(infoField(before, 'rdb_last_save_time') ?? 0);
  let fresh = false;
  const refusals: string[] = [];
  for (const user of [...(backupUser ? [backupUser] : []), undefined]) {
    onStep(`redis: BGSAVE${user ? ` as ${user}` : ''}`);
    const reply = await call(user, 'BGSAVE');
    if (/Background saving (started|scheduled)|already in progress/i.test(reply)) {
      fresh = true;
      break;
    }
    refusals.push(`${user ?? 'default'}: ${reply.split('\n')[0]}`);
  }
  let info = before;
  if (fresh) {
    const deadline = Date.now() + 300_000;
    for (;;) {
      info = await persistence();
      if (infoField(info, 'rdb_bgsave_in_progress') === '0' && Number(infoField(info, 'rdb_last_save_time') ?? 0) > t0) break;
      if (Date.now() > deadline) throw new ShopctlError('redis BGSAVE did not finish within 5 min');
      await sleep(200);
    }
    if (infoField(info, 'rdb_last_bgsave_status') !== 'ok') throw new ShopctlError('redis reports that its BGSAVE failed', { detail: info });
  } else {
    const age = t0 ? formatDuration(Date.now() - t0 * 1000) : 'never';
    ctx.output.warn(
      `the Redis ACL refuses BGSAVE (${refusals.join('; ')}): copying the last automatic snapshot, taken ${age} ago. ` +
        'For a fresh one, give an ACL user +bgsave and set REDIS_BACKUP_USER on the cache service.',
    );
  }
  // CONFIG is usually denied by the ACL: the image's defaults (and config/redis.conf) are /data/dump.rdb.
  const path = '/data/dump.rdb';
  onStep(`redis: copying ${path}`);
  const copied = await streamToFile(tmpPath, async (write) => {
    try {
      await copyFileOut(docker, cache.Id, path, write);
    } catch (error) {
      if (!fresh && /404|Could not find/.test(messageOf(error))) {
        throw new ShopctlError(`Redis has no snapshot yet (${path}) and its ACL refuses BGSAVE: nothing to copy`, {
          hint: 'Give an ACL user +bgsave and set REDIS_BACKUP_USER on the cache service, or back up without --with-redis.',
        });
      }
      throw error;
    }
  });
  const savedAt = Number(infoField(info, 'rdb_last_save_time') ?? 0);
  return { ...copied, fresh, snapshotAt: savedAt ? new Date(savedAt * 1000).toISOString() : null };
}

/** Takes one verified backup set; every file appears under its final name only once all of them are complete. */
export async function takeBackup(ctx: Context, opts: BackupOptions = {}): Promise<BackupResult> {
  const started = Date.now();
  const step = opts.onStep ?? (() => {});
  const docker = await ctx.docker();
  const target = await postgresTarget(ctx);
  const lock = await acquireLock(ctx.statePath('backup.lock'), {
    command: 'backup',
    label: 'backup',
    message: opts.reason,
    waitMs: opts.lockWaitMs ?? 0,
    signal: ctx.signal,
    onWait: (holder) => step(`waiting for the backup lock held by ${holder}`),
  });
  const temps: string[] = [];
  try {
    await mkdir(ctx.backupDir, { recursive: true, mode: 0o700 });
    const time = new Date();
    const stem = await freeStem(ctx.backupDir, target.database, time);
    const dumpName = `${stem}.dump`;
    const tmp = (name: string) => {
      const p = join(ctx.backupDir, `.${name}.partial`);
      temps.push(p);
      return p;
    };
    const dumpTmp = tmp(dumpName);

    step('reading versions and row counts');
    const serverVersion = (await execChecked(docker, target.container.Id, psqlArgs(target, 'SHOW server_version'), 'psql', { user: PG_EXEC_USER })).stdout.trim();
    const pgDumpVersion = (await execChecked(docker, target.container.Id, ['pg_dump', '--version'], 'pg_dump --version', { user: PG_EXEC_USER })).stdout.trim();
    const counts = await rowCounts(ctx, target);

    step(`pg_dump -Fc ${target.database}`);
    let stderr = '';
    let exitCode = 0;
    const dumped = await streamToFile(dumpTmp, async (write) => {
      const r = await execIn(docker, target.container.Id, ['pg_dump', '--format=custom', '--no-password', '-U', target.user, '-d', target.database], {
        user: PG_EXEC_USER,
        onStdout: write,
        signal: ctx.signal,
        timeoutMs: opts.timeoutMs,
      });
      stderr = r.stderr;
      exitCode = r.exitCode;
    });
    if (exitCode !== 0) throw new ShopctlError(`pg_dump failed (exit code ${exitCode})`, { detail: stderr.trim() || undefined });
    if (dumped.size === 0) throw new ShopctlError('pg_dump produced an empty file');

    step(`checking the dump with pg_restore (${formatBytes(dumped.size)})`);
    const check = await checkDump(ctx, target, dumpTmp);

    let redis: BackupMeta['redis'] = null;
    const finals: Array<[string, string]> = [];
    if (opts.withRedis) {
      const rdbName = `${stem}.redis.rdb`;
      const rdbTmp = tmp(rdbName);
      const r = await redisSnapshot(ctx, rdbTmp, step);
      redis = { file: rdbName, sizeBytes: r.size, sha256: r.sha256, fresh: r.fresh, snapshotAt: r.snapshotAt };
      const rdbSumTmp = tmp(`${rdbName}.sha256`);
      await writeFileAtomic(rdbSumTmp, formatChecksumLine(r.sha256, rdbName), 0o600);
      finals.push([rdbTmp, rdbName], [rdbSumTmp, `${rdbName}.sha256`]);
    }

    const history = await loadHistory(ctx.statePath('releases.json')).catch(() => undefined);
    const meta: BackupMeta = {
      schema: 1,
      file: dumpName,
      database: target.database,
      createdAt: time.toISOString(),
      reason: opts.reason ?? 'manual',
      sizeBytes: dumped.size,
      sha256: dumped.sha256,
      durationMs: Date.now() - started,
      serverVersion,
      pgDumpVersion,
      tocEntries: check.tocEntries,
      rowCounts: counts,
      appVersion: (history && currentRelease(history, ctx.environment)?.version) ?? null,
      redis,
      host: hostname(),
      who: currentUser(),
    };
    const sumTmp = tmp(`${dumpName}.sha256`);
    const metaTmp = tmp(`${stem}.json`);
    await writeFileAtomic(sumTmp, formatChecksumLine(dumped.sha256, dumpName), 0o600);
    await writeFileAtomic(metaTmp, `${JSON.stringify(meta, null, 2)}\n`, 0o600);
    // Sidecars first, the dump last: a set is listed (and restorable) only once its dump has its final name.
    finals.push([sumTmp, `${dumpName}.sha256`], [metaTmp, `${stem}.json`], [dumpTmp, dumpName]);
    for (const [from, to] of finals) await rename(from, join(ctx.backupDir, to));
    temps.length = 0;
    await fsyncDir(ctx.backupDir);

    const finishedAt = new Date();
    const durationMs = meta.durationMs;
    await mkdir(join(ctx.backupDir, 'metrics'), { recursive: true, mode: 0o755 });
    // Read by the proxy's nginx user through a read-only mount: world-readable, holds no secret.
    await writeFileAtomic(join(ctx.backupDir, 'metrics', 'backup.prom'), backupMetrics({ finishedAt, sizeBytes: dumped.size, durationMs }), 0o644);
    return { file: dumpName, path: join(ctx.backupDir, dumpName), sizeBytes: dumped.size, sha256: dumped.sha256, durationMs, meta };
  } finally {
    for (const t of temps) await rm(t, { force: true });
    await lock.release();
  }
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

interface BackupCliOptions {
  withRedis?: boolean;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  timeout?: number;
}

export async function backupCommand(ctx: Context, opts: BackupCliOptions): Promise<CommandOutcome> {
  const retention = opts.keepDaily !== undefined || opts.keepWeekly !== undefined || opts.keepMonthly !== undefined;
  const policy: RetentionPolicy = { daily: opts.keepDaily ?? 0, weekly: opts.keepWeekly ?? 0, monthly: opts.keepMonthly ?? 0 };
  if (retention && policy.daily + policy.weekly + policy.monthly === 0) {
    throw new ShopctlError('--keep-daily 0 --keep-weekly 0 --keep-monthly 0 would delete every backup, the new one too', { exitCode: ExitCode.USAGE, hint: 'Keep at least one (e.g. --keep-daily 7).' });
  }
  const state: { result?: BackupResult; retention?: RetentionOutcome } = {};
  await ctx.output.tasks(
    [
      {
        title: 'Back up PostgreSQL' + (opts.withRedis ? ' and Redis' : ''),
        task: async (_c, task) => {
          state.result = await takeBackup(ctx, {
            withRedis: opts.withRedis,
            reason: 'manual',
            timeoutMs: opts.timeout ? opts.timeout * 1000 : undefined,
            onStep: (s) => {
              task.output = s;
            },
          });
          task.title = `Backed up ${state.result.meta.database}: ${state.result.file} (${formatBytes(state.result.sizeBytes)}, ${formatDuration(state.result.durationMs)})`;
        },
      },
      {
        title: 'Apply retention',
        enabled: () => retention,
        task: async (_c, task) => {
          state.retention = await applyRetention(ctx.backupDir, state.result?.meta.database ?? '', policy);
          task.title = `Retention: kept ${state.retention.kept.length}, removed ${state.retention.removed.length}`;
        },
      },
    ],
    {},
  );
  const r = state.result;
  if (!r) throw new ShopctlError('backup did not complete');
  const lines = [
    `${r.path}`,
    `  size ${formatBytes(r.sizeBytes)}, sha256 ${r.sha256.slice(0, 16)}..., ${r.meta.tocEntries} TOC entries, ${formatDuration(r.durationMs)}`,
    `  rows: ${Object.entries(r.meta.rowCounts).map(([t, n]) => `${t} ${n}`).join(', ') || '(no tables)'}`,
  ];
  if (r.meta.redis) lines.push(`  redis: ${r.meta.redis.file} (${formatBytes(r.meta.redis.sizeBytes)}, ${r.meta.redis.fresh ? 'fresh BGSAVE' : `the last automatic snapshot, of ${r.meta.redis.snapshotAt ?? 'unknown time'}`})`);
  if (state.retention) {
    lines.push(`  retention: kept ${state.retention.kept.length}, removed ${state.retention.removed.length}${state.retention.removed.length ? `: ${state.retention.removed.join(', ')}` : ''}`);
  }
  return {
    data: { backup: { ...r.meta, path: r.path }, retention: state.retention ?? null },
    human: lines.join('\n'),
  };
}

export const backupModule: CommandModule = {
  register(program: Command, run, { example }) {
    program
      .command('backup')
      .description('pg_dump -Fc inside the db container, streamed out, fsynced, checked with pg_restore, then renamed into backups/ with .sha256 and .json. Safe in cron.')
      .option('--with-redis', 'also copy a fresh Redis RDB snapshot (BGSAVE)')
      .option('--keep-daily <n>', 'after the backup, keep the newest backup of each of the last n days', positiveInt('--keep-daily'))
      .option('--keep-weekly <n>', 'keep the newest backup of each of the last n ISO weeks', positiveInt('--keep-weekly'))
      .option('--keep-monthly <n>', 'keep the newest backup of each of the last n months', positiveInt('--keep-monthly'))
      .option('--timeout <seconds>', 'give up on pg_dump after this long', seconds('--timeout'))
      .addHelpText(
        'after',
        example(`
          shopctl backup
          shopctl backup --with-redis --keep-daily 7 --keep-weekly 4 --keep-monthly 6
          # crontab: every night at 03:17, mail only on failure
          17 3 * * * cd /srv/shop && shopctl backup --keep-daily 7 --keep-weekly 4 --keep-monthly 6 >/dev/null`),
      )
      .action(async (opts: BackupCliOptions, cmd: Command) => run('backup', cmd, (ctx) => backupCommand(ctx, opts)));
  },
};
