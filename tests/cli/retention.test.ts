import test from 'ava';
import { selectRetention } from '../../cli/src/state/retention.js';
import { isoWeekKey } from '../../cli/src/time.js';

const at = (iso: string) => ({ name: iso, time: new Date(iso) });
const names = (xs: Array<{ name: string }>) => xs.map((x) => x.name).sort();

// Two backups a day, every day of December 2026 and January 2027 (noon and 23:00 UTC).
const twoMonths = Array.from({ length: 62 }, (_, i) => {
  const day = new Date(Date.UTC(2026, 11, 1 + i));
  const d = day.toISOString().slice(0, 10);
  return [at(`${d}T12:00:00Z`), at(`${d}T23:00:00Z`)];
}).flat();

test('keep-daily n keeps the newest backup of each of the last n days that have one', (t) => {
  const { keep, remove } = selectRetention(twoMonths, { daily: 3, weekly: 0, monthly: 0 });
  t.deepEqual(names(keep.map((k) => k.item)), ['2027-01-29T23:00:00Z', '2027-01-30T23:00:00Z', '2027-01-31T23:00:00Z']);
  t.is(remove.length, twoMonths.length - 3);
});

test('weekly uses ISO weeks (Monday first); monthly calendar months, in UTC', (t) => {
  const { keep } = selectRetention(twoMonths, { daily: 0, weekly: 2, monthly: 2 });
  // 2027-01-31 is a Sunday: the last day of ISO week 2027-W04; the week before ends on 2027-01-24.
  t.deepEqual(names(keep.map((k) => k.item)), ['2026-12-31T23:00:00Z', '2027-01-24T23:00:00Z', '2027-01-31T23:00:00Z']);
  const newest = keep.find((k) => k.item.name === '2027-01-31T23:00:00Z');
  t.deepEqual(newest?.reasons, ['weekly 2027-W04', 'monthly 2027-01']);
});

test('GFS together: the union of the tiers, never a backup twice', (t) => {
  const { keep, remove } = selectRetention(twoMonths, { daily: 7, weekly: 4, monthly: 3 });
  const kept = names(keep.map((k) => k.item));
  t.is(new Set(kept).size, kept.length);
  // 7 days (Jan 25-31) + weeks W01..W03 ending Jan 17, 10 (W02), 3... + Dec 31 (month)
  t.deepEqual(kept, [
    '2026-12-31T23:00:00Z',
    '2027-01-10T23:00:00Z',
    '2027-01-17T23:00:00Z',
    '2027-01-24T23:00:00Z',
    '2027-01-25T23:00:00Z',
    '2027-01-26T23:00:00Z',
    '2027-01-27T23:00:00Z',
    '2027-01-28T23:00:00Z',
    '2027-01-29T23:00:00Z',
    '2027-01-30T23:00:00Z',
    '2027-01-31T23:00:00Z',
  ]);
  t.is(keep.length + remove.length, twoMonths.length);
});

test('days without a backup do not count: the last n days that HAVE one', (t) => {
  const sparse = [at('2026-11-01T03:00:00Z'), at('2026-11-15T03:00:00Z'), at('2026-11-27T03:00:00Z')];
  t.deepEqual(names(selectRetention(sparse, { daily: 2, weekly: 0, monthly: 0 }).keep.map((k) => k.item)), ['2026-11-15T03:00:00Z', '2026-11-27T03:00:00Z']);
});

test('the newest backup is always kept when any count is > 0; input order does not matter', (t) => {
  const shuffled = [...twoMonths].reverse();
  for (const policy of [{ daily: 1, weekly: 0, monthly: 0 }, { daily: 0, weekly: 1, monthly: 0 }, { daily: 0, weekly: 0, monthly: 1 }]) {
    t.true(selectRetention(shuffled, policy).keep.some((k) => k.item.name === '2027-01-31T23:00:00Z'));
  }
});

test('zero everywhere keeps nothing; fewer backups than the counts keeps them all', (t) => {
  t.is(selectRetention(twoMonths, { daily: 0, weekly: 0, monthly: 0 }).keep.length, 0);
  const three = twoMonths.slice(0, 3);
  t.is(selectRetention(three, { daily: 30, weekly: 0, monthly: 0 }).remove.length, 1);
  t.is(selectRetention([], { daily: 7, weekly: 4, monthly: 12 }).keep.length, 0);
});

test('invalid counts are refused', (t) => {
  t.throws(() => selectRetention(twoMonths, { daily: -1, weekly: 0, monthly: 0 }), { instanceOf: RangeError });
  t.throws(() => selectRetention(twoMonths, { daily: 1.5, weekly: 0, monthly: 0 }), { instanceOf: RangeError });
});

test('ISO week keys at year boundaries', (t) => {
  t.is(isoWeekKey(new Date('2026-12-31T12:00:00Z')), '2026-W53');
  t.is(isoWeekKey(new Date('2027-01-03T12:00:00Z')), '2026-W53');
  t.is(isoWeekKey(new Date('2027-01-04T00:00:00Z')), '2027-W01');
  t.is(isoWeekKey(new Date('2024-12-30T00:00:00Z')), '2025-W01');
});
