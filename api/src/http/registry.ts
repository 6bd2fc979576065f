import { z } from 'zod';
import { Router } from '@koa/router';
import { DomainError, type FieldError } from '../domain/errors.js';
import type { AppContext, AppMiddleware, AppState } from './context.js';

export type Method = 'get' | 'post' | 'put' | 'delete';
export type Auth = 'public' | 'user' | 'admin';

export interface ResponseSpec {
  description: string;
  schema?: z.ZodType;
  /** Defaults to application/json when a schema is given. */
  contentType?: string;
  headers?: Record<string, { description: string; schema: Record<string, unknown> }>;
}

export interface HeaderSpec {
  name: string;
  description: string;
  required?: boolean;
  schema: Record<string, unknown>;
}

export interface Input<P, Q, B> {
  params: P;
  query: Q;
  body: B;
}

export interface RouteSpec<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType> {
  method: Method;
  /** Koa-style path: /products/:id */
  path: string;
  summary: string;
  description?: string;
  tag: string;
  auth: Auth;
  params?: P;
  query?: Q;
  body?: B;
  headers?: HeaderSpec[];
  /** Extra middleware run after authentication and before validation (e.g. the auth rate limiter). */
  before?: AppMiddleware[];
  responses: Record<number, ResponseSpec>;
  handler: (ctx: AppContext, input: Input<z.output<P>, z.output<Q>, z.output<B>>) => Promise<void> | void;
}

// Type-erased form stored in the registry.
export type AnyRoute = RouteSpec<z.ZodType, z.ZodType, z.ZodType>;

export interface AuthGuards {
  user: AppMiddleware;
  admin: AppMiddleware;
}

const EMPTY = Object.freeze({});

/** Turns zod issues into the problem body's `errors: [{path, message}]`. */
export function fieldErrors(error: z.ZodError, prefix?: string): FieldError[] {
  const out: FieldError[] = [];
  for (const issue of error.issues) {
    const base = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        out.push({ path: [prefix, ...base, key].filter(Boolean).join('.'), message: 'unknown field' });
      }
    } else {
      out.push({ path: [prefix, ...base].filter(Boolean).join('.') || (prefix ?? '(root)'), message: issue.message });
    }
  }
  return out;
}

/** Path of the first string holding a NUL character (PostgreSQL text cannot store one), or null. */
function findNul(value: unknown, path: string[]): string[] | null {
  if (typeof value === 'string') return value.includes('\u0000') ? path : null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findNul(value[i], [...path, String(i)]);
      if (found) return found;
    }
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const found = findNul(v, [...path, k]);
      if (found) return found;
    }
  }
  return null;
}

function parseOrThrow<T extends z.ZodType>(schema: T, value: unknown, where: 'path' | 'query' | 'body'): z.output<T> {
  const nul = findNul(value, where === 'body' ? [] : [where]);
  if (nul) {
    const path = nul.join('.') || '(root)';
    throw new DomainError('validation_failed', `the request ${where} is invalid: ${path}: must not contain NUL characters`, undefined, [{ path, message: 'must not contain NUL characters' }]);
  }
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const errors = fieldErrors(result.error, where === 'body' ? undefined : where);
  throw new DomainError('validation_failed', `the request ${where === 'path' ? 'path' : where} is invalid: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, undefined, errors);
}

/**
 * The one list of routes: the router is built from it and so is the OpenAPI document, so every
 * route is validated by, and documented from, the same zod schemas.
 */
export class RouteRegistry {
  readonly routes: AnyRoute[] = [];

  add<P extends z.ZodType = z.ZodType<Record<string, never>>, Q extends z.ZodType = z.ZodType<Record<string, never>>, B extends z.ZodType = z.ZodType<undefined>>(
    spec: RouteSpec<P, Q, B>,
  ): void {
    this.routes.push(spec as unknown as AnyRoute);
  }

  buildRouter(guards: AuthGuards): Router<AppState> {
    const router = new Router<AppState>();
    for (const route of this.routes) {
      const stack: AppMiddleware[] = [];
      if (route.auth === 'user') stack.push(guards.user);
      if (route.auth === 'admin') stack.push(guards.admin);
      if (route.before) stack.push(...route.before);
      const { params, query, body, handler } = route;
      stack.push(async (ctx) => {
        const input = {
          params: params ? parseOrThrow(params, ctx.params, 'path') : EMPTY,
          query: query ? parseOrThrow(query, ctx.query, 'query') : EMPTY,
          body: body ? parseOrThrow(body, ctx.request.body ?? {}, 'body') : undefined,
        };
        await handler(ctx, input);
      });
      router.register(route.path, [route.method.toUpperCase()], stack as never, { name: `${route.method} ${route.path}` });
    }
    return router;
  }
}
