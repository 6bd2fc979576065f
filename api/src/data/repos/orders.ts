import type { Queryable } from '../db.js';

export type OrderStatus = 'pending' | 'paid' | 'shipped' | 'delivered' | 'cancelled';

export interface OrderItem {
  product_id: number;
  name: string;
  unit_price: string;
  quantity: number;
  line_total: string;
}

export interface OrderRow {
  id: number;
  user_id: number;
  status: OrderStatus;
  total: string;
  items: OrderItem[];
  created_at: Date;
  updated_at: Date;
}

// Money leaves PostgreSQL as text, also inside json_build_object (which would otherwise emit a JSON number).
const ORDER_SELECT = `SELECT o.id, o.user_id, o.status, o.total::text AS total, o.created_at, o.updated_at,
  (SELECT COALESCE(json_agg(json_build_object(
            'product_id', oi.product_id,
            'name', oi.product_name,
            'unit_price', oi.unit_price::text,
            'quantity', oi.quantity,
            'line_total', (oi.unit_price * oi.quantity)::text) ORDER BY oi.product_id), '[]'::json)
     FROM order_items oi WHERE oi.order_id = o.id) AS items
  FROM orders o`;

export interface NewOrderLine {
  product_id: number;
  name: string;
  unit_price: string;
  quantity: number;
}

/** Inserts the order and its lines and returns it, in one statement; the total is summed in SQL NUMERIC. */
export function insertOrder(t: Queryable, userId: number, lines: NewOrderLine[]): Promise<OrderRow> {
  return t.one<OrderRow>(
    `WITH lines AS (
       SELECT * FROM unnest($2::int[], $3::text[], $4::numeric[], $5::int[]) AS l(product_id, name, unit_price, quantity)
     ), o AS (
       INSERT INTO orders (user_id, status, total)
       SELECT $1, 'pending', COALESCE(sum(unit_price * quantity), 0) FROM lines
       RETURNING id, user_id, status, total, created_at, updated_at
     ), i AS (
       INSERT INTO order_items (order_id, product_id, product_name, unit_price, quantity)
       SELECT o.id, l.product_id, l.name, l.unit_price, l.quantity FROM o, lines l
       RETURNING product_id, product_name, unit_price, quantity
     )
     SELECT o.id, o.user_id, o.status, o.total::text AS total, o.created_at, o.updated_at,
       (SELECT COALESCE(json_agg(json_build_object(
                 'product_id', i.product_id,
                 'name', i.product_name,
                 'unit_price', i.unit_price::text,
                 'quantity', i.quantity,
                 'line_total', (i.unit_price * i.quantity)::text) ORDER BY i.product_id), '[]'::json)
          FROM i) AS items
     FROM o`,
    [userId, lines.map((l) => l.product_id), lines.map((l) => l.name), lines.map((l) => l.unit_price), lines.map((l) => l.quantity)],
  );
}

export function getOrder(db: Queryable, id: number): Promise<OrderRow | null> {
  return db.oneOrNone<OrderRow>(`${ORDER_SELECT} WHERE o.id = $1`, [id]);
}

export async function listOrdersOfUser(db: Queryable, userId: number, limit: number, offset: number): Promise<{ items: OrderRow[]; total: number }> {
  return db.task(async (t) => {
    const items = await t.any<OrderRow>(`${ORDER_SELECT} WHERE o.user_id = $1 ORDER BY o.created_at DESC, o.id DESC LIMIT $2 OFFSET $3`, [userId, limit, offset]);
    const count = await t.one<{ total: number }>('SELECT count(*)::int AS total FROM orders WHERE user_id = $1', [userId]);
    return { items, total: count.total };
  });
}

/** Locks the order row so concurrent status changes (and the restock of a cancel) run one at a time. */
export function lockOrder(t: Queryable, id: number): Promise<{ id: number; user_id: number; status: OrderStatus } | null> {
  return t.oneOrNone('SELECT id, user_id, status FROM orders WHERE id = $1 FOR UPDATE', [id]);
}

export function orderLines(t: Queryable, id: number): Promise<Array<{ product_id: number; quantity: number }>> {
  return t.any('SELECT product_id, quantity FROM order_items WHERE order_id = $1 ORDER BY product_id', [id]);
}

export async function setOrderStatus(t: Queryable, id: number, status: OrderStatus): Promise<OrderRow> {
  await t.none('UPDATE orders SET status = $2, updated_at = now() WHERE id = $1', [id, status]);
  return t.one<OrderRow>(`${ORDER_SELECT} WHERE o.id = $1`, [id]);
}
