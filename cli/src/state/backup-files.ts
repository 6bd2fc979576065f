import { compactUtc, parseCompactUtc } from '../time.js';

/** One backup set: `<db>-<UTC>.dump` plus sidecars sharing its stem. */
export interface BackupSet {
  stem: string;
  database: string;
  time: Date;
  dump: string;
  /** Every file of the set present in the directory (dump, .sha256, .json, .redis.rdb...). */
  files: string[];
}

const STEM = /^(?<db>[A-Za-z0-9_][A-Za-z0-9_.-]*?)-(?<ts>\d{8}T\d{6}Z)(?:-(?<seq>\d+))?$/;

/** `shop-20261127T230102Z` (with `-2` appended when that second is already taken). */
export function backupStem(database: string, time: Date, seq = 1): string {
  return `${database}-${compactUtc(time)}${seq > 1 ? `-${seq}` : ''}`;
}

export function parseStem(stem: string): { database: string; time: Date; seq: number } | undefined {
  const m = STEM.exec(stem);
  if (!m?.groups) return undefined;
  const time = parseCompactUtc(m.groups.ts ?? '');
  if (!time) return undefined;
  return { database: m.groups.db ?? '', time, seq: Number(m.groups.seq ?? 1) };
}

/**
 * Groups directory entries into backup sets. Only complete names count: temp files
 * (dot-prefixed), sidecars without their dump, and foreign files are never touched.
 */
export function groupBackups(names: readonly string[], database?: string): BackupSet[] {
  const byStem = new Map<string, string[]>();
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const dot = name.indexOf('.', name.search(/\d{8}T\d{6}Z/));
    if (dot < 0) continue;
    const stem = name.slice(0, dot);
    byStem.set(stem, [...(byStem.get(stem) ?? []), name]);
  }
  const sets: BackupSet[] = [];
  for (const [stem, files] of byStem) {
    const parsed = parseStem(stem);
    if (!parsed || (database !== undefined && parsed.database !== database)) continue;
    const dump = `${stem}.dump`;
    if (!files.includes(dump)) continue;
    sets.push({ stem, database: parsed.database, time: parsed.time, dump, files: files.sort() });
  }
  return sets.sort((a, b) => a.time.getTime() - b.time.getTime() || a.stem.localeCompare(b.stem));
}

/** `sha256sum` format, so `sha256sum -c shop-...dump.sha256` works in the backups directory. */
export function formatChecksumLine(hex: string, fileName: string): string {
  return `${hex}  ${fileName}\n`;
}

export function parseChecksumFile(text: string): { hex: string; fileName: string } | undefined {
  const m = /^([0-9a-f]{64}) [ *](.+?)\s*$/m.exec(text.trim());
  if (!m) return undefined;
  return { hex: m[1] ?? '', fileName: m[2] ?? '' };
}

/** The `.json` beside each dump. */
export interface BackupMeta {
  schema: 1;
  file: string;
  database: string;
  createdAt: string;
  reason: string;
  sizeBytes: number;
  sha256: string;
  durationMs: number;
  serverVersion: string;
  pgDumpVersion: string;
  tocEntries: number;
  /** Exact row counts of every table in the public schema, taken just before the dump. */
  rowCounts: Record<string, number>;
  appVersion: string | null;
  redis: { file: string; sizeBytes: number; sha256: string; fresh: boolean; snapshotAt: string | null } | null;
  host: string;
  who: string;
}

/** The Prometheus text the proxy serves at :8081/backup-metrics (names fixed in docs/architecture.md). */
export function backupMetrics(m: { finishedAt: Date; sizeBytes: number; durationMs: number }): string {
  return [
    '# HELP shopctl_backup_last_success_timestamp_seconds Unix time of the last successful, verified backup.',
    '# TYPE shopctl_backup_last_success_timestamp_seconds gauge',
    `shopctl_backup_last_success_timestamp_seconds ${Math.floor(m.finishedAt.getTime() / 1000)}`,
    '# HELP shopctl_backup_last_size_bytes Size of the last successful database dump.',
    '# TYPE shopctl_backup_last_size_bytes gauge',
    `shopctl_backup_last_size_bytes ${m.sizeBytes}`,
    '# HELP shopctl_backup_last_duration_seconds Duration of the last successful backup, dump to verified file.',
    '# TYPE shopctl_backup_last_duration_seconds gauge',
    `shopctl_backup_last_duration_seconds ${(m.durationMs / 1000).toFixed(3)}`,
    '',
  ].join('\n');
}

/** A gauge in the exposition format: HELP, TYPE and one sample. */
export function gauge(name: string, help: string, value: number | string): string {
  return [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${value}`, ''].join('\n');
}

/** The metric names an exposition text holds (from its `# TYPE` lines). */
function families(text: string): Set<string> {
  return new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1] ?? ''));
}

/**
 * backup.prom is shared by dumps, base backups and `backup verify`: each rewrites the metric
 * families it owns and keeps the others' lines as they were.
 */
export function mergeMetrics(existing: string, update: string): string {
  const replaced = families(update);
  const kept: string[] = [];
  for (const line of existing.split('\n')) {
    const name = /^(?:# (?:HELP|TYPE) )?([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line)?.[1];
    if (line.trim() === '' || (name && replaced.has(name))) continue;
    kept.push(line);
  }
  return `${kept.length ? `${kept.join('\n')}\n` : ''}${update.endsWith('\n') ? update : `${update}\n`}`;
}
