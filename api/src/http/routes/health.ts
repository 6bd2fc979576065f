import { z } from 'zod';
import type { RouteRegistry } from '../registry.js';
import type { HealthReport, HealthService } from '../../domain/health.js';
import { DomainError } from '../../domain/errors.js';
import type { Logger } from '../../observability/logger.js';
import { sendProblem } from '../middleware/errors.js';
import { Problem } from '../schemas.js';

// Status and latency only: why a dependency is down goes to the log (with the request id), never to the public.
const Check = z.object({ status: z.enum(['up', 'down']), latency_ms: z.number().min(0) });
const Checks = z.object({ database: Check, redis: Check });
export const HealthSchema = z.object({
  status: z.enum(['ok', 'degraded']),
  checks: Checks,
  version: z.string(),
  uptime_s: z.number().int().min(0),
});
const HealthProblem = z
  .object({ ...Problem.shape, code: z.literal('service_unavailable'), checks: Checks, version: z.string(), uptime_s: z.number().int().min(0) })
  .loose()
  .meta({ description: 'service_unavailable: the database is unreachable; checks tells which dependency is down' });
const Simple = z.object({ status: z.string() });

/** The public view of a report: what each check found, without the error text. */
function publicChecks(report: HealthReport): z.infer<typeof Checks> {
  const view = (c: HealthReport['checks']['database']) => ({ status: c.status, latency_ms: c.latency_ms });
  return { database: view(report.checks.database), redis: view(report.checks.redis) };
}

export function healthRoutes(r: RouteRegistry, health: HealthService, logger: Logger): void {
  r.add({
    method: 'get',
    path: '/health',
    tag: 'health',
    summary: 'Dependency health',
    description: 'PostgreSQL down -> 503; Redis down -> 200 "degraded" (the API keeps serving from PostgreSQL).',
    auth: 'public',
    responses: {
      200: { description: 'Serving (ok or degraded)', schema: HealthSchema, headers: ['Cache-Control'] },
      503: { description: 'service_unavailable: the database is unreachable', codes: ['service_unavailable'], schema: HealthProblem, component: 'HealthProblem' },
    },
    async handler(ctx) {
      const report = await health.report();
      ctx.set('Cache-Control', 'no-store');
      const failed = Object.entries(report.checks).filter(([, c]) => c.error !== undefined);
      if (failed.length > 0) {
        logger.warn({ req_id: ctx.state.requestId, checks: Object.fromEntries(failed.map(([name, c]) => [name, c.error])) }, 'health check failed');
      }
      const checks = publicChecks(report);
      if (report.status === 'down') {
        ctx.set('Retry-After', '5');
        sendProblem(ctx, new DomainError('service_unavailable', `the database is unreachable (request id ${ctx.state.requestId})`, { checks, version: report.version, uptime_s: report.uptime_s }));
        return;
      }
      ctx.body = { status: report.status, checks, version: report.version, uptime_s: report.uptime_s };
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
