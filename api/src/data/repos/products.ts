import type { Queryable } from '../db.js';

export interface ProductRow {
  id: number;
  name: string;
  description: string;
  /** NUMERIC(10,2) as text, e.g. "19.99". */
  price: string;
  stock: number;
  category_id: number | null;
  created_at: Date;
  updated_at: Date;
}

export type ProductSort = 'price' | '-price' | 'name' | '-name' | 'created_at' | '-created_at';

export interface ProductFilter {
  limit: number;
  offset: number;
  q?: string;
  category_id?: number;
  min_price?: string;
  max_price?: string;
  in_stock?: boolean;
  sort: ProductSort;
}

const COLUMNS = 'id, name, description, price, stock, category_id, created_at, updated_at';

// Whitelisted ORDER BY clauses; id breaks ties so pages never overlap.
const ORDER_BY: Record<ProductSort, string> = {
  price: 'price ASC, id ASC',
  '-price': 'price DESC, id DESC',
  name: 'name ASC, id ASC',
  '-name': 'name DESC, id DESC',
  created_at: 'created_at ASC, id ASC',
  '-created_at': 'created_at DESC, id DESC',
};

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

export async function listProducts(db: Queryable, f: ProductFilter): Promise<{ items: ProductRow[]; total: number }> {
  const conditions = ['deleted_at IS NULL'];
  const values: Record<string, unknown> = { limit: f.limit, offset: f.offset };
  if (f.q !== undefined) {
    conditions.push('(name ILIKE $<pattern> OR description ILIKE $<pattern>)');
    values.pattern = `%${escapeLike(f.q)}%`;
  }
  if (f.category_id !== undefined) {
    conditions.push('category_id = $<category_id>');
    values.category_id = f.category_id;
  }
  if (f.min_price !== undefined) {
    conditions.push('price >= $<min_price>::numeric');
    values.min_price = f.min_price;
  }
  if (f.max_price !== undefined) {
    conditions.push('price <= $<max_price>::numeric');
    values.max_price = f.max_price;
  }
  if (f.in_stock !== undefined) conditions.push(f.in_stock ? 'stock > 0' : 'stock = 0');
  const where = conditions.join(' AND ');
  // One connection runs one query at a time: sequential awaits, not Promise.all.
  return db.task(async (t) => {
    const items = await t.any<ProductRow>(`SELECT ${COLUMNS} FROM products WHERE ${where} ORDER BY ${ORDER_BY[f.sort]} LIMIT $<limit> OFFSET $<offset>`, values);
    const count = await t.one<{ total: number }>(`SELECT count(*)::int AS total FROM products WHERE ${where}`, values);
    return { items, total: count.total };
  });
}

export function getProduct(db: Queryable, id: number): Promise<ProductRow | null> {
  return db.oneOrNone<ProductRow>(`SELECT ${COLUMNS} FROM products WHERE id = $1 AND deleted_at IS NULL`, [id]);
}

export interface ProductInput {
  name: string;
  description: string;
  price: string;
  stock: number;
  category_id: number | null;
}

export function insertProduct(db: Queryable, p: ProductInput): Promise<ProductRow> {
  return db.one<ProductRow>(
    `INSERT INTO products (name, description, price, stock, category_id) VALUES ($1, $2, $3::numeric, $4, $5) RETURNING ${COLUMNS}`,
    [p.name, p.description, p.price, p.stock, p.category_id],
  );
}

export function updateProduct(db: Queryable, id: number, p: Partial<ProductInput>): Promise<ProductRow | null> {
  // COALESCE keeps fields the request left out; category_id can be set to null explicitly.
  return db.oneOrNone<ProductRow>(
    `UPDATE products SET
       name = COALESCE($<name>, name),
       description = COALESCE($<description>, description),
       price = COALESCE($<price>::numeric, price),
       stock = COALESCE($<stock>, stock),
       category_id = CASE WHEN $<setCategory> THEN $<category_id> ELSE category_id END,
       updated_at = now()
     WHERE id = $<id> AND deleted_at IS NULL
     RETURNING ${COLUMNS}`,
    {
      id,
      name: p.name ?? null,
      description: p.description ?? null,
      price: p.price ?? null,
      stock: p.stock ?? null,
      setCategory: p.category_id !== undefined,
      category_id: p.category_id ?? null,
    },
  );
}

/** Soft delete (past orders keep their lines) and drop the product from every cart. */
export function deleteProduct(db: Queryable, id: number): Promise<boolean> {
  return db.tx(async (t) => {
    const row = await t.oneOrNone('UPDATE products SET deleted_at = now(), updated_at = now() WHERE id = $1 AND deleted_at IS NULL RETURNING id', [id]);
    if (!row) return false;
    await t.none('DELETE FROM cart_items WHERE product_id = $1', [id]);
    return true;
  });
}

export interface TakenStock {
  id: number;
  name: string;
  price: string;
  /** Left after this order. */
  stock: number;
}

/** Takes `quantity` units atomically; null when the product is missing, deleted or short. */
export function takeStock(t: Queryable, productId: number, quantity: number): Promise<TakenStock | null> {
  return t.oneOrNone<TakenStock>(
    `UPDATE products SET stock = stock - $2, updated_at = now()
      WHERE id = $1 AND stock >= $2 AND deleted_at IS NULL
      RETURNING id, name, price, stock`,
    [productId, quantity],
  );
}

export function productStock(t: Queryable, productId: number): Promise<{ id: number; name: string; stock: number } | null> {
  return t.oneOrNone('SELECT id, name, stock FROM products WHERE id = $1 AND deleted_at IS NULL', [productId]);
}

/** Puts `quantity` units back; true when the product was out of stock before. */
export async function restock(t: Queryable, productId: number, quantity: number): Promise<boolean> {
  const row = await t.oneOrNone<{ stock: number }>('UPDATE products SET stock = stock + $2, updated_at = now() WHERE id = $1 RETURNING stock', [productId, quantity]);
  return row !== null && row.stock === quantity;
}

export async function countProductsInStock(db: Queryable): Promise<number> {
  const r = await db.one<{ n: number }>('SELECT count(*)::int AS n FROM products WHERE deleted_at IS NULL AND stock > 0');
  return r.n;
}
