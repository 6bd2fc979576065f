import type { Db } from '../data/db.js';
import { AVAILABILITY_TAG, LIST_TAG, productTag, type ProductCache } from '../data/cache.js';
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

/** Products whose stock a committed write changed, and whether any went out of or back into stock. */
export interface StockChange {
  productIds: readonly number[];
  availabilityChanged: boolean;
}

interface Loaded {
  /** Empty: not found. */
  json: string;
  tags: readonly string[];
}

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
  private readonly loading = new Map<string, Promise<Loaded>>();

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
    const loaded = await this.load('products_list', cached?.seq, key, async () => {
      const { items, total } = await listProducts(this.db, f);
      // A page shows its products and depends on which products match: not on any other product's stock.
      const tags = [LIST_TAG, ...(f.in_stock === undefined ? [] : [AVAILABILITY_TAG]), ...items.map((p) => productTag(p.id))];
      return { json: JSON.stringify({ items, total, limit: f.limit, offset: f.offset }), tags };
    });
    return loaded.json;
  }

  /** One product as serialized JSON; a missing product is remembered briefly too (a 404 costs no query). */
  async productJson(id: number): Promise<string | Buffer> {
    const key = `p:${id}`;
    const cached = await this.cache.get(key);
    let value: string | Buffer;
    if (cached?.value != null) {
      this.observer.cacheHit('product');
      value = cached.value;
    } else {
      const loaded = await this.load('product', cached?.seq, key, async () => {
        const product = await getProduct(this.db, id);
        return { json: product ? JSON.stringify(product) : '', tags: [productTag(id)] };
      });
      value = loaded.json;
    }
    if (value.length === 0) throw notFound('product', id);
    return value;
  }

  /**
   * Reads from the database and stores the result under the sequence number seen before the read.
   * Only requests that saw the same number share a load, so none gets data older than its own view.
   * The request that starts the read counts as the cache's miss; one that joins a read already in
   * flight costs the database nothing and counts as a hit (served from the cache's refill).
   */
  private load(cache: 'product' | 'products_list', seq: number | undefined, key: string, read: () => Promise<Loaded>): Promise<Loaded> {
    if (seq === undefined) {
      this.observer.cacheMiss(cache);
      return read();
    }
    const slot = `${seq}:${key}`;
    let pending = this.loading.get(slot);
    if (pending) this.observer.cacheHit(cache);
    else {
      this.observer.cacheMiss(cache);
      pending = (async () => {
        try {
          const loaded = await read();
          await this.cache.set(seq, key, loaded.json, loaded.tags);
          return loaded;
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
    // Its own tag too: a "not found" cached for this id must go.
    await this.cache.invalidate([LIST_TAG, productTag(product.id)]);
    return product;
  }

  async update(id: number, input: Partial<ProductInput>): Promise<ProductRow> {
    await this.checkCategory(input.category_id);
    const product = await updateProduct(this.db, id, input);
    if (!product) throw notFound('product', id);
    // Name, price or category may move it in or out of any list.
    await this.cache.invalidate([LIST_TAG, productTag(id)]);
    return product;
  }

  async remove(id: number): Promise<void> {
    const deleted = await deleteProduct(this.db, id);
    if (!deleted) throw notFound('product', id);
    await this.cache.invalidate([LIST_TAG, productTag(id)]);
  }

  /** Orders and cancellations: only the entries showing these products (and in_stock lists when availability moved). */
  async stockChanged(change: StockChange): Promise<void> {
    const tags = change.productIds.map(productTag);
    if (change.availabilityChanged) tags.push(AVAILABILITY_TAG);
    await this.cache.invalidate(tags);
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
