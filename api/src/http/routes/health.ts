import { z } from 'zod';
import type { RouteRegistry } from '../registry.js';
import type { HealthService } from '../../domain/health.js';

const Check = z.object({ status: z.enum(['up', 'down']), latency_ms: z.number(), error: z.string().optional() });
export const HealthSchema = z.object({
  status: z.enum(['ok', 'degraded', 'down']),
  checks: z.object({ database: Check, redis: Check }),
  version: z.string(),
  uptime_s: z.number(),
});
const Simple = z.object({ status: z.string() });

export function healthRoutes(r: RouteRegistry, health: HealthService): void {
  r.add({
    method: 'get',
    path: '/health',
    tag: 'health',
    summary: 'Dependency health',
    description: 'PostgreSQL down -> 503; Redis down -> 200 "degraded" (the API keeps serving from PostgreSQL).',
    auth: 'public',
    responses: {
      200: { description: 'Serving (ok or degraded)', schema: HealthSchema },
      503: { description: 'The database is unreachable', schema: HealthSchema },
    },
    async handler(ctx) {
      const report = await health.report();
      ctx.status = report.status === 'down' ? 503 : 200;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = report;
    },
  });
  r.add({
    method: 'get',
    path: '/health/live',
    tag: 'health',
    summary: 'Liveness: the process answers',
    auth: 'public',
    responses: { 200: { description: 'Alive', schema: Simple } },
    handler(ctx) {
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { status: 'ok' };
    },
  });
  r.add({
    method: 'get',
    path: '/health/ready',
    tag: 'health',
    summary: 'Readiness: the database answers and the process is not shutting down',
    auth: 'public',
    responses: {
      200: { description: 'Ready for traffic', schema: Simple },
      503: { description: 'Shutting down or database unreachable', schema: Simple },
    },
    async handler(ctx) {
      const ready = await health.ready();
      ctx.set('Cache-Control', 'no-store');
      ctx.status = ready.ok ? 200 : 503;
      ctx.body = { status: ready.ok ? 'ready' : ready.reason };
    },
  });
}
