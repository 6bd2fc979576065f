// The pure parts of point-in-time recovery: WAL segment arithmetic, the walk through the archive
// that finds gaps (across timelines), WAL retention, pg_waldump parsing, metric merging and the
// row-count comparison of backup verify.
import test from 'ava';
import { lastCommitTime, lsnSegNo, parseHistory, parseSegmentName, prunableWal, segmentName, timelinePath, walkArchive } from '../../cli/src/backup/wal.js';
import { manifestStopLsn, parseBackupLabel } from '../../cli/src/backup/base.js';
import { compareCounts } from '../../cli/src/backup/verify.js';
import { parseTargetTime, pgTimestamp } from '../../cli/src/backup/pitr.js';
import { gauge, mergeMetrics } from '../../cli/src/state/backup-files.js';
import { ShopctlError } from '../../cli/src/errors.js';

const seg = (tli: number, n: number) => segmentName(tli, n);
const range = (tli: number, from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => seg(tli, from + i));

test('segment names round-trip, across the 256-segment boundary of a log file', (t) => {
  t.is(segmentName(1, 3), '000000010000000000000003');
  t.is(segmentName(2, 256), '000000020000000100000000');
  t.deepEqual(parseSegmentName('0000000200000001000000FF'), { timeline: 2, segNo: 511 });
  t.is(parseSegmentName('000000010000000000000003.00000028.backup'), undefined);
  t.is(lsnSegNo('0/3000028'), 3);
  t.is(lsnSegNo('1/0'), 256);
});

test('a complete archive: the walk reaches the newest segment, no gap', (t) => {
  const names = [...range(1, 3, 9), '000000010000000000000003.00000028.backup'];
  const w = walkArchive(names, new Map(), { timeline: 1, startLsn: '0/3000028', stopLsn: '0/3000100' });
  t.like(w, { timeline: 1, first: seg(1, 3), last: seg(1, 9), count: 7, gap: undefined, consistent: true });
});

test('a segment missing in the middle is a gap, named with the next one present', (t) => {
  const names = range(1, 3, 9).filter((n) => n !== seg(1, 6));
  const w = walkArchive(names, new Map(), { timeline: 1, startLsn: '0/3000028', stopLsn: '0/3000100' });
  t.like(w, { last: seg(1, 5), gap: { missing: seg(1, 6), nextPresent: seg(1, 7) }, consistent: true });
});

test('the segment the base backup ends in missing: not consistent', (t) => {
  const w = walkArchive([seg(1, 3), seg(1, 5)], new Map(), { timeline: 1, startLsn: '0/3000028', stopLsn: '0/4000100' });
  t.false(w.consistent);
  t.like(w.gap, { missing: seg(1, 4) });
});

test('after a restore the walk follows the newest timeline from its switch point, ignoring the abandoned future', (t) => {
  // Timeline 2 branched off timeline 1 in segment 6; segments 6..9 of timeline 1 are the undone future.
  const histories = new Map([[2, '1\t0/6000A00\tbefore 2026-11-27 17:00:00+00\n']]);
  t.deepEqual(parseHistory(histories.get(2) ?? ''), [{ parent: 1, switchLsn: '0/6000A00' }]);
  t.deepEqual(timelinePath(1, histories).spans, [
    { timeline: 1, fromSeg: 0, toSeg: 5 },
    { timeline: 2, fromSeg: 6, toSeg: Number.MAX_SAFE_INTEGER },
  ]);
  const names = [...range(1, 3, 9), ...range(2, 6, 8), '00000002.history'];
  const w = walkArchive(names, histories, { timeline: 1, startLsn: '0/3000028', stopLsn: '0/3000100' });
  t.like(w, { timeline: 2, last: seg(2, 8), count: 6, gap: undefined });
  // A base backup taken on timeline 2 needs only timeline 2.
  t.like(walkArchive(names, histories, { timeline: 2, startLsn: '0/7000028', stopLsn: '0/7000100' }), { timeline: 2, first: seg(2, 7), last: seg(2, 8) });
});

test('WAL retention prunes what no kept base backup needs, on every timeline, and keeps history files', (t) => {
  const names = [...range(1, 1, 6), '000000010000000000000002.00000028.backup', '00000002.history', seg(2, 5), '.000000010000000000000007.partial'];
  t.deepEqual(prunableWal(names, 5).sort(), [seg(1, 1), seg(1, 2), seg(1, 3), seg(1, 4), '000000010000000000000002.00000028.backup'].sort());
});

test('pg_waldump: the last commit time', (t) => {
  const out = [
    'rmgr: Transaction len (rec/tot):     34/    34, tx:        735, lsn: 0/05000060, prev 0/05000028, desc: COMMIT 2026-11-27 16:59:58.123456 UTC',
    'rmgr: Transaction len (rec/tot):     34/    34, tx:        736, lsn: 0/050000A0, prev 0/05000060, desc: COMMIT 2026-11-27 16:59:59.5 UTC',
    'pg_waldump: error: error in WAL record at 0/50000A0: invalid record length at 0/50000C8: wanted 24, got 0',
  ].join('\n');
  t.is(lastCommitTime(out)?.toISOString(), '2026-11-27T16:59:59.500Z');
  t.is(lastCommitTime('nothing'), undefined);
});

test('backup_label and backup_manifest give the WAL range of a base backup', (t) => {
  t.deepEqual(parseBackupLabel('START WAL LOCATION: 0/3000028 (file 000000010000000000000003)\nSTART TIMELINE: 1\n'), { startLsn: '0/3000028', timeline: 1 });
  t.is(manifestStopLsn('{"WAL-Ranges": [{ "Timeline": 1, "Start-LSN": "0/3000028", "End-LSN": "0/3000100" }]}'), '0/3000100');
  t.throws(() => parseBackupLabel('garbage'), { instanceOf: ShopctlError });
});

test('--to-time needs a zone', (t) => {
  t.is(parseTargetTime('2026-11-27T16:59:59Z').toISOString(), '2026-11-27T16:59:59.000Z');
  t.is(parseTargetTime('2026-11-27T17:59:59+01:00').toISOString(), '2026-11-27T16:59:59.000Z');
  t.throws(() => parseTargetTime('2026-11-27T16:59:59'), { message: /no time zone/ });
});

test('backup.prom: each writer replaces its own metric families and keeps the others', (t) => {
  const dump = gauge('shopctl_backup_last_success_timestamp_seconds', 'dump', 100);
  const verified = gauge('shopctl_backup_last_verified_timestamp_seconds', 'verify', 200);
  const merged = mergeMetrics(mergeMetrics('', dump), verified);
  t.regex(merged, /shopctl_backup_last_success_timestamp_seconds 100/);
  t.regex(merged, /shopctl_backup_last_verified_timestamp_seconds 200/);
  const again = mergeMetrics(merged, gauge('shopctl_backup_last_success_timestamp_seconds', 'dump', 300));
  t.regex(again, /shopctl_backup_last_success_timestamp_seconds 300/);
  t.notRegex(again, /shopctl_backup_last_success_timestamp_seconds 100/);
  t.regex(again, /shopctl_backup_last_verified_timestamp_seconds 200/);
  t.is(again.match(/# TYPE shopctl_backup_last_success_timestamp_seconds/g)?.length, 1);
});

test('verify: restored row counts must lie between the counts before and after the base backup', (t) => {
  const lines = compareCounts({ orders: 12, products: 4 }, { orders: 10, products: 4, users: 2 }, { orders: 14, products: 4, users: 2 });
  t.deepEqual(
    lines.map((l) => [l.name, l.ok]),
    [
      ['rows orders', true],
      ['rows products', true],
      ['rows users', false],
    ],
  );
  t.false(compareCounts({ orders: 9 }, { orders: 10 }, { orders: 14 })[0]?.ok);
});

test('recovery_target_time gets a numeric UTC offset (PostgreSQL refuses the abbreviation Z there)', (t) => {
  t.is(pgTimestamp(new Date('2026-12-02T00:10:37.964Z')), '2026-12-02 00:10:37.964+00');
});
