import type { Queryable } from '../db.js';

export async function insertRevokedToken(db: Queryable, jti: string, userId: number, expiresAt: Date): Promise<void> {
  await db.none('INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT (jti) DO NOTHING', [jti, userId, expiresAt]);
}

export async function isTokenRevoked(db: Queryable, jti: string): Promise<boolean> {
  const row = await db.oneOrNone('SELECT 1 FROM revoked_tokens WHERE jti = $1', [jti]);
  return row !== null;
}

export function listUnexpiredRevocations(db: Queryable): Promise<Array<{ jti: string; ttl_ms: number }>> {
  return db.any("SELECT jti::text AS jti, (extract(epoch FROM (expires_at - now())) * 1000)::bigint::float8 AS ttl_ms FROM revoked_tokens WHERE expires_at > now()");
}

export async function purgeExpiredRevocations(db: Queryable): Promise<number> {
  const r = await db.result('DELETE FROM revoked_tokens WHERE expires_at <= now()');
  return r.rowCount;
}
