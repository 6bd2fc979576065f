import type { Redis } from 'ioredis';

export interface CacheOptions {
  /** Seconds an entry lives at most. */
  ttlSeconds: number;
  /** Entries kept at most; the least recently used go first. */
  maxEntries: number;
  /** Bytes of entries each replica also keeps in its own memory (0: none). */
  localMaxBytes?: number;
}

export interface CacheLookup {
  /** The catalogue version the value belongs to; pass it back to `set`. */
  version: string;
  /** Raw bytes: sent to the client as they are, with no decode/encode round trip. */
  value: Buffer | null;
}

// Reads the catalogue version and the entry of that version in one round trip; on a hit, touches the
// LRU index when asked (callers ask for a sample of hits: an approximate LRU without a write per read).
// A missing version (flushed Redis) restarts from the current time in ms, above any version used before.
const GET_SCRIPT = `
local v = redis.call('GET', KEYS[1])
if not v then
  v = ARGV[3]
  redis.call('SET', KEYS[1], v)
end
local k = ARGV[1] .. v .. ':' .. ARGV[2]
local val = redis.call('GET', k)
if val and ARGV[4] == '1' then redis.call('ZADD', KEYS[2], ARGV[3], k) end
return {v, val}`;

// Writes an entry with a TTL and trims the index to maxEntries in the same atomic step,
// so a flood of distinct queries cannot grow memory (Redis runs with noeviction).
const SET_SCRIPT = `
local ttl = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
local max = tonumber(ARGV[5])
redis.call('SET', ARGV[1], ARGV[2], 'EX', ttl)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl * 1000)
local n = redis.call('ZCARD', KEYS[1])
if n > max then
  local old = redis.call('ZRANGE', KEYS[1], 0, n - max - 1)
  for i = 1, #old, 500 do
    redis.call('DEL', unpack(old, i, math.min(i + 499, #old)))
  end
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - max - 1)
end
return n`;

const BUMP_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCR', KEYS[1]) end
redis.call('SET', KEYS[1], ARGV[1])
return tonumber(ARGV[1])`;

/** Share of hits that refresh the entry's LRU score. */
const TOUCH_SAMPLE = 0.1;

interface CacheCommands {
  shopCacheGetBuffer(versionKey: string, indexKey: string, entryPrefix: string, suffix: string, now: number, touch: string): Promise<[Buffer, Buffer | null]>;
  shopCacheSet(indexKey: string, key: string, value: string, ttl: number, now: number, max: number): Promise<number>;
  shopCacheBump(versionKey: string, now: number): Promise<number>;
}

/**
 * Versioned product cache: every key carries the catalogue version, which each product write
 * increments, so a reader never gets an entry older than a write that has returned.
 *
 * Each replica also keeps recent entries in memory, keyed by version. A read still asks Redis for
 * the current version (one tiny GET shared by the requests that arrived before it was sent), so
 * a local entry is only served while no write has happened since it was read.
 */
export class ProductCache {
  private readonly versionKey: string;
  private readonly indexKey: string;
  private readonly entryPrefix: string;
  private readonly client: Redis & CacheCommands;
  /** Set when an invalidation could not reach Redis: serve from PostgreSQL until one succeeds. */
  private stale = false;
  private lastRetry = 0;
  private readonly local = new Map<string, Buffer>();
  private localBytes = 0;
  private versionBatch: Promise<string | null> | null = null;

  constructor(
    redis: Redis,
    prefix: string,
    private readonly opts: CacheOptions,
  ) {
    this.versionKey = `${prefix}catalog:version`;
    this.indexKey = `${prefix}cache:index`;
    this.entryPrefix = `${prefix}cache:v`;
    redis.defineCommand('shopCacheGet', { numberOfKeys: 2, lua: GET_SCRIPT });
    redis.defineCommand('shopCacheSet', { numberOfKeys: 1, lua: SET_SCRIPT });
    redis.defineCommand('shopCacheBump', { numberOfKeys: 1, lua: BUMP_SCRIPT });
    this.client = redis as Redis & CacheCommands;
    // Writes made while this replica could not reach Redis were not invalidated: start a new version.
    redis.on('ready', () => {
      void this.bump();
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
        void this.bump();
      }
      return null;
    }
    try {
      const current = await this.currentVersion();
      if (current !== null) {
        const hit = this.local.get(`${current}:${suffix}`);
        if (hit) return { version: current, value: hit };
      }
      const touch = Math.random() < TOUCH_SAMPLE ? '1' : '0';
      const [raw, value] = await this.client.shopCacheGetBuffer(this.versionKey, this.indexKey, this.entryPrefix, suffix, Date.now(), touch);
      const version = raw.toString();
      if (value) this.remember(version, suffix, value);
      return { version, value };
    } catch {
      return null;
    }
  }

  /**
   * The catalogue version as Redis has it now. Requests that arrive before the GET is sent share it:
   * each of them started before the read, so none can miss a write that returned before it started.
   */
  private currentVersion(): Promise<string | null> {
    this.versionBatch ??= new Promise((resolve) => {
      setImmediate(() => {
        this.versionBatch = null;
        this.client.get(this.versionKey).then(resolve, () => resolve(null));
      });
    });
    return this.versionBatch;
  }

  private remember(version: string, suffix: string, value: Buffer): void {
    const max = this.opts.localMaxBytes ?? 0;
    if (value.length > max / 4) return;
    const key = `${version}:${suffix}`;
    const previous = this.local.get(key);
    if (previous) this.localBytes -= previous.length;
    this.local.set(key, value);
    this.localBytes += value.length;
    // Oldest first (Map keeps insertion order) until within budget.
    for (const [k, v] of this.local) {
      if (this.localBytes <= max) break;
      this.local.delete(k);
      this.localBytes -= v.length;
    }
  }

  async set(version: string, suffix: string, value: string): Promise<void> {
    if (this.stale || this.client.status !== 'ready') return;
    this.remember(version, suffix, Buffer.from(value));
    try {
      await this.client.shopCacheSet(this.indexKey, `${this.entryPrefix}${version}:${suffix}`, value, this.opts.ttlSeconds, Date.now(), this.opts.maxEntries);
    } catch {
      // a cache that cannot store is only slower
    }
  }

  /** Called after every product write commits, before its response is sent. */
  async bump(): Promise<boolean> {
    try {
      await this.client.shopCacheBump(this.versionKey, Date.now());
      this.stale = false;
      // Entries of older versions can never be served again: free them now.
      this.local.clear();
      this.localBytes = 0;
      return true;
    } catch {
      this.stale = true;
      return false;
    }
  }
}
