import { z } from 'zod';
import type { ErrorCode } from '../domain/errors.js';
import type { AnyRoute, ResponseHeader, RouteRegistry } from './registry.js';
import { PROBLEM_CONTENT_TYPE, PROBLEMS } from './problem.js';
import {
  CartItemNotFoundProblem,
  INTEGER_PARAMS,
  InsufficientStockProblem,
  InvalidTransitionProblem,
  OrderNotFoundProblem,
  Problem,
  ProductNotFoundProblem,
  ValidationProblem,
} from './schemas.js';

type JsonSchema = Record<string, unknown>;

/** Problem codes whose body has extension members of its own: each has its own schema. */
const PROBLEM_COMPONENTS: Partial<Record<ErrorCode, [string, z.ZodType]>> = {
  validation_failed: ['ValidationProblem', ValidationProblem],
  insufficient_stock: ['InsufficientStockProblem', InsufficientStockProblem],
  product_not_found: ['ProductNotFoundProblem', ProductNotFoundProblem],
  order_not_found: ['OrderNotFoundProblem', OrderNotFoundProblem],
  cart_item_not_found: ['CartItemNotFoundProblem', CartItemNotFoundProblem],
  invalid_transition: ['InvalidTransitionProblem', InvalidTransitionProblem],
};

const HEADERS: Record<string, JsonSchema> = {
  'X-Request-Id': { description: 'The request id (yours when you sent a sane X-Request-Id, else a UUID); quote it when reporting a problem', schema: { type: 'string' } },
  'Retry-After': { description: 'Seconds to wait before retrying', required: true, schema: { type: 'integer', minimum: 0 } },
  'RateLimit-Limit': { description: 'Requests allowed per window', schema: { type: 'integer', minimum: 1 } },
  'RateLimit-Remaining': { description: 'Requests left in the window', schema: { type: 'integer', minimum: 0 } },
  'RateLimit-Reset': { description: 'Seconds until the window resets', schema: { type: 'integer', minimum: 0 } },
  'WWW-Authenticate': { description: 'Always `Bearer`: send Authorization: Bearer <access_token>', required: true, schema: { type: 'string', const: 'Bearer' } },
  Location: { description: 'URL path of the created resource', required: true, schema: { type: 'string', format: 'uri-reference' } },
  'Idempotent-Replayed': { description: '`true` when this is the stored answer to an earlier request with the same Idempotency-Key', schema: { type: 'string', const: 'true' } },
  'Cache-Control': { description: 'How long a client or proxy may keep the answer', schema: { type: 'string' } },
};
const headerRef = (name: string) => ({ $ref: `#/components/headers/${name}` });

/** Path and query integers travel as text but are integers with a range: show them so (see intString). */
function integerParams(ctx: { zodSchema: unknown; jsonSchema: JsonSchema }): void {
  const range = INTEGER_PARAMS.get(ctx.zodSchema as object);
  if (!range) return;
  delete ctx.jsonSchema.pattern;
  Object.assign(ctx.jsonSchema, { type: 'integer', ...range });
}

/** PostgreSQL text cannot hold NUL, so the API refuses it in any string it is sent (registry.ts): say so. */
const NO_NUL = '^[^\\u0000]*$';

function noNul(ctx: { jsonSchema: JsonSchema }): void {
  const s = ctx.jsonSchema;
  if (s.type === 'string' && s.pattern === undefined && s.enum === undefined && s.const === undefined) s.pattern = NO_NUL;
}

function schemaOf(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const override = io === 'input' ? (ctx: { zodSchema: unknown; jsonSchema: JsonSchema }) => (integerParams(ctx), noNul(ctx)) : integerParams;
  const json = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any', override }) as JsonSchema;
  delete json.$schema;
  return json;
}

function objectShape(schema: z.ZodType): Record<string, z.ZodType> {
  return schema instanceof z.ZodObject ? (schema.shape as Record<string, z.ZodType>) : {};
}

function parameters(route: AnyRoute): unknown[] {
  const out: unknown[] = [];
  for (const [name, s] of Object.entries(route.params ? objectShape(route.params) : {})) {
    out.push({ name, in: 'path', required: true, schema: schemaOf(s, 'input') });
  }
  for (const [name, s] of Object.entries(route.query ? objectShape(route.query) : {})) {
    const json = schemaOf(s, 'input');
    const fallback = s.safeParse(undefined);
    if (fallback.success && fallback.data !== undefined) json.default ??= fallback.data;
    const description = typeof json.description === 'string' ? json.description : undefined;
    out.push({ name, in: 'query', required: !s.safeParse(undefined).success, schema: json, ...(description ? { description } : {}) });
  }
  for (const h of route.headers ?? []) out.push({ name: h.name, in: 'header', required: h.required ?? false, description: h.description, schema: h.schema });
  return out;
}

const BODY_METHODS = new Set(['post', 'put']);
/** Routes that read neither PostgreSQL nor Redis: they cannot answer 503. */
const STATIC_PATHS = new Set(['/health/live', '/openapi.json', '/docs', '/docs/:asset']);
/** Routes the global rate limiter skips (rateLimit.ts). */
const UNLIMITED_PATHS = /^\/(health|metrics)(\/|$)/;

/** Every problem code a route can answer, by status: its own plus those every route of its kind gives. */
function problemCodes(route: AnyRoute): Map<number, { codes: Set<ErrorCode>; description?: string; schema?: z.ZodType; component?: string }> {
  const out = new Map<number, { codes: Set<ErrorCode>; description?: string; schema?: z.ZodType; component?: string }>();
  const add = (code: ErrorCode) => {
    const status = PROBLEMS[code].status;
    const entry = out.get(status) ?? { codes: new Set<ErrorCode>() };
    entry.codes.add(code);
    out.set(status, entry);
  };
  for (const [status, spec] of Object.entries(route.responses)) {
    if (Number(status) < 400 || !spec.codes) continue;
    for (const code of spec.codes) {
      if (PROBLEMS[code].status !== Number(status)) throw new Error(`${route.method} ${route.path}: ${code} is a ${PROBLEMS[code].status}, not a ${status}`);
      add(code);
    }
    Object.assign(out.get(Number(status))!, { description: spec.description, schema: spec.schema, component: spec.component });
  }
  if (route.params || route.query || route.body || route.headers) add('validation_failed');
  if (BODY_METHODS.has(route.method)) {
    add('invalid_json');
    add('payload_too_large');
    add('unsupported_media_type');
  }
  if (route.auth !== 'public') add('unauthenticated');
  if (route.auth === 'admin') add('forbidden');
  if (!UNLIMITED_PATHS.test(route.path)) add('rate_limited');
  add('internal_error');
  if (!STATIC_PATHS.has(route.path) && !route.responses[503]) add('service_unavailable');
  return out;
}

function problemSchema(codes: ErrorCode[]): JsonSchema {
  const variants: JsonSchema[] = [];
  const plain: ErrorCode[] = [];
  for (const code of codes) {
    const component = PROBLEM_COMPONENTS[code];
    if (component) variants.push({ $ref: `#/components/schemas/${component[0]}` });
    else plain.push(code);
  }
  if (plain.length > 0) {
    variants.push({ allOf: [{ $ref: '#/components/schemas/Problem' }, { type: 'object', properties: { code: { enum: plain } } }] });
  }
  // The codes are disjoint, so exactly one variant matches a body.
  return variants.length === 1 ? variants[0]! : { oneOf: variants };
}

const STATUS_HEADERS: Record<number, string[]> = {
  401: ['WWW-Authenticate'],
  429: ['Retry-After', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset'],
  503: ['Retry-After'],
};

function responses(route: AnyRoute, components: Record<string, JsonSchema>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const headersOf = (names: readonly string[]) => Object.fromEntries(['X-Request-Id', ...names].map((n) => [n, headerRef(n)]));
  for (const [status, spec] of Object.entries(route.responses)) {
    if (Number(status) >= 400) continue;
    const entry: Record<string, unknown> = { description: spec.description, headers: headersOf(spec.headers ?? ([] as ResponseHeader[])) };
    const content: Record<string, unknown> = {};
    for (const type of [spec.contentType ?? []].flat()) content[type] = { schema: { type: 'string' } };
    if (spec.schema) content['application/json'] = { schema: schemaOf(spec.schema, 'output') };
    if (Object.keys(content).length > 0) entry.content = content;
    out[status] = entry;
  }
  for (const [status, { codes, description, schema, component }] of [...problemCodes(route)].sort(([a], [b]) => a - b)) {
    const list = [...codes];
    let body: JsonSchema;
    if (schema) {
      const name = component ?? `${route.method}${status}Problem`;
      components[name] = schemaOf(schema, 'output');
      body = { $ref: `#/components/schemas/${name}` };
    } else body = problemSchema(list);
    out[String(status)] = {
      description: description ?? list.join(', '),
      headers: headersOf(STATUS_HEADERS[status] ?? []),
      content: { [PROBLEM_CONTENT_TYPE]: { schema: body } },
    };
  }
  return out;
}

const TAGS: Record<string, string> = {
  health: 'Liveness, readiness and dependency health (never rate limited)',
  observability: 'Prometheus metrics',
  auth: 'Accounts and bearer tokens',
  catalogue: 'Products and categories (writes: administrators)',
  cart: "The signed-in shopper's cart",
  orders: 'Placing and following orders',
  admin: 'Dashboard and analytics for administrators',
  docs: 'This document and its interactive page',
};

const DESCRIPTION = `E-commerce REST API.

Errors are \`application/problem+json\` (RFC 9457) with a machine-readable \`code\`; a problem may carry
extension members, and those that do have their own schema here (e.g. \`insufficient_stock\` names the
product, \`validation_failed\` lists each invalid field in \`errors\`). Besides what each operation lists:
a path that exists with other methods answers 405 \`method_not_allowed\` with an \`Allow\` header, a
method the server does not implement 501 \`not_implemented\`, and an unknown path 404 \`not_found\`.

Money is a decimal string ("19.99"), never a JSON number; timestamps are UTC ISO 8601.`;

/** OpenAPI 3.1 generated from the registry: every route the router serves is here, with the schemas that validate it. */
export function buildOpenApi(registry: RouteRegistry, info: { version: string }): Record<string, unknown> {
  const schemas: Record<string, JsonSchema> = { Problem: schemaOf(Problem, 'output') };
  for (const [name, schema] of Object.values(PROBLEM_COMPONENTS)) schemas[name] = schemaOf(schema, 'output');
  const paths: Record<string, Record<string, unknown>> = {};
  const tags = new Set<string>();
  for (const route of registry.routes) {
    const path = route.path.replace(/:(\w+)/g, '{$1}');
    tags.add(route.tag);
    const op: Record<string, unknown> = {
      operationId: `${route.method}${route.path.replace(/[/:](\w)/g, (_, c: string) => c.toUpperCase()).replace(/[^A-Za-z0-9]/g, '')}`,
      summary: route.summary,
      tags: [route.tag],
      parameters: parameters(route),
      responses: responses(route, schemas),
      security: route.auth === 'public' ? [] : [{ bearerAuth: [] }],
    };
    if (route.description) op.description = route.description;
    if (route.body) op.requestBody = { required: true, content: { 'application/json': { schema: schemaOf(route.body, 'input') } } };
    (paths[path] ??= {})[route.method] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Shop API',
      version: info.version,
      description: DESCRIPTION,
      license: { name: 'MIT', identifier: 'MIT' },
    },
    // Relative: the document is served by the API it describes, wherever that is (directly or behind the proxy).
    servers: [{ url: '/', description: 'the server that serves this document' }],
    security: [],
    tags: [...tags].map((name) => ({ name, description: TAGS[name] ?? name })),
    paths,
    components: {
      schemas,
      headers: HEADERS,
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'POST /auth/login returns the token' } },
    },
  };
}
