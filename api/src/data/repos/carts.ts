import type { Queryable } from '../db.js';

export interface CartLine {
  id: number;
  product_id: number;
  name: string;
  unit_price: string;
  quantity: number;
  line_total: string;
}

export const MAX_LINE_QUANTITY = 1000;
/** Lines (distinct products) per cart: with MAX_LINE_QUANTITY and the highest price, a cart's total fits an order's. */
export const MAX_CART_LINES = 100;
/** First key of the per-user advisory lock that serializes adding lines to one cart. */
const CART_LOCK = 0x63617274;

/** Current prices; totals computed in SQL NUMERIC, unconstrained so no price change can make them overflow. */
export async function getCart(db: Queryable, userId: number): Promise<{ items: CartLine[]; total: string }> {
  const items = await db.any<CartLine>(
    `SELECT ci.id, ci.product_id, p.name, p.price AS unit_price, ci.quantity,
            (p.price * ci.quantity)::text AS line_total
       FROM cart_items ci JOIN products p ON p.id = ci.product_id AND p.deleted_at IS NULL
      WHERE ci.user_id = $1
      ORDER BY ci.id`,
    [userId],
  );
  const { total } = await db.one<{ total: string }>(
    `SELECT COALESCE(sum(p.price * ci.quantity), 0.00)::text AS total
       FROM cart_items ci JOIN products p ON p.id = ci.product_id AND p.deleted_at IS NULL
      WHERE ci.user_id = $1`,
    [userId],
  );
  return { items, total };
}

export type AddResult = 'added' | 'no_product' | 'limit' | 'lines';

export async function addToCart(db: Queryable, userId: number, productId: number, quantity: number): Promise<AddResult> {
  return db.tx(async (t) => {
    // No row lock here: placing an order locks cart rows then products, so locking the other way round could deadlock.
    const product = await t.oneOrNone('SELECT id FROM products WHERE id = $1 AND deleted_at IS NULL', [productId]);
    if (!product) return 'no_product';
    // One adder per cart at a time, so two concurrent new lines cannot both pass the line count.
    await t.one('SELECT pg_advisory_xact_lock($1, $2)', [CART_LOCK, userId]);
    const { lines, has } = await t.one<{ lines: number; has: boolean }>(
      'SELECT count(*)::int AS lines, bool_or(product_id = $2) IS TRUE AS has FROM cart_items WHERE user_id = $1',
      [userId, productId],
    );
    if (!has && lines >= MAX_CART_LINES) return 'lines';
    // Adds to an existing line; the WHERE keeps the sum within the per-line limit.
    const row = await t.oneOrNone(
      `INSERT INTO cart_items (user_id, product_id, quantity) VALUES ($1, $2, $3)
       ON CONFLICT ON CONSTRAINT cart_items_user_product_key
       DO UPDATE SET quantity = cart_items.quantity + EXCLUDED.quantity, updated_at = now()
       WHERE cart_items.quantity + EXCLUDED.quantity <= $4
       RETURNING id`,
      [userId, productId, quantity, MAX_LINE_QUANTITY],
    );
    return row ? 'added' : 'limit';
  });
}

export async function setCartQuantity(db: Queryable, userId: number, itemId: number, quantity: number): Promise<boolean> {
  const row = await db.oneOrNone('UPDATE cart_items SET quantity = $3, updated_at = now() WHERE id = $1 AND user_id = $2 RETURNING id', [itemId, userId, quantity]);
  return row !== null;
}

export async function removeCartItem(db: Queryable, userId: number, itemId: number): Promise<boolean> {
  const row = await db.oneOrNone('DELETE FROM cart_items WHERE id = $1 AND user_id = $2 RETURNING id', [itemId, userId]);
  return row !== null;
}

/** The cart's lines for an order, locked so a concurrent edit waits for the order to commit. */
export function cartLinesForOrder(t: Queryable, userId: number): Promise<Array<{ product_id: number; quantity: number }>> {
  return t.any('SELECT product_id, quantity FROM cart_items WHERE user_id = $1 ORDER BY product_id FOR UPDATE', [userId]);
}

export async function clearCart(t: Queryable, userId: number): Promise<void> {
  await t.none('DELETE FROM cart_items WHERE user_id = $1', [userId]);
}
