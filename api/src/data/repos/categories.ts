import type { Queryable } from '../db.js';

export interface CategoryRow {
  id: number;
  name: string;
  slug: string;
  description: string;
  product_count: number;
}

export function listCategories(db: Queryable): Promise<CategoryRow[]> {
  return db.any<CategoryRow>(
    `SELECT c.id, c.name, c.slug, c.description,
            (SELECT count(*)::int FROM products p WHERE p.category_id = c.id AND p.deleted_at IS NULL) AS product_count
       FROM categories c ORDER BY c.name, c.id`,
  );
}

export async function categoryExists(db: Queryable, id: number): Promise<boolean> {
  const row = await db.oneOrNone('SELECT 1 FROM categories WHERE id = $1', [id]);
  return row !== null;
}
