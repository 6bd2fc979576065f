import { randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { Db } from '../data/db.js';
import { findUserById, findUserForLogin, insertUser, type UserRow } from '../data/repos/users.js';
import type { ActiveUsers, RevocationStore } from '../data/sessions.js';
import { DomainError } from './errors.js';
import { dummyPasswordHash, hashPassword, verifyPassword } from './passwords.js';
import { passwordWeakness } from './password-policy.js';

export type Role = 'customer' | 'admin';

export interface UserView {
  id: number;
  username: string;
  email: string;
  role: Role;
  created_at: Date;
}

export interface TokenResponse {
  access_token: string;
  token_type: 'bearer';
  expires_in: number;
}

export interface Principal {
  id: number;
  role: Role;
  jti: string;
  exp: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const toUserView = (u: UserRow): UserView => ({ id: u.id, username: u.username, email: u.email, role: u.role, created_at: u.created_at });

/** A verified JWT payload -> principal, or null when it lacks what we issue (sub, role, jti, exp). */
export function principalFromClaims(claims: Record<string, unknown> | undefined): Principal | null {
  if (!claims) return null;
  const { sub, role, jti, exp } = claims;
  if (typeof sub !== 'string' || !/^[1-9]\d{0,9}$/.test(sub)) return null;
  if (role !== 'customer' && role !== 'admin') return null;
  if (typeof jti !== 'string' || !UUID.test(jti)) return null;
  if (typeof exp !== 'number') return null;
  return { id: Number(sub), role, jti, exp };
}

export class AuthService {
  constructor(
    private readonly db: Db,
    private readonly revocations: RevocationStore,
    private readonly activeUsers: ActiveUsers,
    private readonly opts: { secret: string; ttlSeconds: number },
  ) {}

  async register(input: { username: string; email: string; password: string }): Promise<UserView> {
    const weakness = passwordWeakness(input.password, input);
    if (weakness) throw new DomainError('weak_password', `the password ${weakness}`, undefined, [{ path: 'password', message: weakness }]);
    const passwordHash = await hashPassword(input.password);
    const result = await insertUser(this.db, { username: input.username, email: input.email, passwordHash, role: 'customer' });
    if (!result.ok) {
      throw result.conflict === 'email'
        ? new DomainError('email_taken', 'an account with this e-mail address already exists')
        : new DomainError('username_taken', `the username "${input.username}" is taken`);
    }
    return toUserView(result.user);
  }

  /** Same answer, and about the same time, for an unknown user and a wrong password. */
  async login(login: string, password: string): Promise<TokenResponse> {
    const user = await findUserForLogin(this.db, login);
    const ok = await verifyPassword(password, user?.password_hash ?? (await dummyPasswordHash()));
    if (!user || !ok) throw new DomainError('invalid_credentials', 'wrong username/e-mail or password');
    const token = jwt.sign({ role: user.role }, this.opts.secret, {
      algorithm: 'HS256',
      expiresIn: this.opts.ttlSeconds,
      subject: String(user.id),
      jwtid: randomUUID(),
    });
    this.activeUsers.touch(user.id);
    return { access_token: token, token_type: 'bearer', expires_in: this.opts.ttlSeconds };
  }

  async logout(p: Principal): Promise<void> {
    await this.revocations.revoke(p.jti, p.id, new Date(p.exp * 1000));
  }

  async me(userId: number): Promise<UserView> {
    const user = await findUserById(this.db, userId);
    if (!user) throw new DomainError('unauthenticated', 'the account of this token no longer exists');
    return toUserView(user);
  }

  isRevoked(jti: string): Promise<boolean> {
    return this.revocations.isRevoked(jti);
  }

  seen(userId: number): void {
    this.activeUsers.touch(userId);
  }

  /** Admin rights are read from the database, so a demoted admin loses them before the token expires. */
  async isAdmin(userId: number): Promise<boolean> {
    const user = await findUserById(this.db, userId);
    return user?.role === 'admin';
  }
}
