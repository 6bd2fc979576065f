// The catalogue: search, category, price range, in stock, sort and paging, all in the URL.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, errorMessage, type Category, type Page, type Product } from '../api.js';
import { cents } from '../money.js';
import { catalogueHash, PAGE_SIZE, productsPath, SORTS, type CatalogueQuery, type Sort } from '../route.js';
import { Field, Loading, Message, PageTitle, Price } from '../ui.js';

let categories: Promise<Category[]> | undefined;
/** Categories change rarely: one request per visit (retried after a failure). */
export function loadCategories(): Promise<Category[]> {
  categories ??= api<Category[]>('/categories').catch((err: unknown) => {
    categories = undefined;
    throw err;
  });
  return categories;
}

type Errors = Partial<Record<'min_price' | 'max_price' | 'q', string>>;

export function validateQuery(q: CatalogueQuery): Errors {
  const errors: Errors = {};
  const min = q.min_price ? cents(q.min_price) : 0;
  const max = q.max_price ? cents(q.max_price) : null;
  if (min === null) errors.min_price = 'Enter a price such as 10 or 9.99.';
  if (q.max_price && max === null) errors.max_price = 'Enter a price such as 50 or 49.99.';
  if (min !== null && max !== null && min > max) errors.max_price = 'Must not be below the minimum price.';
  if (q.q.length > 100) errors.q = 'At most 100 characters.';
  return errors;
}

export function StockBadge({ stock }: { stock: number }) {
  if (stock <= 0) return <span class="stock out">Out of stock</span>;
  return <span class={`stock${stock <= 5 ? ' low' : ''}`}>{stock <= 5 ? `Only ${stock} left` : 'In stock'}</span>;
}

export function CataloguePage({ query }: { query: CatalogueQuery }) {
  const [draft, setDraft] = useState(query);
  const [errors, setErrors] = useState<Errors>({});
  const [list, setList] = useState<Page<Product> | null>(null);
  // The URL whose products are on screen (the previous ones stay while the next load runs).
  const [shown, setShown] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [cats, setCats] = useState<Category[]>([]);
  const key = catalogueHash(query);

  useEffect(() => {
    loadCategories().then(setCats, () => {});
  }, []);

  useEffect(() => {
    setDraft(query);
    setErrors(validateQuery(query));
    let live = true;
    setLoading(true);
    api<Page<Product>>(productsPath(query))
      .then((page) => {
        if (!live) return;
        setList(page);
        setShown(key);
        setError(null);
      })
      .catch((err: unknown) => {
        if (!live) return;
        if (err instanceof ApiError && Object.keys(err.fields).length) setErrors(err.fields);
        setError(errorMessage(err));
      })
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
    // The URL is the query: reload when it changes.
  }, [key]);

  const apply = (next: CatalogueQuery) => {
    const problems = validateQuery(next);
    setErrors(problems);
    if (Object.keys(problems).length) return;
    location.hash = catalogueHash({ ...next, page: 1 });
  };
  const set = <K extends keyof CatalogueQuery>(field: K, value: CatalogueQuery[K]) => setDraft({ ...draft, [field]: value });
  const applyNow = <K extends keyof CatalogueQuery>(field: K, value: CatalogueQuery[K]) => {
    const next = { ...draft, [field]: value };
    setDraft(next);
    apply(next);
  };

  const pages = list ? Math.max(1, Math.ceil(list.total / PAGE_SIZE)) : 1;
  const category = cats.find((c) => String(c.id) === query.category_id);
  const heading = query.q ? `Results for “${query.q}”` : category ? category.name : 'All products';

  return (
    <section class="catalogue">
      <PageTitle title={heading}>{heading}</PageTitle>
      <form
        class="filters"
        role="search"
        aria-label="Search and filter products"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          apply(draft);
        }}
      >
        <Field id="q" label="Search" error={errors.q}>
          {(aria) => <input {...aria} type="search" name="q" value={draft.q} maxLength={100} onInput={(e) => set('q', e.currentTarget.value)} />}
        </Field>
        <Field id="category" label="Category">
          {(aria) => (
            <select {...aria} name="category_id" value={draft.category_id} onChange={(e) => applyNow('category_id', e.currentTarget.value)}>
              <option value="">All categories</option>
              {cats.map((c) => (
                <option key={c.id} value={String(c.id)}>
                  {c.name} ({c.product_count})
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field id="min_price" label="Min price" error={errors.min_price}>
          {(aria) => <input {...aria} type="text" inputMode="decimal" name="min_price" value={draft.min_price} placeholder="0" onInput={(e) => set('min_price', e.currentTarget.value.trim())} />}
        </Field>
        <Field id="max_price" label="Max price" error={errors.max_price}>
          {(aria) => <input {...aria} type="text" inputMode="decimal" name="max_price" value={draft.max_price} placeholder="any" onInput={(e) => set('max_price', e.currentTarget.value.trim())} />}
        </Field>
        <Field id="sort" label="Sort by">
          {(aria) => (
            <select {...aria} name="sort" value={draft.sort} onChange={(e) => applyNow('sort', e.currentTarget.value as Sort)}>
              {Object.entries(SORTS).map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
          )}
        </Field>
        <div class="field checkbox">
          <input id="in_stock" type="checkbox" name="in_stock" checked={draft.in_stock} onChange={(e) => applyNow('in_stock', e.currentTarget.checked)} />
          <label for="in_stock">In stock only</label>
        </div>
        <div class="actions">
          <button type="submit">Search</button>
          {key !== '#/' && (
            <a class="button secondary" href="#/">
              Clear
            </a>
          )}
        </div>
      </form>

      {error && <Message kind="error">{error}</Message>}
      {!list && loading && <Loading what="products" />}
      {list && (
        <div class="results" aria-busy={loading} data-for={shown}>
          <p class="count" role="status">
            {list.total === 0 ? 'No products match.' : `${list.total} product${list.total === 1 ? '' : 's'}${pages > 1 ? `, page ${query.page} of ${pages}` : ''}`}
          </p>
          <ul class="products">
            {list.items.map((p) => (
              <li key={p.id} class="card">
                <h2>
                  <a href={`#/products/${p.id}`}>{p.name}</a>
                </h2>
                <p class="desc">{p.description}</p>
                <p class="meta">
                  <Price value={p.price} />
                  <StockBadge stock={p.stock} />
                </p>
              </li>
            ))}
          </ul>
          {pages > 1 && (
            <nav class="pager" aria-label="Pages">
              {query.page > 1 ? (
                <a href={catalogueHash({ ...query, page: query.page - 1 })} rel="prev">
                  ← Previous
                </a>
              ) : (
                <span />
              )}
              <span>
                Page {query.page} of {pages}
              </span>
              {query.page < pages ? (
                <a href={catalogueHash({ ...query, page: query.page + 1 })} rel="next">
                  Next →
                </a>
              ) : (
                <span />
              )}
            </nav>
          )}
        </div>
      )}
    </section>
  );
}
