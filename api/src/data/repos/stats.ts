import type { Queryable } from '../db.js';

export interface Dashboard {
  users: number;
  products: number;
  orders_today: number;
  revenue_today: string;
  pending_orders: number;
  low_stock: Array<{ id: number; name: string; stock: number }>;
}

// "Today" is the UTC calendar day, like every timestamp the API returns.
const TODAY_UTC = "date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'";

export async function dashboard(db: Queryable, lowStockThreshold: number): Promise<Dashboard> {
  return db.task(async (t) => {
    const counts = await t.one<Omit<Dashboard, 'low_stock'>>(
        `SELECT (SELECT count(*)::int FROM users) AS users,
                (SELECT count(*)::int FROM products WHERE deleted_at IS NULL) AS products,
                (SELECT count(*)::int FROM orders WHERE created_at >= ${TODAY_UTC}) AS orders_today,
                (SELECT COALESCE(sum(total), 0.00)::text FROM orders
                  WHERE created_at >= ${TODAY_UTC} AND status <> 'cancelled') AS revenue_today,
                (SELECT count(*)::int FROM orders WHERE status = 'pending') AS pending_orders`,
    );
    const lowStock = await t.any<{ id: number; name: string; stock: number }>(
      'SELECT id, name, stock FROM products WHERE deleted_at IS NULL AND stock <= $1 ORDER BY stock, id LIMIT 50',
      [lowStockThreshold],
    );
    return { ...counts, low_stock: lowStock };
  });
}

export interface Analytics {
  days: number;
  sales_by_day: Array<{ date: string; orders: number; revenue: string }>;
  top_products: Array<{ product_id: number; name: string; quantity: number; revenue: string }>;
  average_order_value: string;
}

/** Aggregated in SQL over the last `days` UTC days (today included); cancelled orders do not count. */
export async function analytics(db: Queryable, days: number): Promise<Analytics> {
  return db.task(async (t) => {
    const since = `(${TODAY_UTC} - make_interval(days => $1 - 1))`;
    const salesByDay = await t.any<{ date: string; orders: number; revenue: string }>(
        `SELECT to_char(d.day, 'YYYY-MM-DD') AS date, count(o.id)::int AS orders,
                COALESCE(sum(o.total), 0.00)::text AS revenue
           FROM generate_series((now() AT TIME ZONE 'UTC')::date - ($1 - 1), (now() AT TIME ZONE 'UTC')::date, interval '1 day') AS d(day)
           LEFT JOIN orders o
             ON o.status <> 'cancelled'
            AND o.created_at >= d.day AT TIME ZONE 'UTC'
            AND o.created_at < (d.day + interval '1 day') AT TIME ZONE 'UTC'
          GROUP BY d.day ORDER BY d.day`,
      [days],
    );
    const topProducts = await t.any<{ product_id: number; name: string; quantity: number; revenue: string }>(
        `SELECT oi.product_id, p.name, sum(oi.quantity)::int AS quantity,
                sum(oi.unit_price * oi.quantity)::text AS revenue
           FROM order_items oi
           JOIN orders o ON o.id = oi.order_id
           JOIN products p ON p.id = oi.product_id
          WHERE o.status <> 'cancelled' AND o.created_at >= ${since}
          GROUP BY oi.product_id, p.name
          ORDER BY sum(oi.quantity) DESC, sum(oi.unit_price * oi.quantity) DESC, oi.product_id
          LIMIT 10`,
      [days],
    );
    const avg = await t.one<{ average: string }>(
        `SELECT COALESCE(round(avg(total), 2), 0.00)::text AS average
           FROM orders WHERE status <> 'cancelled' AND created_at >= ${since}`,
      [days],
    );
    return { days, sales_by_day: salesByDay, top_products: topProducts, average_order_value: avg.average };
  });
}

export async function countOrdersToday(db: Queryable): Promise<number> {
  const r = await db.one<{ n: number }>(`SELECT count(*)::int AS n FROM orders WHERE created_at >= ${TODAY_UTC}`);
  return r.n;
}
