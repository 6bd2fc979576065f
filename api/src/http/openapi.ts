import { z } from 'zod';
import type { AnyRoute, RouteRegistry } from './registry.js';
import { PROBLEM_CONTENT_TYPE } from './problem.js';
import { Problem } from './schemas.js';

type JsonSchema = Record<string, unknown>;

function schemaOf(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const json = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as JsonSchema;
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
    const description = typeof json.description === 'string' ? json.description : undefined;
    out.push({ name, in: 'query', required: !s.safeParse(undefined).success, schema: json, ...(description ? { description } : {}) });
  }
  for (const h of route.headers ?? []) out.push({ name: h.name, in: 'header', required: h.required ?? false, description: h.description, schema: h.schema });
  return out;
}

const problemRef = { $ref: '#/components/schemas/Problem' };
const problemResponse = (description: string) => ({ description, content: { [PROBLEM_CONTENT_TYPE]: { schema: problemRef } } });

function responses(route: AnyRoute): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [status, spec] of Object.entries(route.responses)) {
    if (Number(status) >= 400) {
      out[status] = problemResponse(spec.description);
      continue;
    }
    const entry: Record<string, unknown> = { description: spec.description };
    if (spec.schema) {
      const content: Record<string, unknown> = {};
      if (spec.contentType) content[spec.contentType] = { schema: { type: 'string' } };
      content['application/json'] = { schema: schemaOf(spec.schema, 'output') };
      entry.content = content;
    }
    out[status] = entry;
  }
  // Answers every route can give, documented once here.
  if (route.params || route.query || route.body || route.headers) out['422'] ??= problemResponse('validation_failed: errors[] lists each {path, message}');
  if (route.body) {
    out['400'] ??= problemResponse('invalid_json: the body is not valid JSON');
    out['413'] ??= problemResponse('payload_too_large: the body exceeds 1 MB');
    out['415'] ??= problemResponse('unsupported_media_type: the body is not application/json');
  }
  if (route.auth !== 'public') out['401'] ??= problemResponse('unauthenticated: missing, invalid, expired or revoked token');
  if (route.auth === 'admin') out['403'] ??= problemResponse('forbidden: administrators only');
  if (!route.path.startsWith('/health') && route.path !== '/metrics') out['429'] ??= problemResponse('rate_limited: see Retry-After');
  return out;
}

/** OpenAPI 3.1 generated from the registry: every route the router serves is here, with the schemas that validate it. */
export function buildOpenApi(registry: RouteRegistry, info: { version: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of registry.routes) {
    const path = route.path.replace(/:(\w+)/g, '{$1}');
    const op: Record<string, unknown> = {
      operationId: `${route.method}${route.path.replace(/[/:](\w)/g, (_, c: string) => c.toUpperCase()).replace(/[^A-Za-z0-9]/g, '')}`,
      summary: route.summary,
      tags: [route.tag],
      parameters: parameters(route),
      responses: responses(route),
    };
    if (route.description) op.description = route.description;
    if (route.auth !== 'public') op.security = [{ bearerAuth: [] }];
    if (route.body) op.requestBody = { required: true, content: { 'application/json': { schema: schemaOf(route.body, 'input') } } };
    (paths[path] ??= {})[route.method] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Shop API',
      version: info.version,
      description: 'E-commerce REST API. Errors are application/problem+json (RFC 9457) with a machine-readable `code`. Money is a decimal string ("19.99"); timestamps are UTC ISO 8601.',
    },
    paths,
    components: {
      schemas: { Problem: schemaOf(Problem, 'output') },
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    },
  };
}
