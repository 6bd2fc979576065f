// One product: price, stock, category, and "Add to cart" for a signed-in shopper.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, errorMessage, type Cart, type Category, type Product } from '../api.js';
import type { AppProps } from '../main.js';
import { Field, Loading, Message, PageTitle, Price } from '../ui.js';
import { loadCategories, StockBadge } from './catalogue.js';

export function ProductPage({ id, user, onCart }: AppProps & { id: number }) {
  const [product, setProduct] = useState<Product | null>(null);
  const [category, setCategory] = useState<Category | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [quantity, setQuantity] = useState('1');
  const [fieldError, setFieldError] = useState<string | undefined>();
  const [added, setAdded] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api<Product>(`/products/${id}`).then(
      (p) => {
        setProduct(p);
        if (p.category_id !== null) loadCategories().then((cats) => setCategory(cats.find((c) => c.id === p.category_id) ?? null), () => {});
      },
      (err: unknown) => setError(err instanceof ApiError && err.status === 404 ? 'This product does not exist (any more).' : errorMessage(err)),
    );
  }, [id]);

  if (error) {
    return (
      <section>
        <PageTitle title="Product">Product</PageTitle>
        <Message kind="error">{error}</Message>
        <p>
          <a href="#/">Back to the catalogue</a>
        </p>
      </section>
    );
  }
  if (!product) return <Loading what="the product" />;

  const add = async (e: Event) => {
    e.preventDefault();
    setAdded(null);
    setProblem(null);
    const n = /^\d{1,4}$/.test(quantity) ? Number(quantity) : NaN;
    if (!(n >= 1)) return setFieldError('Enter a whole number, 1 or more.');
    if (n > product.stock) return setFieldError(`Only ${product.stock} in stock.`);
    setFieldError(undefined);
    setBusy(true);
    try {
      const cart = await api<Cart>('/cart/add', { method: 'POST', body: { product_id: product.id, quantity: n } });
      onCart(cart);
      const line = cart.items.find((i) => i.product_id === product.id);
      setAdded(`Added to your cart${line ? ` (${line.quantity} in total)` : ''}.`);
    } catch (err) {
      if (err instanceof ApiError && err.fields.quantity) setFieldError(err.fields.quantity);
      else setProblem(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <article class="product">
      <p class="crumbs">
        <a href="#/">Catalogue</a>
        {category && (
          <>
            {' / '}
            <a href={`#/?category_id=${category.id}`}>{category.name}</a>
          </>
        )}
      </p>
      <PageTitle title={product.name}>{product.name}</PageTitle>
      <p class="desc">{product.description}</p>
      <p class="meta big">
        <Price value={product.price} label="Price" />
        <StockBadge stock={product.stock} />
      </p>
      <p class="stock-count">{product.stock > 0 ? `${product.stock} in stock` : 'None in stock'}</p>
      {user ? (
        <form class="add" noValidate onSubmit={add}>
          <Field id="quantity" label="Quantity" error={fieldError}>
            {(aria) => (
              <input
                {...aria}
                type="number"
                inputMode="numeric"
                min={1}
                max={Math.max(1, product.stock)}
                value={quantity}
                disabled={product.stock <= 0}
                onInput={(e) => setQuantity(e.currentTarget.value)}
              />
            )}
          </Field>
          <button type="submit" disabled={busy || product.stock <= 0}>
            {product.stock > 0 ? 'Add to cart' : 'Out of stock'}
          </button>
        </form>
      ) : (
        <p>
          <a href={`#/login?next=${encodeURIComponent(`#/products/${product.id}`)}`}>Log in</a> or{' '}
          <a href={`#/signup?next=${encodeURIComponent(`#/products/${product.id}`)}`}>sign up</a> to buy this.
        </p>
      )}
      {problem && <Message kind="error">{problem}</Message>}
      {added && (
        <Message kind="success">
          {added} <a href="#/cart">View cart</a>
        </Message>
      )}
    </article>
  );
}
