import type { Redis } from 'ioredis';
import type { Db } from './db.js';
import { insertRevokedToken, isTokenRevoked, listUnexpiredRevocations } from './repos/revokedTokens.js';

/**
 * Revoked tokens: PostgreSQL is the source of truth (logout survives a Redis flush or outage);
 * Redis mirrors it for the per-request check, guarded by a "loaded" marker. The mirror is trusted
 * only on a connection whose marker this replica has cleared since it (re)connected: a Redis that
 * restarts comes back from its last snapshot, marker included, without the logouts written after it.
 */
export class RevocationStore {
  private readonly markerKey: string;
  private readonly keyPrefix: string;
  private reloading: Promise<void> | null = null;
  /** The marker was cleared on the current connection: what the mirror says from now on is whole. */
  private trusted = false;
  private resyncing = false;

  constructor(
    private readonly db: Db,
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.markerKey = `${prefix}auth:revoked:loaded`;
    this.keyPrefix = `${prefix}auth:revoked:`;
    redis.on('close', () => (this.trusted = false));
    redis.on('ready', () => this.resync());
    if (redis.status === 'ready') this.resync();
  }

  /** Clears the marker, so the next check reloads the mirror from PostgreSQL; until then PostgreSQL answers. */
  private resync(): void {
    this.trusted = false;
    if (this.resyncing || this.redis.status !== 'ready') return;
    this.resyncing = true;
    this.redis.del(this.markerKey).then(
      () => (this.trusted = this.redis.status === 'ready'),
      () => undefined,
    ).finally(() => (this.resyncing = false));
  }

  async revoke(jti: string, userId: number, expiresAt: Date): Promise<void> {
    await insertRevokedToken(this.db, jti, userId, expiresAt);
    const ttl = expiresAt.getTime() - Date.now();
    if (ttl <= 0) return;
    try {
      await this.redis.set(this.keyPrefix + jti, '1', 'PX', ttl);
    } catch {
      // Only in PostgreSQL: every replica reloads (now, or when Redis is back here).
      this.resync();
    }
  }

  async isRevoked(jti: string): Promise<boolean> {
    if (this.redis.status === 'ready' && !this.trusted) this.resync();
    else if (this.redis.status === 'ready') {
      try {
        const answer = mirrorAnswer(await this.redis.mget(this.markerKey, this.keyPrefix + jti));
        if (answer !== undefined) return answer;
        // Redis restarted or was flushed: reload before trusting it again, and ask PostgreSQL meanwhile.
        void this.reload();
      } catch {
        // fall through to PostgreSQL
      }
    }
    return isTokenRevoked(this.db, jti);
  }

  /** Copies every unexpired revocation into Redis, then sets the marker (once at a time per replica). */
  reload(): Promise<void> {
    this.reloading ??= (async () => {
      try {
        const rows = await listUnexpiredRevocations(this.db);
        const pipeline = this.redis.pipeline();
        for (const r of rows) if (r.ttl_ms > 0) pipeline.set(this.keyPrefix + r.jti, '1', 'PX', Math.ceil(r.ttl_ms));
        pipeline.set(this.markerKey, String(Date.now()));
        await pipeline.exec();
      } catch {
        // retried by the next check
      } finally {
        this.reloading = null;
      }
    })();
    return this.reloading;
  }
}

/**
 * What the mirror says about one token, from MGET marker key: revoked, not revoked, or undefined when
 * it cannot tell (no marker, or a reply of another shape: a connection cut by a Redis crash can hand a
 * command another one's reply, and "OK" must not read as revoked). Only [marker, null | "1"] counts.
 */
export function mirrorAnswer(reply: unknown): boolean | undefined {
  if (!Array.isArray(reply) || reply.length !== 2) return undefined;
  const [loaded, revoked] = reply as unknown[];
  if (typeof loaded !== 'string' || !/^\d+$/.test(loaded)) return undefined;
  if (revoked === null) return false;
  return revoked === '1' ? true : undefined;
}

const ACTIVE_WINDOW_MS = 15 * 60_000;
const TOUCH_INTERVAL_MS = 60_000;

/** Users seen in the last 15 minutes: a sorted set of user id -> last seen, written at most once a minute per user. */
export class ActiveUsers {
  private readonly key: string;
  private readonly lastWrite = new Map<number, number>();

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.key = `${prefix}active_users`;
  }

  touch(userId: number): void {
    const now = Date.now();
    const last = this.lastWrite.get(userId);
    if (last !== undefined && now - last < TOUCH_INTERVAL_MS) return;
    if (this.lastWrite.size > 100_000) this.lastWrite.clear();
    this.lastWrite.set(userId, now);
    if (this.redis.status !== 'ready') return;
    this.redis.zadd(this.key, now, String(userId)).catch(() => this.lastWrite.delete(userId));
  }

  /** 0 when Redis is unavailable. */
  async count(): Promise<number> {
    if (this.redis.status !== 'ready') return 0;
    try {
      const now = Date.now();
      const [, card] = await Promise.all([this.redis.zremrangebyscore(this.key, '-inf', now - ACTIVE_WINDOW_MS), this.redis.zcard(this.key)]);
      return card;
    } catch {
      return 0;
    }
  }
}
