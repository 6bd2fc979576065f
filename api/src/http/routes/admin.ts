import type { AdminService } from '../../domain/admin.js';
import type { RouteRegistry } from '../registry.js';
import { Analytics, AnalyticsQuery, Dashboard } from '../schemas.js';

export function adminRoutes(r: RouteRegistry, admin: AdminService): void {
  r.add({
    method: 'get',
    path: '/admin/dashboard',
    tag: 'admin',
    summary: 'Counts for today (UTC) and low-stock products (stock <= 5)',
    auth: 'admin',
    responses: { 200: { description: 'Dashboard', schema: Dashboard } },
    async handler(ctx) {
      ctx.body = await admin.dashboard();
    },
  });
  r.add({
    method: 'get',
    path: '/admin/analytics',
    tag: 'admin',
    summary: 'Sales by day, top products and average order value over the last `days` UTC days (cancelled orders excluded)',
    auth: 'admin',
    query: AnalyticsQuery,
    responses: { 200: { description: 'Analytics', schema: Analytics } },
    async handler(ctx, { query }) {
      ctx.body = await admin.analytics(query.days);
    },
  });
}
