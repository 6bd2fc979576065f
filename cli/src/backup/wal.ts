/**
 * WAL archive arithmetic, pure: segment names, LSNs, timeline histories, and the walk from a
 * base backup's first segment to the newest one that finds every gap. The default segment size
 * (16 MB) is assumed, as the stack never changes it (initdb --wal-segsize).
 */

export const SEGMENT_BYTES = 16 * 1024 * 1024;
const SEGMENTS_PER_XLOGID = 0x1_0000_0000 / SEGMENT_BYTES;

/** A segment file name: 8 hex digits of timeline, then the segment number as two 8-digit halves. */
const SEGMENT = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/;
const HISTORY = /^([0-9A-F]{8})\.history$/;

export interface SegmentId {
  timeline: number;
  segNo: number;
}

export function parseSegmentName(name: string): SegmentId | undefined {
  const m = SEGMENT.exec(name);
  if (!m) return undefined;
  return { timeline: Number.parseInt(m[1] ?? '', 16), segNo: Number.parseInt(m[2] ?? '', 16) * SEGMENTS_PER_XLOGID + Number.parseInt(m[3] ?? '', 16) };
}

export function segmentName(timeline: number, segNo: number): string {
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');
  return `${hex(timeline)}${hex(Math.floor(segNo / SEGMENTS_PER_XLOGID))}${hex(segNo % SEGMENTS_PER_XLOGID)}`;
}

export function historyTimeline(name: string): number | undefined {
  const m = HISTORY.exec(name);
  return m ? Number.parseInt(m[1] ?? '', 16) : undefined;
}

/** `0/3000028` -> byte position (fits a double far beyond any real cluster). */
export function parseLsn(lsn: string): number {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn.trim());
  if (!m) throw new RangeError(`not an LSN: ${lsn}`);
  return Number.parseInt(m[1] ?? '', 16) * 0x1_0000_0000 + Number.parseInt(m[2] ?? '', 16);
}

export function lsnSegNo(lsn: string): number {
  return Math.floor(parseLsn(lsn) / SEGMENT_BYTES);
}

/** One line of a `0000000N.history` file: timeline `parent` ended at `switchLsn`. */
export interface HistoryEntry {
  parent: number;
  switchLsn: string;
}

export function parseHistory(text: string): HistoryEntry[] {
  const entries: HistoryEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\s+([0-9A-Fa-f]+\/[0-9A-Fa-f]+)/.exec(line);
    if (m) entries.push({ parent: Number(m[1]), switchLsn: m[2] ?? '' });
  }
  return entries;
}

/** One stretch of the path recovery follows: segments `fromSeg`..`toSeg` come from `timeline`. */
export interface TimelineSpan {
  timeline: number;
  fromSeg: number;
  toSeg: number;
}

/**
 * The timeline recovery ends on ("latest", PostgreSQL's default): the highest one whose history
 * descends from the base backup's, and the spans of segments each timeline on the way supplies.
 * The switch segment exists on both sides; the newer timeline's copy is the one replayed.
 */
export function timelinePath(baseTimeline: number, histories: ReadonlyMap<number, string>): { target: number; spans: TimelineSpan[] } {
  let target = baseTimeline;
  let chain: HistoryEntry[] = [];
  for (const [tli, text] of histories) {
    const entries = parseHistory(text);
    if (tli > target && (tli === baseTimeline || entries.some((e) => e.parent === baseTimeline))) {
      target = tli;
      chain = entries;
    }
  }
  const spans: TimelineSpan[] = [];
  let from = 0;
  // Only the part of the chain from the base's timeline on matters.
  const start = chain.findIndex((e) => e.parent === baseTimeline);
  for (const e of start >= 0 ? chain.slice(start) : []) {
    const switchSeg = lsnSegNo(e.switchLsn);
    spans.push({ timeline: e.parent, fromSeg: from, toSeg: switchSeg - 1 });
    from = switchSeg;
  }
  spans.push({ timeline: target, fromSeg: from, toSeg: Number.MAX_SAFE_INTEGER });
  return { target, spans };
}

export interface WalWalk {
  /** The timeline recovery ends on. */
  timeline: number;
  /** First segment the base backup needs. */
  first: string;
  /** Last segment reachable without a hole (undefined: not even the first is there). */
  last: string | undefined;
  /** Segments in first..last. */
  count: number;
  /** The first missing segment with newer ones after it: recovery cannot get past it. */
  gap: { missing: string; nextPresent: string } | undefined;
  /** The segment holding the base backup's end: replay must reach it for a consistent database. */
  consistentAt: string;
  /** Whether `last` reaches the consistency point. */
  consistent: boolean;
}

/** Walks the archive's listing from the base backup's start segment on the timeline path recovery would take. */
export function walkArchive(names: readonly string[], histories: ReadonlyMap<number, string>, base: { timeline: number; startLsn: string; stopLsn: string }): WalWalk {
  const { target, spans } = timelinePath(base.timeline, histories);
  const present = new Set<string>(names.filter((n) => SEGMENT.test(n)));
  const timelineAt = (segNo: number) => spans.find((s) => segNo >= s.fromSeg && segNo <= s.toSeg)?.timeline ?? target;
  const nameAt = (segNo: number) => segmentName(timelineAt(segNo), segNo);
  const startSeg = lsnSegNo(base.startLsn);
  const stopSeg = lsnSegNo(base.stopLsn);
  let newest = -1;
  for (const n of present) {
    const id = parseSegmentName(n);
    if (id && id.segNo >= startSeg && nameAt(id.segNo) === n) newest = Math.max(newest, id.segNo);
  }
  let seg = startSeg;
  while (seg <= newest && present.has(nameAt(seg))) seg += 1;
  const lastSeg = seg - 1;
  let gap: WalWalk['gap'];
  if (seg <= newest) {
    let next = seg + 1;
    while (!present.has(nameAt(next))) next += 1;
    gap = { missing: nameAt(seg), nextPresent: nameAt(next) };
  }
  return {
    timeline: target,
    first: nameAt(startSeg),
    last: lastSeg >= startSeg ? nameAt(lastSeg) : undefined,
    count: Math.max(0, lastSeg - startSeg + 1),
    gap,
    consistentAt: nameAt(stopSeg),
    consistent: lastSeg >= stopSeg,
  };
}

/**
 * Segments (and backup history files) older than `keepFrom`, on any timeline: what WAL retention
 * may delete once no kept base backup needs them. Timeline history files are always kept.
 */
export function prunableWal(names: readonly string[], keepFromSegNo: number): string[] {
  return names.filter((n) => {
    const id = parseSegmentName(n.replace(/\.[0-9A-F]{8}\.backup$/, ''));
    return id !== undefined && id.segNo < keepFromSegNo;
  });
}

/** The last commit time in `pg_waldump --rmgr=Transaction` output (`desc: COMMIT 2026-11-27 17:00:01.123456 UTC`). */
export function lastCommitTime(waldump: string): Date | undefined {
  let last: Date | undefined;
  for (const m of waldump.matchAll(/desc: (?:COMMIT|ABORT) (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) (UTC|[+-]\d\d)/g)) {
    const zone = m[2] === 'UTC' ? 'Z' : `${m[2]}:00`;
    const d = new Date(`${(m[1] ?? '').replace(' ', 'T')}${zone}`);
    if (!Number.isNaN(d.getTime()) && (!last || d > last)) last = d;
  }
  return last;
}
