import koaJwt from 'koa-jwt';
import type Koa from 'koa';
import { DomainError } from '../../domain/errors.js';
import { principalFromClaims, type AuthService } from '../../domain/auth.js';
import type { AppContext, AppMiddleware } from '../context.js';

/**
 * Verifies a bearer token when one is sent (HS256 only, exp enforced, revocation checked) and puts
 * the principal in ctx.state.user. Anonymous requests pass; the route guards decide.
 */
export function authenticate(auth: AuthService, secret: string): Koa.Middleware {
  const verify = koaJwt({ secret, key: 'jwt', algorithms: ['HS256'], passthrough: true });
  return async (ctx, next) => {
    // No header, no verification: anonymous reads stay cheap.
    if (ctx.headers.authorization === undefined) return next();
    return verify(ctx, async () => {
      const claims = ctx.state.jwt as Record<string, unknown> | undefined;
      if (claims !== undefined) {
        // Checked here, not in koa-jwt's isRevoked, which turns any error into a 401: a database that
        // cannot answer is a 503 (errors middleware), never "log in again" for a valid token.
        const principal = principalFromClaims(claims);
        if (principal === null || (await auth.isRevoked(principal.jti))) {
          ctx.state.jwtOriginalError = new Error('Token revoked');
          delete ctx.state.jwt;
        } else {
          ctx.state.user = principal;
          auth.seen(principal.id);
        }
      }
      await next();
    });
  };
}

function unauthenticated(ctx: AppContext): DomainError {
  ctx.set('WWW-Authenticate', 'Bearer');
  const err = ctx.state.jwtOriginalError;
  if (ctx.headers.authorization === undefined) return new DomainError('unauthenticated', 'send a bearer token: Authorization: Bearer <access_token> (POST /auth/login)');
  if (!/^Bearer \S+$/i.test(ctx.headers.authorization.trim())) return new DomainError('unauthenticated', 'the Authorization header must be "Bearer <access_token>"');
  if (err?.name === 'TokenExpiredError') return new DomainError('unauthenticated', 'the token has expired: log in again');
  if (err?.message === 'Token revoked') return new DomainError('unauthenticated', 'the token was revoked (logged out) or lacks required claims: log in again');
  return new DomainError('unauthenticated', 'the token is invalid');
}

export const requireUser: AppMiddleware = (ctx, next) => {
  if (!ctx.state.user) throw unauthenticated(ctx);
  return next();
};

export function requireAdmin(auth: AuthService): AppMiddleware {
  return async (ctx, next) => {
    const user = ctx.state.user;
    if (!user) throw unauthenticated(ctx);
    if (user.role !== 'admin' || !(await auth.isAdmin(user.id))) throw new DomainError('forbidden', 'this endpoint is for administrators only');
    return next();
  };
}
