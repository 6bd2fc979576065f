import { z } from 'zod';
import { Router, type Layer } from '@koa/router';
import { DomainError, type ErrorCode, type FieldError } from '../domain/errors.js';
import type { AppContext, AppMiddleware, AppState } from './context.js';

export type Method = 'get' | 'post' | 'put' | 'delete';
export type Auth = 'public' | 'user' | 'admin';

/** Response headers a client needs, documented once in openapi.ts. */
export type ResponseHeader = 'Location' | 'Idempotent-Replayed' | 'Cache-Control';

export interface ResponseSpec {
  description: string;
  /** 2xx: the JSON body. 4xx/5xx: a problem schema with extension members (default: Problem narrowed to `codes`). */
  schema?: z.ZodType;
  /** Name of `schema` under components.schemas (problem schemas only). */
  component?: string;
  /** Media types of a non-JSON body (its schema is a string), besides application/json when a schema is given. */
  contentType?: string | string[];
  /** 4xx/5xx: the problem `code`s this status carries on this route (problem.ts maps each code to its status). */
  codes?: ErrorCode[];
  headers?: ResponseHeader[];
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
  /** Run first on routes that take a body (POST, PUT): content-type check and JSON parser. */
  body: AppMiddleware[];
}

/** Methods the router implements; anything else is 501 (what @koa/router's allowedMethods() answered). */
const IMPLEMENTED = new Set(['HEAD', 'OPTIONS', 'GET', 'PUT', 'PATCH', 'POST', 'DELETE']);
const BODY_METHODS = new Set<Method>(['post', 'put']);

interface CompiledRoute {
  /** @koa/router's compiled path: the same regular expression and parameter decoding as router.routes(). */
  layer: Layer<AppState, AppContext>;
  /** Upper case, HEAD included for GET. */
  methods: ReadonlySet<string>;
  template: string;
  hasParams: boolean;
  run: (ctx: AppContext) => unknown;
}

/** The middleware chain of one route, composed once at startup instead of per request. */
function chain(stack: AppMiddleware[]): (ctx: AppContext) => unknown {
  const done = () => Promise.resolve();
  return stack.reduceRight<(ctx: AppContext) => unknown>(
    // The last step (validation and handler) never calls next: no closure for it.
    (next, mw) => (next === done ? (ctx) => mw(ctx, done) : (ctx) => mw(ctx, () => Promise.resolve(next(ctx)))),
    done,
  );
}

/** Validated query strings kept per route: a repeated query skips parsing and validation. */
const QUERY_CACHE_ENTRIES = 500;
const QUERY_CACHE_MAX_LENGTH = 512;

/**
 * Parses and validates `ctx.query` with `schema`, remembering the (frozen) result by the raw query
 * string: the same string always gives the same result. Invalid queries are not remembered.
 */
function queryParser(schema: z.ZodType): (ctx: AppContext) => unknown {
  const seen = new Map<string, unknown>();
  return (ctx) => {
    const raw = ctx.querystring;
    const hit = seen.get(raw);
    if (hit !== undefined) return hit;
    const parsed = Object.freeze(parseOrThrow(schema, ctx.query, 'query'));
    if (raw.length <= QUERY_CACHE_MAX_LENGTH) {
      // Oldest first (a Map keeps insertion order): a flood of distinct queries only churns the cache.
      if (seen.size >= QUERY_CACHE_ENTRIES) seen.delete(seen.keys().next().value!);
      seen.set(raw, parsed);
    }
    return parsed;
  };
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

  /**
   * One middleware that dispatches to the matching route. Paths are compiled by @koa/router (same
   * matching, trailing slash and case rules, parameter decoding), but a request costs one map lookup
   * for a static path instead of testing every route, and each route's chain is composed once.
   * A path served with other methods answers 405 (501 for an unknown method, 200 for OPTIONS) with Allow.
   */
  buildRouter(guards: AuthGuards): AppMiddleware {
    const compiler = new Router<AppState, AppContext>();
    const compiled: CompiledRoute[] = [];
    for (const route of this.routes) {
      const stack: AppMiddleware[] = [];
      if (BODY_METHODS.has(route.method)) stack.push(...guards.body);
      if (route.auth === 'user') stack.push(guards.user);
      if (route.auth === 'admin') stack.push(guards.admin);
      if (route.before) stack.push(...route.before);
      const { params, query, body, handler } = route;
      const parseQuery = query ? queryParser(query) : () => EMPTY;
      // Synchronous: a validation error is thrown to the caller, the handler's promise returned as is.
      stack.push((ctx) =>
        handler(ctx, {
          params: params ? parseOrThrow(params, ctx.params, 'path') : EMPTY,
          query: parseQuery(ctx),
          body: body ? parseOrThrow(body, ctx.request.body ?? {}, 'body') : undefined,
        }),
      );
      const layer = compiler.register(route.path, [route.method.toUpperCase()], stack as never, { name: `${route.method} ${route.path}` }) as Layer<AppState, AppContext>;
      compiled.push({ layer, methods: new Set(layer.methods), template: route.path, hasParams: layer.paramNames.length > 0, run: chain(stack) });
    }
    // Every route a registered static path matches, computed once: the common case is a map lookup.
    const exact = new Map<string, CompiledRoute[]>();
    for (const r of compiled) {
      if (!r.hasParams) exact.set(r.template, compiled.filter((c) => c.layer.match(r.template)));
    }
    const NO_PARAMS = Object.freeze({}) as Record<string, string>;
    return (ctx, next) => {
      const path = ctx.path;
      const matched = exact.get(path) ?? compiled.filter((c) => c.layer.match(path));
      const method = ctx.method;
      if (matched.length === 0 && IMPLEMENTED.has(method)) return next();
      for (const r of matched) {
        if (r.methods.has(method)) {
          ctx.params = r.hasParams ? r.layer.params(path, r.layer.captures(path)) : NO_PARAMS;
          (ctx as { _matchedRoute?: string })._matchedRoute = r.template;
          return r.run(ctx);
        }
      }
      const allow = [...new Set(matched.flatMap((r) => r.layer.methods))].join(', ');
      ctx.set('Allow', allow);
      if (!IMPLEMENTED.has(method)) ctx.status = 501;
      else if (method === 'OPTIONS') {
        ctx.status = 200;
        ctx.body = '';
      } else ctx.status = 405;
      return undefined;
    };
  }
}
