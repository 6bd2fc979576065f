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
  /** Database loads in flight, by version and key: concurrent misses share one query (no stampede). */
  private readonly loading = new Map<string, Promise<string>>();

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
    return this.load(cached?.version, key, async () => {
      const { items, total } = await listProducts(this.db, f);
      return JSON.stringify({ items, total, limit: f.limit, offset: f.offset });
    });
  }

  async productJson(id: number): Promise<string | Buffer> {
    const key = `p:${id}`;
    const cached = await this.cache.get(key);
    if (cached?.value != null) {
      this.observer.cacheHit('product');
      return cached.value;
    }
    this.observer.cacheMiss('product');
    return this.load(cached?.version, key, async () => {
      const product = await getProduct(this.db, id);
      if (!product) throw notFound('product', id);
      return JSON.stringify(product);
    });
  }

  /**
   * Reads from the database and stores the result under the version seen before the read. Only
   * requests that saw the same version share a load, so none gets data older than its own view.
   */
  private load(version: string | undefined, key: string, read: () => Promise<string>): Promise<string> {
    if (version === undefined) return read();
    const slot = `${version}:${key}`;
    let pending = this.loading.get(slot);
    if (!pending) {
      pending = (async () => {
        try {
          const json = await read();
          await this.cache.set(version, key, json);
          return json;
        } finally {
          this.loading.delete(slot);
        }
      })();
      this.loading.set(slot, pending);
    }
    return pending;
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
      throw new DomainError('category_not_found', `category ${id} does not exist`, undefined, [{ path: 'category_id', message: `category ${id} does not exist` }]);
    }
  }
}
