import type { Db } from '../data/db.js';
import type { ProductCache } from '../data/cache.js';
import { listCategories, categoryExists, type CategoryRow } from '../data/repos/categories.js';
import {
  deleteProduct,
  getProduct,
  insertProduct,
  listProducts,
  updateProduct,
  type ProductFilter,
  type ProductInput,
  type ProductRow,
} from '../data/repos/products.js';
import type { CacheName } from '../observability/metrics.js';
import { DomainError, notFound } from './errors.js';

export type { ProductFilter, ProductInput, ProductRow };

export interface CacheObserver {
  cacheHit(cache: CacheName): void;
  cacheMiss(cache: CacheName): void;
}

function listKey(f: ProductFilter): string {
  // q goes last: it is the only part that may contain the separator.
  return `l:${f.limit}:${f.offset}:${f.sort}:${f.category_id ?? ''}:${f.min_price ?? ''}:${f.max_price ?? ''}:${f.in_stock ?? ''}:${f.q ?? ''}`;
}

export class CatalogService {
  constructor(
    private readonly db: Db,
    private readonly cache: ProductCache,
    private readonly observer: CacheObserver,
  ) {}

  /** The list as serialized JSON: a cache hit costs no parse, no stringify and no UTF-8 round trip. */
  async listJson(f: ProductFilter): Promise<string | Buffer> {
    const key = listKey(f);
    const cached = await this.cache.get(key);
    if (cached?.value != null) {
      this.observer.cacheHit('products_list');
      return cached.value;
    }
    this.observer.cacheMiss('products_list');
    const { items, total } = await listProducts(this.db, f);
    const json = JSON.stringify({ items, total, limit: f.limit, offset: f.offset });
    if (cached) await this.cache.set(cached.version, key, json);
    return json;
  }

  async productJson(id: number): Promise<string | Buffer> {
    const key = `p:${id}`;
    const cached = await this.cache.get(key);
    if (cached?.value != null) {
      this.observer.cacheHit('product');
      return cached.value;
    }
    this.observer.cacheMiss('product');
    const product = await getProduct(this.db, id);
    if (!product) throw notFound('product', id);
    const json = JSON.stringify(product);
    if (cached) await this.cache.set(cached.version, key, json);
    return json;
  }

  async create(input: ProductInput): Promise<ProductRow> {
    await this.checkCategory(input.category_id);
    const product = await insertProduct(this.db, input);
    await this.cache.bump();
    return product;
  }

  async update(id: number, input: Partial<ProductInput>): Promise<ProductRow> {
    await this.checkCategory(input.category_id);
    const product = await updateProduct(this.db, id, input);
    if (!product) throw notFound('product', id);
    await this.cache.bump();
    return product;
  }

  async remove(id: number): Promise<void> {
    const deleted = await deleteProduct(this.db, id);
    if (!deleted) throw notFound('product', id);
    await this.cache.bump();
  }

  /** Stock changes by orders also make cached stock figures stale. */
  async stockChanged(): Promise<void> {
    await this.cache.bump();
  }

  categories(): Promise<CategoryRow[]> {
    return listCategories(this.db);
  }

  private async checkCategory(id: number | null | undefined): Promise<void> {
    if (id === null || id === undefined) return;
    if (!(await categoryExists(this.db, id))) {
      throw new DomainError('validation_failed', `category ${id} does not exist`, undefined, [{ path: 'category_id', message: `category ${id} does not exist` }]);
    }
  }
}
