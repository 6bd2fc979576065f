// Hash routes: the API owns every path on this origin (/products, /cart, /orders...), so the
// storefront's own addresses live after "#". Back/forward and shared links work as usual.

export type Route =
  | { page: 'catalogue'; query: CatalogueQuery }
  | { page: 'product'; id: number }
  | { page: 'cart' }
  | { page: 'checkout' }
  | { page: 'orders'; pageNo: number }
  | { page: 'order'; id: number }
  | { page: 'login'; next: string }
  | { page: 'signup'; next: string }
  | { page: 'not-found' };

export const SORTS = {
  '-created_at': 'Newest',
  price: 'Lowest price',
  '-price': 'Highest price',
  name: 'Name A–Z',
  '-name': 'Name Z–A',
} as const;
export type Sort = keyof typeof SORTS;

export interface CatalogueQuery {
  q: string;
  category_id: string;
  min_price: string;
  max_price: string;
  in_stock: boolean;
  sort: Sort;
  page: number;
}

export const PAGE_SIZE = 12;
export const DEFAULT_QUERY: CatalogueQuery = { q: '', category_id: '', min_price: '', max_price: '', in_stock: false, sort: '-created_at', page: 1 };

const positive = (s: string | null): number | null => (s && /^[1-9]\d{0,8}$/.test(s) ? Number(s) : null);

export function parseCatalogueQuery(params: URLSearchParams): CatalogueQuery {
  const sort = params.get('sort') ?? '';
  return {
    q: (params.get('q') ?? '').slice(0, 100),
    category_id: positive(params.get('category_id')) ? params.get('category_id')! : '',
    min_price: params.get('min_price') ?? '',
    max_price: params.get('max_price') ?? '',
    in_stock: params.get('in_stock') === 'true',
    sort: sort in SORTS ? (sort as Sort) : DEFAULT_QUERY.sort,
    page: positive(params.get('page')) ?? 1,
  };
}

/** The filters that differ from the defaults, under the API's own names, in a fixed order. */
function filterParams(query: CatalogueQuery): URLSearchParams {
  const p = new URLSearchParams();
  if (query.q.trim()) p.set('q', query.q.trim());
  if (query.category_id) p.set('category_id', query.category_id);
  if (query.min_price) p.set('min_price', query.min_price);
  if (query.max_price) p.set('max_price', query.max_price);
  if (query.in_stock) p.set('in_stock', 'true');
  return p;
}

/** Only the values that differ from the defaults: one query, one URL. */
export function catalogueHash(query: CatalogueQuery): string {
  const p = filterParams(query);
  if (query.sort !== DEFAULT_QUERY.sort) p.set('sort', query.sort);
  if (query.page > 1) p.set('page', String(query.page));
  const s = p.toString();
  return s ? `#/?${s}` : '#/';
}

/** The API request for a catalogue query (the same names, plus limit/offset). */
export function productsPath(query: CatalogueQuery): string {
  const p = filterParams(query);
  p.set('sort', query.sort);
  p.set('limit', String(PAGE_SIZE));
  p.set('offset', String((query.page - 1) * PAGE_SIZE));
  return `/products?${p.toString()}`;
}

/** A safe in-app destination after login: a hash route, never another origin. */
function nextOf(params: URLSearchParams): string {
  const next = params.get('next') ?? '';
  return next.startsWith('#/') ? next : '#/';
}

export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#/, '') || '/';
  const [path = '/', search = ''] = raw.split('?', 2) as [string, string?];
  const params = new URLSearchParams(search);
  let m: RegExpMatchArray | null;
  if (path === '/' || path === '') return { page: 'catalogue', query: parseCatalogueQuery(params) };
  if ((m = path.match(/^\/products\/([1-9]\d{0,8})$/))) return { page: 'product', id: Number(m[1]) };
  if (path === '/cart') return { page: 'cart' };
  if (path === '/checkout') return { page: 'checkout' };
  if (path === '/orders') return { page: 'orders', pageNo: positive(params.get('page')) ?? 1 };
  if ((m = path.match(/^\/orders\/([1-9]\d{0,8})$/))) return { page: 'order', id: Number(m[1]) };
  if (path === '/login') return { page: 'login', next: nextOf(params) };
  if (path === '/signup') return { page: 'signup', next: nextOf(params) };
  return { page: 'not-found' };
}

export const MONEY = /^\d{1,8}(\.\d{1,2})?$/;
