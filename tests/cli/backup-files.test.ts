import test from 'ava';
import { backupMetrics, backupStem, formatChecksumLine, groupBackups, mergeMetrics, parseChecksumFile, parseStem } from '../../cli/src/state/backup-files.js';
import { failureMetric } from '../../cli/src/backup/take.js';
import { compactUtc, formatBytes, formatDuration, parseCompactUtc } from '../../cli/src/time.js';

test('backup names: database, UTC second, optional sequence; parsed back exactly', (t) => {
  const time = new Date('2026-11-27T03:17:05.123Z');
  t.is(backupStem('shop', time), 'shop-20261127T031705Z');
  t.is(backupStem('shop', time, 2), 'shop-20261127T031705Z-2');
  t.deepEqual(parseStem('shop-20261127T031705Z-2'), { database: 'shop', time: new Date('2026-11-27T03:17:05Z'), seq: 2 });
  t.deepEqual(parseStem('my-shop_db-20261127T031705Z')?.database, 'my-shop_db');
  t.is(parseStem('shop-20261131T031705Z'), undefined);
  t.is(parseStem('shop-latest'), undefined);
});

test('sets group the dump with its sidecars; temp files, orphans and other databases are ignored', (t) => {
  const sets = groupBackups(
    [
      'shop-20261127T031705Z.dump',
      'shop-20261127T031705Z.dump.sha256',
      'shop-20261127T031705Z.json',
      'shop-20261127T031705Z.redis.rdb',
      'shop-20261127T031705Z.redis.rdb.sha256',
      'shop-20261126T031700Z.dump',
      '.shop-20261128T031700Z.dump.partial',
      'shop-20261125T031700Z.json',
      'other-20261127T031705Z.dump',
      'metrics',
      'notes.txt',
    ],
    'shop',
  );
  t.deepEqual(
    sets.map((s) => s.stem),
    ['shop-20261126T031700Z', 'shop-20261127T031705Z'],
  );
  t.deepEqual(sets[1]?.files, [
    'shop-20261127T031705Z.dump',
    'shop-20261127T031705Z.dump.sha256',
    'shop-20261127T031705Z.json',
    'shop-20261127T031705Z.redis.rdb',
    'shop-20261127T031705Z.redis.rdb.sha256',
  ]);
  t.is(groupBackups(['other-20261127T031705Z.dump']).length, 1);
});

test('checksum files are what sha256sum writes and reads', (t) => {
  const hex = 'a'.repeat(64);
  t.is(formatChecksumLine(hex, 'shop-20261127T031705Z.dump'), `${hex}  shop-20261127T031705Z.dump\n`);
  t.deepEqual(parseChecksumFile(`${hex}  shop.dump\n`), { hex, fileName: 'shop.dump' });
  t.deepEqual(parseChecksumFile(`${hex} *shop.dump`), { hex, fileName: 'shop.dump' });
  t.is(parseChecksumFile('not a checksum'), undefined);
});

test('backup metrics in the Prometheus text format, names as in docs/architecture.md', (t) => {
  const text = backupMetrics({ finishedAt: new Date('2026-11-27T03:17:05.900Z'), sizeBytes: 123456, durationMs: 4321 });
  t.regex(text, /^# HELP shopctl_backup_last_success_timestamp_seconds .+\n# TYPE shopctl_backup_last_success_timestamp_seconds gauge\nshopctl_backup_last_success_timestamp_seconds 1795749425\n/m);
  t.regex(text, /\nshopctl_backup_last_size_bytes 123456\n/);
  t.regex(text, /\nshopctl_backup_last_duration_seconds 4\.321\n$/);
});

test('a failed backup is recorded beside the last success, which it keeps', (t) => {
  const success = backupMetrics({ finishedAt: new Date('2026-11-27T03:17:05Z'), sizeBytes: 123456, durationMs: 4321 });
  const text = mergeMetrics(success, failureMetric(new Date('2026-11-28T03:17:09Z')));
  t.regex(text, /\nshopctl_backup_last_success_timestamp_seconds 1795749425\n/);
  t.regex(text, /# TYPE shopctl_backup_last_failure_timestamp_seconds gauge\nshopctl_backup_last_failure_timestamp_seconds 1795835829\n/);
  // A first backup that fails: only the failure.
  t.is(mergeMetrics('', failureMetric(new Date('2026-11-28T03:17:09Z'))).split('\n').filter((l) => l.startsWith('shopctl_')).length, 1);
});

test('time helpers', (t) => {
  t.is(compactUtc(new Date('2027-01-02T03:04:05.678Z')), '20270102T030405Z');
  t.deepEqual(parseCompactUtc('20270102T030405Z'), new Date('2027-01-02T03:04:05Z'));
  t.is(parseCompactUtc('20270230T000000Z'), undefined);
  t.is(formatDuration(250), '250 ms');
  t.is(formatDuration(12_345), '12.3 s');
  t.is(formatDuration(125_000), '2 min 5 s');
  t.is(formatDuration(3_725_000), '1 h 2 min');
  t.is(formatBytes(512), '512 B');
  t.is(formatBytes(10_592), '10.3 KiB');
});
