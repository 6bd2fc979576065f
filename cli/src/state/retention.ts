import { isoWeekKey } from '../time.js';

/** How many of the newest days, ISO weeks and months keep their newest backup. */
export interface RetentionPolicy {
  daily: number;
  weekly: number;
  monthly: number;
}

export interface Dated {
  time: Date;
}

export interface RetentionDecision<T> {
  keep: Array<{ item: T; reasons: string[] }>;
  remove: T[];
}

const tiers = [
  { name: 'daily', key: (d: Date) => d.toISOString().slice(0, 10) },
  { name: 'weekly', key: isoWeekKey },
  { name: 'monthly', key: (d: Date) => d.toISOString().slice(0, 7) },
] as const;

/**
 * Grandfather-father-son by count (as restic's --keep-daily/weekly/monthly): for the newest N
 * days (weeks, months) that have a backup, keep the newest backup of that period. Pure: the
 * caller deletes what `remove` lists. Ties on the same instant keep the first one listed.
 */
export function selectRetention<T extends Dated>(items: readonly T[], policy: RetentionPolicy): RetentionDecision<T> {
  for (const [name, n] of Object.entries(policy)) {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`keep-${name} must be a whole number >= 0, got ${n}`);
  }
  const newestFirst = items
    .map((item, index) => ({ item, index }))
    .sort((a, b) => b.item.time.getTime() - a.item.time.getTime() || a.index - b.index);
  const reasons = new Map<number, string[]>();
  for (const tier of tiers) {
    const limit = policy[tier.name];
    const seen = new Set<string>();
    for (const { item, index } of newestFirst) {
      if (seen.size >= limit) break;
      const key = tier.key(item.time);
      if (seen.has(key)) continue;
      seen.add(key);
      reasons.set(index, [...(reasons.get(index) ?? []), `${tier.name} ${key}`]);
    }
  }
  const keep: RetentionDecision<T>['keep'] = [];
  const remove: T[] = [];
  for (const { item, index } of newestFirst) {
    const why = reasons.get(index);
    if (why) keep.push({ item, reasons: why });
    else remove.push(item);
  }
  return { keep, remove };
}
