import type { AuthService } from '../../domain/auth.js';
import { DomainError } from '../../domain/errors.js';
import type { OrderService } from '../../domain/orders.js';
import { fieldErrors, type RouteRegistry } from '../registry.js';
import { IdParams, IdempotencyKey, Order, OrderCreate, OrderList, OrderListQuery, OrderStatusBody } from '../schemas.js';

export function orderRoutes(r: RouteRegistry, orders: OrderService, auth: AuthService): void {
  r.add({
    method: 'post',
    path: '/orders',
    tag: 'orders',
    summary: 'Place an order from the cart (emptied) or from the given items',
    description:
      'Stock is taken atomically; if any line cannot be served the whole order fails with 409 insufficient_stock naming the product, and nothing changes. ' +
      'With an Idempotency-Key, a retry returns the first response (header Idempotent-Replayed: true); the same key with another body -> 422; while the first is still running -> 409.',
    auth: 'user',
    body: OrderCreate,
    headers: [{ name: 'Idempotency-Key', description: 'a unique key per intended order (e.g. a UUID), kept 24 h', schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[!-~]+$' } }],
    responses: {
      201: { description: 'Created (or replayed)', schema: Order, headers: ['Location', 'Idempotent-Replayed'] },
      404: { description: 'product_not_found', codes: ['product_not_found'] },
      409: { description: 'insufficient_stock (product in the body) or idempotency_key_in_use', codes: ['insufficient_stock', 'idempotency_key_in_use'] },
      422: { description: 'validation_failed, cart_empty or idempotency_key_reused', codes: ['cart_empty', 'idempotency_key_reused'] },
    },
    async handler(ctx, { body }) {
      const rawKey = ctx.get('idempotency-key');
      let key: string | undefined;
      if (rawKey !== '') {
        const parsed = IdempotencyKey.safeParse(rawKey);
        if (!parsed.success) {
          const errors = fieldErrors(parsed.error, 'header.Idempotency-Key');
          throw new DomainError('validation_failed', 'the Idempotency-Key header is invalid: it must be 1-255 printable ASCII characters', undefined, errors);
        }
        key = parsed.data;
      }
      const result = await orders.place(ctx.state.user!.id, body, key);
      ctx.status = result.status;
      if (result.replayed) ctx.set('Idempotent-Replayed', 'true');
      const order = result.body as { id: number };
      ctx.set('Location', `/orders/${order.id}`);
      ctx.body = result.body;
    },
  });
  r.add({
    method: 'get',
    path: '/orders',
    tag: 'orders',
    summary: 'My orders, newest first',
    auth: 'user',
    query: OrderListQuery,
    responses: { 200: { description: 'A page of orders', schema: OrderList } },
    async handler(ctx, { query }) {
      const page = await orders.listMine(ctx.state.user!.id, query.limit, query.offset);
      ctx.body = { ...page, limit: query.limit, offset: query.offset };
    },
  });
  r.add({
    method: 'get',
    path: '/orders/:id',
    tag: 'orders',
    summary: 'One of my orders (admins: any order)',
    auth: 'user',
    params: IdParams,
    responses: { 200: { description: 'The order', schema: Order }, 404: { description: 'order_not_found (also for another user\'s order)', codes: ['order_not_found'] } },
    async handler(ctx, { params }) {
      const user = ctx.state.user!;
      const isAdmin = user.role === 'admin' && (await auth.isAdmin(user.id));
      ctx.body = await orders.get(params.id, { id: user.id, isAdmin });
    },
  });
  r.add({
    method: 'put',
    path: '/orders/:id/status',
    tag: 'orders',
    summary: 'Move an order along pending -> paid -> shipped -> delivered, or cancel it (admin)',
    description: 'pending or paid -> cancelled restocks the products in the same transaction. Any other transition -> 409 invalid_transition.',
    auth: 'admin',
    params: IdParams,
    body: OrderStatusBody,
    responses: { 200: { description: 'The order after the change', schema: Order }, 404: { description: 'order_not_found', codes: ['order_not_found'] }, 409: { description: 'invalid_transition', codes: ['invalid_transition'] } },
    async handler(ctx, { params, body }) {
      ctx.body = await orders.changeStatus(params.id, body.status);
    },
  });
  r.add({
    method: 'post',
    path: '/orders/:id/cancel',
    tag: 'orders',
    summary: 'Cancel one of my orders while it is pending',
    description: 'Restocks the products in the same transaction, exactly once. An order that is no longer pending -> 409 invalid_transition (ask the shop). Another user\'s order -> 404.',
    auth: 'user',
    params: IdParams,
    responses: { 200: { description: 'The cancelled order', schema: Order }, 404: { description: 'order_not_found (also for another user\'s order)', codes: ['order_not_found'] }, 409: { description: 'invalid_transition', codes: ['invalid_transition'] } },
    async handler(ctx, { params }) {
      ctx.body = await orders.cancelMine(params.id, ctx.state.user!.id);
    },
  });
}
