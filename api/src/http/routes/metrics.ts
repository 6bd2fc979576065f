import { z } from 'zod';
import type { RouteRegistry } from '../registry.js';
import type { Metrics } from '../../observability/metrics.js';

const Summary = z.object({
  http_requests_total: z.number(),
  active_users: z.number(),
  products_in_stock: z.number(),
  orders_today: z.number(),
  cache_hit_ratio: z.number(),
  response_time_avg: z.number().describe('seconds'),
  error_rate: z.number().describe('share of responses with a 5xx status'),
});

export function metricsRoutes(r: RouteRegistry, metrics: Metrics): void {
  r.add({
    method: 'get',
    path: '/metrics',
    tag: 'observability',
    summary: 'Prometheus metrics (or a JSON summary with Accept: application/json)',
    auth: 'public',
    responses: {
      200: { description: 'Prometheus text exposition format, or the JSON summary', contentType: 'text/plain', schema: Summary },
    },
    async handler(ctx) {
      ctx.set('Cache-Control', 'no-store');
      if (ctx.accepts('text/plain', 'application/json') === 'application/json' && !ctx.get('accept').includes('text/plain')) {
        ctx.body = await metrics.summary();
        return;
      }
      const text = await metrics.registry.metrics();
      ctx.type = metrics.registry.contentType;
      ctx.body = text;
    },
  });
}
