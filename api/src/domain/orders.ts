import { createHash } from 'node:crypto';
import type { Db } from '../data/db.js';
import { cartLinesForOrder, clearCart } from '../data/repos/carts.js';
import { findKey, purgeOldKeys, storeKey, tryLockKey } from '../data/repos/idempotency.js';
import { getOrder, insertOrder, listOrdersOfUser, lockOrder, orderLines, setOrderStatus, type NewOrderLine, type OrderRow, type OrderStatus } from '../data/repos/orders.js';
import { productStock, restock, takeStock } from '../data/repos/products.js';
import { DomainError, notFound } from './errors.js';
import type { StockChange } from './catalog.js';

export type { OrderRow, OrderStatus };

export interface OrderLineInput {
  product_id: number;
  quantity: number;
}

export interface PlaceOrderResult {
  status: number;
  body: unknown;
  replayed: boolean;
}

export interface OrderEvents {
  orderCreated(total: string): void;
  stockChanged(change: StockChange): Promise<void>;
}

/** pending -> paid -> shipped -> delivered; pending or paid -> cancelled. Nothing leaves delivered or cancelled. */
export const TRANSITIONS: Readonly<Record<OrderStatus, readonly OrderStatus[]>> = {
  pending: ['paid', 'cancelled'],
  paid: ['shipped', 'cancelled'],
  shipped: ['delivered'],
  delivered: [],
  cancelled: [],
};

/** What a shopper may do to their own order: cancel it while it is pending. */
const SHOPPER_TRANSITIONS: Readonly<Record<OrderStatus, readonly OrderStatus[]>> = {
  pending: ['cancelled'],
  paid: [],
  shipped: [],
  delivered: [],
  cancelled: [],
};

/** Sorted JSON with no whitespace: two bodies with the same meaning get the same fingerprint. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Lines for the same product are merged; sorted by product id so concurrent orders lock rows in one order (no deadlock). */
export function mergeLines(lines: OrderLineInput[]): OrderLineInput[] {
  const merged = new Map<number, number>();
  for (const l of lines) merged.set(l.product_id, (merged.get(l.product_id) ?? 0) + l.quantity);
  return [...merged.entries()].map(([product_id, quantity]) => ({ product_id, quantity })).sort((a, b) => a.product_id - b.product_id);
}

const PURGE_EVERY_MS = 10 * 60_000;

export class OrderService {
  private lastPurge = 0;

  constructor(
    private readonly db: Db,
    private readonly events: OrderEvents,
  ) {}

  /**
   * One transaction: idempotency check, stock taken line by line with a conditional UPDATE, order
   * and lines inserted, cart emptied, response stored under the key. Any failure changes nothing.
   */
  async place(userId: number, request: { items?: OrderLineInput[] }, idempotencyKey?: string): Promise<PlaceOrderResult> {
    const fingerprint = idempotencyKey === undefined ? '' : createHash('sha256').update(canonicalJson(request)).digest('hex');
    const result = await this.db.tx('place-order', async (t) => {
      if (idempotencyKey !== undefined) {
        if (!(await tryLockKey(t, userId, idempotencyKey))) {
          throw new DomainError('idempotency_key_in_use', 'a request with this Idempotency-Key is still being processed; retry later');
        }
        const stored = await findKey(t, userId, idempotencyKey);
        if (stored) {
          if (stored.fingerprint !== fingerprint) {
            throw new DomainError('idempotency_key_reused', 'this Idempotency-Key was used with a different request body; use a new key for a new order');
          }
          return { status: stored.response_status, body: stored.response_body, replayed: true, order: null, stock: null };
        }
      }
      const fromCart = request.items === undefined;
      const lines = mergeLines(fromCart ? await cartLinesForOrder(t, userId) : request.items!);
      if (lines.length === 0) throw new DomainError('cart_empty', fromCart ? 'the cart is empty: add products first or send items' : 'the order has no items');
      const taken: NewOrderLine[] = [];
      let soldOut = false;
      for (const line of lines) {
        const product = await takeStock(t, line.product_id, line.quantity);
        if (!product) {
          const current = await productStock(t, line.product_id);
          if (!current) throw new DomainError('product_not_found', `product ${line.product_id} does not exist`, { product_id: line.product_id });
          throw new DomainError(
            'insufficient_stock',
            `not enough stock for "${current.name}" (product ${current.id}): ${line.quantity} requested, ${current.stock} available`,
            { product: { id: current.id, name: current.name }, requested: line.quantity, available: current.stock },
          );
        }
        if (product.stock === 0) soldOut = true;
        taken.push({ product_id: product.id, name: product.name, unit_price: product.price, quantity: line.quantity });
      }
      const order = await insertOrder(t, userId, taken);
      if (fromCart) await clearCart(t, userId);
      // Stored as the exact JSON text the first response sends, so a replay is byte-identical.
      const body = JSON.parse(JSON.stringify(order)) as unknown;
      if (idempotencyKey !== undefined) await storeKey(t, userId, idempotencyKey, fingerprint, 201, body);
      return { status: 201, body, replayed: false, order, stock: { productIds: taken.map((l) => l.product_id), availabilityChanged: soldOut } };
    });
    if (result.order) {
      this.events.orderCreated(result.order.total);
      await this.events.stockChanged(result.stock);
      this.maybePurgeKeys();
    }
    return { status: result.status, body: result.body, replayed: result.replayed };
  }

  async get(orderId: number, viewer: { id: number; isAdmin: boolean }): Promise<OrderRow> {
    const order = await getOrder(this.db, orderId);
    // Another user's order is indistinguishable from a missing one.
    if (!order || (order.user_id !== viewer.id && !viewer.isAdmin)) throw notFound('order', orderId);
    return order;
  }

  listMine(userId: number, limit: number, offset: number): Promise<{ items: OrderRow[]; total: number }> {
    return listOrdersOfUser(this.db, userId, limit, offset);
  }

  /** A shopper cancels an order of their own while it is still pending (paid ones go through the shop). */
  cancelMine(orderId: number, userId: number): Promise<OrderRow> {
    return this.changeStatus(orderId, 'cancelled', { ownerId: userId, transitions: SHOPPER_TRANSITIONS });
  }

  /** Cancel restocks in the same transaction, exactly once: the order row is locked first. */
  async changeStatus(orderId: number, next: OrderStatus, as: { ownerId?: number; transitions?: typeof TRANSITIONS } = {}): Promise<OrderRow> {
    const transitions = as.transitions ?? TRANSITIONS;
    const restocked: number[] = [];
    let backInStock = false;
    const order = await this.db.tx('order-status', async (t) => {
      const current = await lockOrder(t, orderId);
      // Another user's order is indistinguishable from a missing one.
      if (!current || (as.ownerId !== undefined && current.user_id !== as.ownerId)) throw notFound('order', orderId);
      if (!transitions[current.status].includes(next)) {
        const allowed = transitions[current.status];
        throw new DomainError(
          'invalid_transition',
          `an order cannot go from ${current.status} to ${next}${allowed.length ? `; allowed: ${allowed.join(', ')}` : `; ${current.status} is final`}`,
          { current_status: current.status, requested_status: next },
        );
      }
      if (next === 'cancelled') {
        for (const line of await orderLines(t, orderId)) {
          if (await restock(t, line.product_id, line.quantity)) backInStock = true;
          restocked.push(line.product_id);
        }
      }
      return setOrderStatus(t, orderId, next);
    });
    if (next === 'cancelled') await this.events.stockChanged({ productIds: restocked, availabilityChanged: backInStock });
    return order;
  }

  private maybePurgeKeys(): void {
    const now = Date.now();
    if (now - this.lastPurge < PURGE_EVERY_MS) return;
    this.lastPurge = now;
    purgeOldKeys(this.db).catch(() => undefined);
  }
}
