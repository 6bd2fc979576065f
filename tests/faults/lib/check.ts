// Checks a recorded history against the database afterwards: acknowledged orders exist with
// their lines, acknowledged cancellations hold, one order per Idempotency-Key at most, and stock
// is conserved (initial stock minus the quantities of live orders) whatever the unknown outcomes.
import type { Attempt } from './history.js';

export interface DbOrder {
  id: number;
  user_id: number;
  status: string;
  items: Array<{ product_id: number; quantity: number }>;
}

export interface DbState {
  orders: DbOrder[];
  stock: Array<{ id: number; stock: number; live: number }>;
  keys: Array<{ user_id: number; key: string; status: number; order_id: number | null }>;
}

/** One JSON document with everything the check reads, for the given shoppers and products. */
export function stateSql(userIds: readonly number[], productIds: readonly number[]): string {
  const users = userIds.map(Number).join(',');
  const products = productIds.map(Number).join(',');
  return `SELECT json_build_object(
    'orders', (SELECT coalesce(json_agg(json_build_object('id', o.id, 'user_id', o.user_id, 'status', o.status,
        'items', (SELECT coalesce(json_agg(json_build_object('product_id', i.product_id, 'quantity', i.quantity) ORDER BY i.product_id), '[]') FROM order_items i WHERE i.order_id = o.id))), '[]')
      FROM orders o WHERE o.user_id IN (${users})),
    'stock', (SELECT json_agg(json_build_object('id', p.id, 'stock', p.stock, 'live',
        (SELECT coalesce(sum(i.quantity), 0) FROM order_items i JOIN orders o ON o.id = i.order_id WHERE i.product_id = p.id AND o.status <> 'cancelled'))) FROM products p WHERE p.id IN (${products})),
    'keys', (SELECT coalesce(json_agg(json_build_object('user_id', k.user_id, 'key', k.key, 'status', k.response_status, 'order_id', (k.response_body->>'id')::int)), '[]')
      FROM idempotency_keys k WHERE k.user_id IN (${users}))
  )`;
}

/** Problems found (empty: the history is consistent with the database). */
export function checkHistory(attempts: readonly Attempt[], db: DbState, initialStock: number): string[] {
  const problems: string[] = [];
  const orders = new Map(db.orders.map((o) => [o.id, o]));
  const keys = new Map(db.keys.map((k) => [`${k.user_id}/${k.key}`, k]));
  const acknowledgedByKey = new Map<string, Set<number>>();
  for (const a of attempts) {
    if (a.kind === 'order' && a.status === 201 && a.orderId !== undefined) {
      const o = orders.get(a.orderId);
      if (!o) {
        problems.push(`order ${a.orderId} was acknowledged (201) but does not exist`);
        continue;
      }
      if (o.user_id !== a.user) problems.push(`order ${a.orderId} belongs to user ${o.user_id}, not ${a.user}`);
      const want = JSON.stringify([...(a.items ?? [])].sort((x, y) => x.product_id - y.product_id));
      if (JSON.stringify(o.items) !== want) problems.push(`order ${a.orderId} has lines ${JSON.stringify(o.items)}, acknowledged ${want}`);
      const k = `${a.user}/${a.key}`;
      acknowledgedByKey.set(k, (acknowledgedByKey.get(k) ?? new Set()).add(a.orderId));
    }
    if (a.kind === 'cancel' && a.status === 200 && a.orderId !== undefined && orders.get(a.orderId)?.status !== 'cancelled') {
      problems.push(`order ${a.orderId}: cancellation acknowledged, status is ${orders.get(a.orderId)?.status ?? 'missing'}`);
    }
  }
  for (const [k, ids] of acknowledgedByKey) {
    if (ids.size > 1) problems.push(`Idempotency-Key ${k} was answered with ${ids.size} different orders: ${[...ids].join(', ')}`);
    const row = keys.get(k);
    if (!row || row.order_id === null || !ids.has(row.order_id)) problems.push(`Idempotency-Key ${k}: stored answer ${row ? row.order_id : 'missing'} differs from the acknowledged ${[...ids].join(', ')}`);
  }
  // Every order of the shoppers came from exactly one key: no duplicate from a retried POST.
  const keyed = new Map<number, number>();
  for (const k of db.keys) if (k.status === 201 && k.order_id !== null) keyed.set(k.order_id, (keyed.get(k.order_id) ?? 0) + 1);
  for (const o of db.orders) if (keyed.get(o.id) !== 1) problems.push(`order ${o.id} is named by ${keyed.get(o.id) ?? 0} Idempotency-Keys (a duplicate order)`);
  for (const p of db.stock) if (p.stock !== initialStock - p.live) problems.push(`product ${p.id}: stock ${p.stock}, expected ${initialStock} - ${p.live} live = ${initialStock - p.live}`);
  return problems;
}
