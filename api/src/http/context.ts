import type Koa from 'koa';
import type { RouterContext } from '@koa/router';

export type Role = 'customer' | 'admin';

export interface AuthUser {
  id: number;
  role: Role;
  jti: string;
  /** Token expiry, seconds since the epoch. */
  exp: number;
}

export interface AppState {
  requestId: string;
  user?: AuthUser;
  /** The raw verified JWT payload (koa-jwt writes it here). */
  jwt?: Record<string, unknown>;
  jwtOriginalError?: Error;
  /** A 200 answer of ready bytes, written by the outermost middleware once the request is through (see sendBytes). */
  bytes?: { contentType: string; body: Buffer };
}

export type AppContext = Koa.ParameterizedContext<AppState, RouterContext<AppState>>;
export type AppMiddleware = (ctx: AppContext, next: Koa.Next) => Promise<unknown> | unknown;
export type AppKoa = Koa<AppState, RouterContext<AppState>>;
