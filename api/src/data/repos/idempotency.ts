import type { Queryable } from '../db.js';

export interface StoredResponse {
  fingerprint: string;
  response_status: number;
  response_body: unknown;
}

/**
 * Transaction-scoped lock on (user, key): false means another request with this key is running now.
 * Two-int advisory locks live apart from the migrator's one-bigint lock.
 */
export async function tryLockKey(t: Queryable, userId: number, key: string): Promise<boolean> {
  const r = await t.one<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1, hashtext($2)) AS locked', [userId, key]);
  return r.locked;
}

export function findKey(t: Queryable, userId: number, key: string): Promise<StoredResponse | null> {
  return t.oneOrNone<StoredResponse>('SELECT fingerprint, response_status, response_body FROM idempotency_keys WHERE user_id = $1 AND key = $2', [userId, key]);
}

export async function storeKey(t: Queryable, userId: number, key: string, fingerprint: string, status: number, body: unknown): Promise<void> {
  await t.none(
    'INSERT INTO idempotency_keys (user_id, key, fingerprint, response_status, response_body) VALUES ($1, $2, $3, $4, $5::json)',
    [userId, key, fingerprint, status, JSON.stringify(body)],
  );
}

/** Keys are kept at least 24 h, as clients are told; older ones go. */
export async function purgeOldKeys(db: Queryable): Promise<number> {
  const r = await db.result("DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours'");
  return r.rowCount;
}
