import type { AuthService } from '../../domain/auth.js';
import type { RouteRegistry } from '../registry.js';
import type { AppMiddleware } from '../context.js';
import { LoginBody, RegisterBody, Token, User } from '../schemas.js';

export function authRoutes(r: RouteRegistry, auth: AuthService, authLimit: AppMiddleware): void {
  r.add({
    method: 'post',
    path: '/auth/register',
    tag: 'auth',
    summary: 'Create a shopper account',
    auth: 'public',
    before: [authLimit],
    body: RegisterBody,
    responses: {
      201: { description: 'Created (the password hash is never returned)', schema: User, headers: ['Location'] },
      409: { description: 'username_taken or email_taken', codes: ['username_taken', 'email_taken'] },
      422: { description: 'validation_failed, or weak_password: shorter than 8 characters, one character repeated, a common password or the username/e-mail', codes: ['weak_password'] },
      429: { description: 'rate_limited: too many attempts from this IP', codes: ['rate_limited'] },
    },
    async handler(ctx, { body }) {
      const user = await auth.register(body);
      ctx.status = 201;
      ctx.set('Location', '/auth/me');
      ctx.body = user;
    },
  });
  r.add({
    method: 'post',
    path: '/auth/login',
    tag: 'auth',
    summary: 'Exchange username (or e-mail) and password for a bearer token',
    auth: 'public',
    before: [authLimit],
    body: LoginBody,
    responses: {
      200: { description: 'A JWT (HS256) to send as Authorization: Bearer <access_token>', schema: Token, headers: ['Cache-Control'] },
      401: { description: 'invalid_credentials: same answer for an unknown user and a wrong password', codes: ['invalid_credentials'] },
      429: { description: 'rate_limited: too many attempts from this IP', codes: ['rate_limited'] },
    },
    async handler(ctx, { body }) {
      ctx.set('Cache-Control', 'no-store');
      ctx.body = await auth.login((body.username ?? body.email)!, body.password);
    },
  });
  r.add({
    method: 'post',
    path: '/auth/logout',
    tag: 'auth',
    summary: 'Revoke the token of this request, on every replica',
    auth: 'user',
    responses: { 204: { description: 'Revoked: the token is refused from now on' } },
    async handler(ctx) {
      await auth.logout(ctx.state.user!);
      ctx.status = 204;
    },
  });
  r.add({
    method: 'get',
    path: '/auth/me',
    tag: 'auth',
    summary: 'The user of the token',
    auth: 'user',
    responses: { 200: { description: 'The user', schema: User } },
    async handler(ctx) {
      ctx.body = await auth.me(ctx.state.user!.id);
    },
  });
}
