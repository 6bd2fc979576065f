import { PG, pgConstraint, pgErrorCode, type Queryable } from '../db.js';

export interface UserRow {
  id: number;
  username: string;
  email: string;
  role: 'customer' | 'admin';
  created_at: Date;
  updated_at: Date;
}

export interface UserWithHash extends UserRow {
  password_hash: string;
}

const COLUMNS = 'id, username, email, role, created_at, updated_at';

export type InsertUserResult = { ok: true; user: UserRow } | { ok: false; conflict: 'username' | 'email' };

export async function insertUser(
  db: Queryable,
  u: { username: string; email: string; passwordHash: string; role: 'customer' | 'admin' },
): Promise<InsertUserResult> {
  try {
    const user = await db.one<UserRow>(
      `INSERT INTO users (username, email, password_hash, role) VALUES ($1, $2, $3, $4) RETURNING ${COLUMNS}`,
      [u.username, u.email, u.passwordHash, u.role],
    );
    return { ok: true, user };
  } catch (err) {
    // The unique indexes decide races between two registrations of the same name.
    if (pgErrorCode(err) === PG.uniqueViolation) {
      return { ok: false, conflict: pgConstraint(err) === 'users_email_key' ? 'email' : 'username' };
    }
    throw err;
  }
}

export async function findUserForLogin(db: Queryable, login: string): Promise<UserWithHash | null> {
  const byEmail = login.includes('@');
  return db.oneOrNone<UserWithHash>(
    byEmail
      ? `SELECT ${COLUMNS}, password_hash FROM users WHERE lower(email) = lower($1)`
      : `SELECT ${COLUMNS}, password_hash FROM users WHERE lower(username) = lower($1)`,
    [login],
  );
}

export function findUserById(db: Queryable, id: number): Promise<UserRow | null> {
  return db.oneOrNone<UserRow>(`SELECT ${COLUMNS} FROM users WHERE id = $1`, [id]);
}

export type EnsureAdminResult = 'created' | 'promoted' | 'exists';

/** Creates the first admin, or makes the existing user of that name an admin; never touches a password. */
export async function ensureAdmin(db: Queryable, a: { username: string; email: string; passwordHash: string }): Promise<EnsureAdminResult> {
  return db.tx(async (t) => {
    await t.any('SELECT pg_advisory_xact_lock(hashtext($1))', ['shop:first-admin']);
    const existing = await t.oneOrNone<{ id: number; role: string }>('SELECT id, role FROM users WHERE lower(username) = lower($1)', [a.username]);
    if (existing) {
      if (existing.role === 'admin') return 'exists';
      await t.none("UPDATE users SET role = 'admin', updated_at = now() WHERE id = $1", [existing.id]);
      return 'promoted';
    }
    await t.none("INSERT INTO users (username, email, password_hash, role) VALUES ($1, $2, $3, 'admin')", [a.username, a.email, a.passwordHash]);
    return 'created';
  });
}
