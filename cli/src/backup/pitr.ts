import { createReadStream } from 'node:fs';
import type { Context } from '../context.js';
import { ShopctlError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { compactUtc } from '../time.js';
import { SANDBOX_ARCHIVE, SANDBOX_PGDATA, readArchive, type Sandbox } from './sandbox.js';
import { checkBaseChecksum, listBaseBackups, findBaseBackup, type BaseBackup } from './base.js';
import { lastCommitTime, parseSegmentName, segmentName, walkArchive, type WalWalk } from './wal.js';

/** What a point-in-time restore will do, worked out before anything is touched (--dry-run prints it). */
export interface RestorePlan {
  base: BaseBackup;
  walk: WalWalk;
  /** The reachable window: from the end of the base backup to the last commit before the end of the archive (or the gap). */
  from: Date;
  to: Date | undefined;
  /** undefined: as far as the archive goes (--latest), or only to the base backup's end (`immediate`). */
  targetTime: Date | undefined;
  immediate: boolean;
}

export interface TargetChoice {
  toTime?: Date | undefined;
  base?: string | undefined;
  /** With a named base backup: replay the archive to its end (else stop where the base backup ends). */
  latest?: boolean | undefined;
}

/** ISO 8601 with a zone, as the operator typed it; refused when ambiguous (no zone) or invalid. */
export function parseTargetTime(text: string): Date {
  if (!/(Z|[+-]\d\d:?\d\d)$/.test(text.trim())) {
    throw new ShopctlError(`--to-time ${text} has no time zone`, { exitCode: ExitCode.USAGE, hint: 'Write it in ISO 8601 with Z or an offset, e.g. 2026-11-27T17:00:00Z.' });
  }
  const d = new Date(text.trim());
  if (Number.isNaN(d.getTime())) throw new ShopctlError(`--to-time ${text} is not an ISO 8601 time`, { exitCode: ExitCode.USAGE });
  return d;
}

/** The last commit time in the newest segments up to `last`, read with pg_waldump in the sandbox. */
async function lastCommitBefore(sandbox: Sandbox, walk: WalWalk): Promise<Date | undefined> {
  if (!walk.last) return undefined;
  const last = parseSegmentName(walk.last);
  const first = parseSegmentName(walk.first);
  if (!last || !first) return undefined;
  // A segment switched by archive_timeout may hold no commit: look back a few segments.
  for (let seg = last.segNo; seg >= Math.max(first.segNo, last.segNo - 8); seg -= 1) {
    const name = segmentName(last.timeline, seg);
    const r = await sandbox.exec(['pg_waldump', '--rmgr=Transaction', '--path', SANDBOX_ARCHIVE, name, name], { maxBuffer: 16 * 1024 * 1024 });
    // pg_waldump exits 1 at the end of valid WAL in a segment; the records it printed count.
    const t = lastCommitTime(r.stdout);
    if (t) return t;
  }
  return undefined;
}

/** Which base backup and WAL a restore needs, and whether the archive can take it there. Refuses with the gap named. */
export async function planRestore(ctx: Context, sandbox: Sandbox, choice: TargetChoice): Promise<RestorePlan> {
  const bases = await listBaseBackups(ctx);
  if (bases.length === 0) throw new ShopctlError(`No base backup in ${ctx.backupDir}/base`, { exitCode: ExitCode.NOT_FOUND, hint: 'Take one: shopctl backup --physical (and schedule it; WAL archiving does the rest).' });
  let base: BaseBackup;
  if (choice.base) base = await findBaseBackup(ctx, choice.base);
  else if (choice.toTime) {
    const fitting = bases.filter((b) => b.time.getTime() <= (choice.toTime?.getTime() ?? 0));
    const chosen = fitting.at(-1);
    if (!chosen) {
      throw new ShopctlError(`No base backup ends before ${choice.toTime.toISOString()}: the earliest reachable time is ${bases[0]?.time.toISOString()}`, { exitCode: ExitCode.NOT_FOUND });
    }
    base = chosen;
  } else base = bases.at(-1) as BaseBackup;

  const { names, histories } = await readArchive(sandbox);
  const walk = walkArchive(names, histories, { timeline: base.meta.timeline, startLsn: base.meta.startLsn, stopLsn: base.meta.stopLsn });
  const to = await lastCommitBefore(sandbox, walk);
  const immediate = Boolean(choice.base && !choice.toTime && !choice.latest);
  const plan: RestorePlan = { base, walk, from: base.time, to, targetTime: choice.toTime, immediate };
  if (!walk.consistent) {
    throw new ShopctlError(`The WAL archive lacks what base backup ${base.stem} needs to be consistent: ${walk.gap?.missing ?? walk.consistentAt} is missing`, {
      exitCode: ExitCode.INTEGRITY,
      detail: describePlan(plan),
      hint: 'Nothing was changed. Choose an older base backup (--base) or take a new one (shopctl backup --physical).',
    });
  }
  if (walk.gap && !immediate && (!choice.toTime || !to || choice.toTime > to)) {
    throw new ShopctlError(`WAL gap: segment ${walk.gap.missing} is missing from the archive (the next one there is ${walk.gap.nextPresent}); the latest reachable time is ${to?.toISOString() ?? 'unknown'} (end of ${walk.last})`, {
      exitCode: ExitCode.INTEGRITY,
      detail: describePlan(plan),
      hint: `Nothing was changed. Restore to a time before the gap (--to-time ${to?.toISOString() ?? '<time>'}), or bring ${walk.gap.missing} back into the archive (from the off-host copy).`,
    });
  }
  if (choice.toTime && to && choice.toTime > to) {
    throw new ShopctlError(`--to-time ${choice.toTime.toISOString()} is after the last archived commit (${to.toISOString()})`, {
      exitCode: ExitCode.USAGE,
      detail: describePlan(plan),
      hint: 'Restore with --latest, or wait for the next archived segment (at most archive_timeout, 60 s by default).',
    });
  }
  return plan;
}

/** recovery_target_time refuses zone abbreviations ("Z"): a numeric offset it takes. */
export function pgTimestamp(d: Date): string {
  return d.toISOString().replace('T', ' ').replace('Z', '+00');
}

export function describePlan(p: RestorePlan): string {
  return [
    `base backup  ${p.base.stem} (${p.base.meta.file}, finished ${p.base.meta.finishedAt}, timeline ${p.base.meta.timeline})`,
    `WAL          ${p.walk.first} .. ${p.walk.last ?? '(none)'} (${p.walk.count} segment(s), ending on timeline ${p.walk.timeline})${p.walk.gap ? `; GAP: ${p.walk.gap.missing} missing before ${p.walk.gap.nextPresent}` : ''}`,
    `reachable    ${p.from.toISOString()} .. ${p.to?.toISOString() ?? '(no commit archived after the base backup yet)'}`,
    `target       ${p.targetTime ? p.targetTime.toISOString() : p.immediate ? `the end of the base backup (${p.base.meta.finishedAt})` : 'the end of the archive (latest)'}`,
  ].join('\n');
}

export interface Replayed {
  /** pg_is_in_recovery() false: the restored cluster was promoted. */
  promoted: boolean;
  timeline: number;
  rowCounts: Record<string, number>;
  /** One order with its lines, as the API would read it. */
  sampleOrder: { id: number; lines: number } | null;
  newestOrderAt: string | null;
  log: string;
}

const COUNTS_SQL = `SELECT table_name, (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', table_schema, table_name), false, true, '')))[1]::text
FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`;

function psql(database: string, user: string, sql: string): string[] {
  return ['psql', '-X', '-h', '/tmp', '-v', 'ON_ERROR_STOP=1', '-At', '-F', '\t', '-U', user, '-d', database, '-c', sql];
}

/**
 * Unpacks the base backup into the sandbox's data volume, replays archived WAL to the target
 * (or to the end), lets PostgreSQL promote, and reads what a restore must prove: promoted, row
 * counts, one order with its lines. The server is stopped cleanly before returning.
 */
export async function replay(sandbox: Sandbox, plan: RestorePlan, opts: { user: string; database: string; timeoutMs: number; onStep: (s: string) => void; keepRunning?: boolean; beforeStart?: () => Promise<void> }): Promise<Replayed> {
  opts.onStep(`checking ${plan.base.meta.file} against its sha256`);
  await checkBaseChecksum(plan.base);
  opts.onStep(`unpacking ${plan.base.meta.file}`);
  await sandbox.run(['tar', '-xf', '-', '-C', SANDBOX_PGDATA], 'unpacking the base backup', { stdin: createReadStream(plan.base.path) });
  await opts.beforeStart?.();
  await sandbox.run(['sh', '-c', `chmod 0700 ${SANDBOX_PGDATA} && touch ${SANDBOX_PGDATA}/recovery.signal`], 'preparing recovery');
  const settings = [
    'archive_mode=off',
    "listen_addresses=''",
    'unix_socket_directories=/tmp',
    `restore_command='cp ${SANDBOX_ARCHIVE}/%f %p'`,
    'recovery_target_timeline=latest',
    // The stack's own config file is not here: nothing else (shared_preload_libraries) is needed to replay.
    ...(plan.targetTime ? [`recovery_target_time='${pgTimestamp(plan.targetTime)}'`, 'recovery_target_action=promote'] : []),
    ...(plan.immediate ? ["recovery_target='immediate'", 'recovery_target_action=promote'] : []),
  ];
  opts.onStep(`replaying WAL ${plan.walk.first} .. ${plan.walk.last ?? ''}${plan.targetTime ? ` up to ${plan.targetTime.toISOString()}` : ''}`);
  const start = await sandbox.exec(['pg_ctl', '-D', SANDBOX_PGDATA, '-w', '-t', String(Math.ceil(opts.timeoutMs / 1000)), '-l', '/tmp/postgres.log', 'start', '-o', settings.map((s) => `-c ${s}`).join(' ')]);
  const log = async () => (await sandbox.exec(['tail', '-n', '25', '/tmp/postgres.log'])).stdout;
  if (start.exitCode !== 0) throw new ShopctlError('The restored PostgreSQL did not start', { detail: `${start.stderr}\n${await log()}`.trim() });
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const r = await sandbox.exec(psql(opts.database, opts.user, 'SELECT pg_is_in_recovery()'));
    if (r.exitCode === 0 && r.stdout.trim() === 'f') break;
    const running = await sandbox.exec(['pg_ctl', '-D', SANDBOX_PGDATA, 'status']);
    if (running.exitCode !== 0) throw new ShopctlError('Recovery stopped before the restored database was promoted', { exitCode: ExitCode.INTEGRITY, detail: await log() });
    if (Date.now() > deadline) throw new ShopctlError(`Recovery did not finish within ${Math.round(opts.timeoutMs / 1000)} s`, { detail: await log() });
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  opts.onStep('checking the restored database');
  const q = async (sql: string) => sandbox.run(psql(opts.database, opts.user, sql), 'a check on the restored database');
  const counts: Record<string, number> = {};
  for (const line of (await q(COUNTS_SQL)).split('\n')) {
    const [table, n] = line.split('\t');
    if (table && n !== undefined) counts[table] = Number(n);
  }
  const timeline = Number((await q('SELECT timeline_id FROM pg_control_checkpoint()')).trim());
  let sampleOrder: Replayed['sampleOrder'] = null;
  let newestOrderAt: string | null = null;
  if ('orders' in counts && 'order_items' in counts) {
    const row = (await q('SELECT o.id, count(i.id) FROM orders o JOIN order_items i ON i.order_id = o.id GROUP BY o.id ORDER BY o.id DESC LIMIT 1')).trim();
    if (row) {
      const [id, lines] = row.split('\t');
      sampleOrder = { id: Number(id), lines: Number(lines) };
    }
    newestOrderAt = (await q(`SELECT coalesce(to_char(max(created_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), '') FROM orders`)).trim() || null;
    const orphans = Number((await q('SELECT count(*) FROM order_items i LEFT JOIN orders o ON o.id = i.order_id WHERE o.id IS NULL')).trim());
    if (orphans > 0) throw new ShopctlError(`The restored database has ${orphans} order line(s) without their order`, { exitCode: ExitCode.INTEGRITY });
  }
  const text = await log();
  if (!opts.keepRunning) await stopSandboxPostgres(sandbox);
  return { promoted: true, timeline, rowCounts: counts, sampleOrder, newestOrderAt, log: text };
}

export async function stopSandboxPostgres(sandbox: Sandbox): Promise<void> {
  const r = await sandbox.exec(['pg_ctl', '-D', SANDBOX_PGDATA, '-w', '-t', '120', '-m', 'fast', 'stop']);
  if (r.exitCode !== 0) throw new ShopctlError('The restored PostgreSQL did not stop cleanly', { detail: r.stderr.trim() });
}

/** A name for a new volume: `<project>_db-restore-20261127t170000z` (volume names are case-sensitive; lower case reads better). */
export function restoreVolumeName(volumeOf: (v: string) => string, kind: 'db-restore' | 'db-data-before-restore', at: Date): string {
  return volumeOf(`${kind}-${compactUtc(at).toLowerCase()}`);
}
