import type { Redis } from 'ioredis';

export interface CacheOptions {
  /** Seconds an entry lives at most. */
  ttlSeconds: number;
  /** Seconds a "no such product" entry lives at most. */
  negativeTtlSeconds: number;
  /** Entries kept at most; the least recently used go first. */
  maxEntries: number;
  /** Bytes of entries each replica also keeps in its own memory (0: none). */
  localMaxBytes?: number;
}

export interface CacheLookup {
  /** The write sequence number the lookup saw; pass it back to `set` for a value read after it. */
  seq: number;
  /** Raw bytes: sent to the client as they are, with no decode/encode round trip. Empty: a cached "not found". */
  value: Buffer | null;
}

/**
 * What an entry was built from. Every write names the tags it changed; an entry is served only
 * while none of its tags changed after it was read.
 */
export const productTag = (id: number): string => `p${id}`;
/** Which products a list holds and in what order: product creation, deletion and admin edits. */
export const LIST_TAG = 'list';
/** Whether a product is in stock: lists filtered on `in_stock` (their totals and members). */
export const AVAILABILITY_TAG = 'avail';
/** Everything (a write whose tags are unknown: made while Redis was unreachable). */
const ALL_TAG = '*';

// Every write increments KEYS[1] (the write sequence) and records, in the sorted set KEYS[2],
// each tag it changed with that sequence number as score (one member per tag: its last change).
// A missing sequence (flushed Redis) restarts from the current time in ms with everything changed.
const INIT = `
local function current()
  local cur = redis.call('GET', KEYS[1])
  if cur then return tonumber(cur) end
  cur = tonumber(ARGV[1])
  redis.call('SET', KEYS[1], cur)
  redis.call('ZADD', KEYS[2], cur, '${ALL_TAG}')
  return cur
end`;

// Reads the entry KEYS[4] and returns it (value and tags) only when none of its tags (nor '*')
// changed after it was read; also returns the current sequence. On a hit, touches the LRU index KEYS[3] when asked (a
// sample of hits: an approximate LRU without a write per read).
const GET_SCRIPT = `${INIT}
local cur = current()
local e = redis.call('HMGET', KEYS[4], 'v', 's', 'd')
if not e[1] then return {tostring(cur), false} end
local s = tonumber(e[2])
local function changed(tag)
  local c = redis.call('ZSCORE', KEYS[2], tag)
  return c and tonumber(c) > s
end
if s > cur or changed('${ALL_TAG}') then return {tostring(cur), false} end
for tag in string.gmatch(e[3], '[^,]+') do
  if changed(tag) then return {tostring(cur), false} end
end
if ARGV[2] == '1' then redis.call('ZADD', KEYS[3], ARGV[1], KEYS[4]) end
return {tostring(cur), e[1], e[3]}`;

// Writes an entry (value, the sequence it was read at, its tags) with a TTL and trims the index to
// maxEntries in the same atomic step, so a flood of distinct queries cannot grow memory (Redis runs
// with noeviction). A value read before a newer stored one does not replace it.
const SET_SCRIPT = `
local ttl = tonumber(ARGV[4])
local now = tonumber(ARGV[5])
local max = tonumber(ARGV[6])
local old = redis.call('HGET', KEYS[2], 's')
if old and tonumber(old) > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[2], 'v', ARGV[1], 's', ARGV[2], 'd', ARGV[3])
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('ZADD', KEYS[1], now, KEYS[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[7]) * 1000)
local n = redis.call('ZCARD', KEYS[1])
if n > max then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, n - max - 1)
  for i = 1, #oldest, 500 do
    redis.call('DEL', unpack(oldest, i, math.min(i + 499, #oldest)))
  end
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - max - 1)
end
return n`;

// Records a write: the next sequence number, and it as the last change of each tag in ARGV[2..].
const BUMP_SCRIPT = `${INIT}
local existed = redis.call('EXISTS', KEYS[1]) == 1
current()
local seq = existed and redis.call('INCR', KEYS[1]) or tonumber(redis.call('GET', KEYS[1]))
for i = 2, #ARGV do redis.call('ZADD', KEYS[2], seq, ARGV[i]) end
return seq`;

// The current sequence and, when it moved past ARGV[2] (what this replica has seen), the tags
// changed since, with their sequence numbers. ARGV[2] empty: the sequence only.
const SYNC_SCRIPT = `${INIT}
local cur = current()
if ARGV[2] == '' or cur <= tonumber(ARGV[2]) then return {tostring(cur)} end
return {tostring(cur), redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[2], '+inf', 'WITHSCORES')}`;

/** Share of hits that refresh the entry's LRU score. */
const TOUCH_SAMPLE = 0.1;

interface CacheCommands {
  shopCacheGetBuffer(seqKey: string, changesKey: string, indexKey: string, entryKey: string, now: number, touch: string): Promise<[Buffer, Buffer | null, Buffer | null]>;
  shopCacheSet(indexKey: string, entryKey: string, value: string, seq: number, tags: string, ttl: number, now: number, max: number, maxTtl: number): Promise<number>;
  shopCacheBump(seqKey: string, changesKey: string, now: number, ...tags: string[]): Promise<number>;
  shopCacheSync(seqKey: string, changesKey: string, now: number, seen: string): Promise<[string, string[]?]>;
}

interface LocalEntry {
  value: Buffer;
  tags: readonly string[];
  /** The entry holds every change up to this sequence number. */
  validAt: number;
  /** The sequence number this replica last checked the entry's tags at (-1: never). */
  checkedAt: number;
  /** ms timestamp after which a "not found" entry is dropped; 0 for values. */
  expiresAt: number;
}

/**
 * The product cache. Each entry records the tags it was built from (its products, and for lists
 * the list membership); each write records the tags it changed, under a write sequence number,
 * after it commits and before it answers. An entry is served only while none of its tags changed
 * after it was read, so an order invalidates the entries that show the products it took stock
 * from, and nothing else; no reader gets an entry older than a write that has returned.
 *
 * Each replica also keeps recent entries in memory. A read still asks Redis what changed since
 * this replica last asked (one small script call shared by the requests that arrived before it
 * was sent, usually answering "nothing"), so a local entry is never served after a write that
 * touched it has returned.
 */
export class ProductCache {
  private readonly seqKey: string;
  private readonly changesKey: string;
  private readonly indexKey: string;
  private readonly entryPrefix: string;
  private readonly client: Redis & CacheCommands;
  /** Set when an invalidation could not reach Redis: serve from PostgreSQL until one succeeds. */
  private stale = false;
  private lastRetry = 0;
  private readonly local = new Map<string, LocalEntry>();
  private localBytes = 0;
  /** The sequence number this replica has seen every change up to (-1: none yet). */
  private seen = -1;
  /** Local entries read before this sequence number are never served (the mirror of changes starts there). */
  private base = 0;
  /** The last change of each tag since `base`, as Redis reported it. */
  private readonly changed = new Map<string, number>();
  /** The requests waiting for the next sync call, and how to answer them. */
  private syncBatch: Promise<number | null> | null = null;
  private syncResolve: ((seq: number | null) => void) | null = null;
  /** A sync call is out. */
  private syncing = false;

  constructor(
    redis: Redis,
    prefix: string,
    private readonly opts: CacheOptions,
  ) {
    this.seqKey = `${prefix}catalog:seq`;
    this.changesKey = `${prefix}catalog:changes`;
    this.indexKey = `${prefix}cache:index`;
    this.entryPrefix = `${prefix}cache:v:`;
    redis.defineCommand('shopCacheGet', { numberOfKeys: 4, lua: GET_SCRIPT });
    redis.defineCommand('shopCacheSet', { numberOfKeys: 2, lua: SET_SCRIPT });
    redis.defineCommand('shopCacheBump', { numberOfKeys: 2, lua: BUMP_SCRIPT });
    redis.defineCommand('shopCacheSync', { numberOfKeys: 2, lua: SYNC_SCRIPT });
    this.client = redis as Redis & CacheCommands;
    // Writes made while this replica could not reach Redis were not recorded: invalidate everything.
    redis.on('ready', () => {
      void this.invalidateAll();
    });
  }

  /** null: the cache is unavailable (serve from the database and do not store). */
  async get(suffix: string): Promise<CacheLookup | null> {
    if (this.client.status !== 'ready') return null;
    if (this.stale) {
      // Retry the missed invalidation at most once a second; until it lands, no cached answers.
      const now = Date.now();
      if (now - this.lastRetry > 1000) {
        this.lastRetry = now;
        void this.invalidateAll();
      }
      return null;
    }
    try {
      const seen = await this.sync();
      if (seen !== null) {
        const hit = this.localHit(suffix, seen);
        if (hit) return { seq: seen, value: hit };
      }
      const touch = Math.random() < TOUCH_SAMPLE ? '1' : '0';
      const [raw, value, tags] = await this.client.shopCacheGetBuffer(this.seqKey, this.changesKey, this.indexKey, this.entryPrefix + suffix, Date.now(), touch);
      // The entry was valid at `seq`: Redis checked its tags up to there.
      const seq = Number(raw.toString());
      if (value !== null) this.remember(suffix, value, (tags?.toString() ?? '').split(','), seq, this.opts.negativeTtlSeconds);
      return { seq, value };
    } catch {
      return null;
    }
  }

  private localHit(suffix: string, seen: number): Buffer | null {
    const e = this.local.get(suffix);
    if (e === undefined) return null;
    if (e.checkedAt !== seen) {
      let valid = e.validAt >= this.base;
      for (let i = 0; valid && i < e.tags.length; i++) valid = (this.changed.get(e.tags[i]!) ?? 0) <= e.validAt;
      if (!valid) {
        this.forget(suffix, e);
        return null;
      }
      e.checkedAt = seen;
    }
    if (e.expiresAt !== 0 && Date.now() > e.expiresAt) {
      this.forget(suffix, e);
      return null;
    }
    return e.value;
  }

  /**
   * What changed since this replica last asked. Requests that arrive before the call is sent share
   * it: each of them started before it, so none can miss a write that returned before it started.
   * One call at a time: requests that arrive while one is out wait for the next, sent when it is
   * answered (they started before that one is sent, too). Under load this caps the calls at one per
   * round trip instead of one per event-loop turn, at the cost of waiting up to one more round trip.
   */
  private sync(): Promise<number | null> {
    if (this.syncBatch === null) {
      this.syncBatch = new Promise((resolve) => (this.syncResolve = resolve));
      if (!this.syncing) setImmediate(this.sendSync);
    }
    return this.syncBatch;
  }

  private readonly sendSync = (): void => {
    const resolve = this.syncResolve!;
    this.syncBatch = null;
    this.syncResolve = null;
    this.syncing = true;
    const seen = this.seen;
    this.client
      .shopCacheSync(this.seqKey, this.changesKey, Date.now(), seen < 0 ? '' : String(seen))
      .then(
        ([raw, changes]) => resolve(this.apply(seen, Number(raw), changes)),
        () => resolve(null),
      )
      .finally(() => {
        this.syncing = false;
        if (this.syncBatch !== null) setImmediate(this.sendSync);
      });
  };

  private apply(asked: number, current: number, changes: string[] | undefined): number {
    // Another sync answered in between (they are answered in order): it already applied these.
    if (asked !== this.seen && current <= this.seen) return this.seen;
    if (asked < 0 || current < this.seen) {
      this.restart(current);
      return current;
    }
    for (let i = 0; changes !== undefined && i + 1 < changes.length; i += 2) {
      const tag = changes[i]!;
      if (tag === ALL_TAG) {
        this.restart(current);
        return current;
      }
      this.changed.set(tag, Number(changes[i + 1]));
    }
    this.seen = current;
    return current;
  }

  private restart(current: number): void {
    this.local.clear();
    this.localBytes = 0;
    this.changed.clear();
    this.base = current;
    this.seen = current;
  }

  private forget(suffix: string, e: LocalEntry): void {
    this.local.delete(suffix);
    this.localBytes -= e.value.length;
  }

  private remember(suffix: string, value: Buffer, tags: readonly string[], validAt: number, ttlSeconds: number): void {
    const max = this.opts.localMaxBytes ?? 0;
    if (value.length > max / 4 || validAt < this.base) return;
    const previous = this.local.get(suffix);
    if (previous) this.forget(suffix, previous);
    this.local.set(suffix, { value, tags, validAt, checkedAt: -1, expiresAt: value.length === 0 ? Date.now() + ttlSeconds * 1000 : 0 });
    this.localBytes += value.length;
    // Oldest first (Map keeps insertion order) until within budget.
    for (const [k, v] of this.local) {
      if (this.localBytes <= max) break;
      this.forget(k, v);
    }
  }

  /**
   * Stores `value` (empty: "not found", kept `negativeTtlSeconds`) read from the database after the
   * lookup that returned `seq`, with the tags it was built from.
   */
  async set(seq: number, suffix: string, value: string, tags: readonly string[]): Promise<void> {
    if (this.stale || this.client.status !== 'ready') return;
    const ttl = value === '' ? this.opts.negativeTtlSeconds : this.opts.ttlSeconds;
    this.remember(suffix, Buffer.from(value), tags, seq, ttl);
    try {
      await this.client.shopCacheSet(this.indexKey, this.entryPrefix + suffix, value, seq, tags.join(','), ttl, Date.now(), this.opts.maxEntries, this.opts.ttlSeconds);
    } catch {
      // a cache that cannot store is only slower
    }
  }

  /** Records that a write changed `tags`; called after it commits, before its response is sent. */
  async invalidate(tags: readonly string[]): Promise<boolean> {
    try {
      await this.client.shopCacheBump(this.seqKey, this.changesKey, Date.now(), ...tags);
      this.stale = false;
      return true;
    } catch {
      this.stale = true;
      return false;
    }
  }

  /** Every entry, on every replica (a write whose tags were lost, a replica that lost Redis). */
  invalidateAll(): Promise<boolean> {
    return this.invalidate([ALL_TAG]);
  }
}
