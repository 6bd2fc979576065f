// The cart (quantities, removal, the API's running total) and the checkout that places the order.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, errorMessage, type Cart, type Order } from '../api.js';
import { attemptKey, endAttempt } from '../checkout.js';
import type { AppProps } from '../main.js';
import { ItemsTable, Loading, Message, PageTitle, Price } from '../ui.js';

const cacheKey = (userId: number) => `shop.cart.${userId}`;

/** The cart from the API; when the API cannot be reached, the last one seen, with a message. */
function useCart({ user, onCart }: AppProps) {
  const [cart, setCart] = useState<Cart | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const show = (c: Cart) => {
    setCart(c);
    onCart(c);
    if (user) localStorage.setItem(cacheKey(user.id), JSON.stringify(c));
  };
  const reload = () =>
    api<Cart>('/cart').then(show, (err: unknown) => {
      const cached = user && localStorage.getItem(cacheKey(user.id));
      const offline = Boolean(cached) && err instanceof ApiError && err.unreachable;
      setProblem(offline ? `${errorMessage(err)} Your cart as you last saw it:` : errorMessage(err));
      if (offline) setCart((c) => c ?? (JSON.parse(cached!) as Cart));
    });
  useEffect(() => {
    void reload();
  }, []);
  return { cart, show, problem, setProblem, reload };
}

function Summary({ cart }: { cart: Cart }) {
  return (
    <p class="total">
      Total <Price value={cart.total} />
    </p>
  );
}

export function CartPage(props: AppProps) {
  const { cart, show, problem, setProblem } = useCart(props);
  const [lineErrors, setLineErrors] = useState<Record<number, string>>({});
  const [busy, setBusy] = useState(false);

  const change = async (itemId: number, text: string) => {
    const n = /^\d{1,4}$/.test(text) ? Number(text) : NaN;
    if (!(n >= 1 && n <= 1000)) return setLineErrors({ [itemId]: 'Enter 1 to 1000 (use Remove to drop the line).' });
    setLineErrors({});
    setProblem(null);
    setBusy(true);
    try {
      show(await api<Cart>(`/cart/${itemId}`, { method: 'PUT', body: { quantity: n } }));
    } catch (err) {
      if (err instanceof ApiError && err.fields.quantity) setLineErrors({ [itemId]: err.fields.quantity });
      else setProblem(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  const remove = async (itemId: number) => {
    setProblem(null);
    setBusy(true);
    try {
      await api(`/cart/${itemId}`, { method: 'DELETE' });
      show(await api<Cart>('/cart'));
      document.querySelector<HTMLElement>('h1')?.focus();
    } catch (err) {
      setProblem(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="cart">
      <PageTitle title="Your cart">Your cart</PageTitle>
      {problem && <Message kind="error">{problem}</Message>}
      {!cart && !problem && <Loading what="your cart" />}
      {cart && cart.items.length === 0 && (
        <p>
          Your cart is empty. <a href="#/">Browse the catalogue</a>
        </p>
      )}
      {cart && cart.items.length > 0 && (
        <>
          <ul class="lines" aria-busy={busy}>
            {cart.items.map((item) => (
              <li key={item.id} class="line">
                <a class="name" href={`#/products/${item.product_id}`}>
                  {item.name}
                </a>
                <span class="unit">
                  <Price value={item.unit_price} /> each
                </span>
                <span class={`qty${lineErrors[item.id] ? ' invalid' : ''}`}>
                  <label for={`qty-${item.id}`}>Quantity</label>
                  <input
                    id={`qty-${item.id}`}
                    type="number"
                    inputMode="numeric"
                    min={1}
                    max={1000}
                    value={String(item.quantity)}
                    aria-label={`Quantity of ${item.name}`}
                    aria-invalid={Boolean(lineErrors[item.id])}
                    aria-describedby={lineErrors[item.id] ? `qty-${item.id}-error` : undefined}
                    onChange={(e) => void change(item.id, e.currentTarget.value)}
                  />
                </span>
                <Price value={item.line_total} label={`Subtotal for ${item.name}`} />
                <button type="button" class="secondary" aria-label={`Remove ${item.name}`} disabled={busy} onClick={() => void remove(item.id)}>
                  Remove
                </button>
                {lineErrors[item.id] && (
                  <small id={`qty-${item.id}-error`} class="field-error">
                    {lineErrors[item.id]}
                  </small>
                )}
              </li>
            ))}
          </ul>
          <Summary cart={cart} />
          <p class="actions">
            <a class="button" href="#/checkout">
              Check out
            </a>
          </p>
        </>
      )}
    </section>
  );
}

export function CheckoutPage(props: AppProps) {
  const { cart, problem, setProblem, reload } = useCart(props);
  const [placing, setPlacing] = useState(false);
  // A second click before the button re-renders as disabled must not start a second request.
  const inFlight = useRef(false);

  const place = async () => {
    if (!cart || inFlight.current) return;
    inFlight.current = true;
    setPlacing(true);
    setProblem(null);
    const key = attemptKey(cart, sessionStorage, () => crypto.randomUUID());
    try {
      const order = await api<Order>('/orders', { method: 'POST', body: {}, headers: { 'Idempotency-Key': key } });
      endAttempt(sessionStorage);
      props.onCart({ items: [], total: '0.00' });
      sessionStorage.setItem('shop.placed', String(order.id));
      location.hash = `#/orders/${order.id}`;
    } catch (err) {
      const retryable = err instanceof ApiError && (err.unreachable || err.code === 'idempotency_key_in_use' || err.status === 429 || err.status >= 500);
      if (!retryable) endAttempt(sessionStorage);
      setProblem(
        retryable && err instanceof ApiError && err.status !== 429
          ? `${err.message} Your cart is kept; press “Place order” again: the same order is sent, so you are never charged twice.`
          : errorMessage(err),
      );
      if (err instanceof ApiError && err.code === 'insufficient_stock') void reload();
    } finally {
      inFlight.current = false;
      setPlacing(false);
    }
  };

  return (
    <section class="checkout">
      <PageTitle title="Checkout">Checkout</PageTitle>
      {problem && <Message kind="error">{problem}</Message>}
      {!cart && !problem && <Loading what="your order" />}
      {cart && cart.items.length === 0 && (
        <p>
          Your cart is empty. <a href="#/">Browse the catalogue</a>
        </p>
      )}
      {cart && cart.items.length > 0 && (
        <>
          <ItemsTable caption="Your order" items={cart.items} total={cart.total} />
          <p class="actions">
            <a class="button secondary" href="#/cart">
              Edit cart
            </a>
            <button type="button" onClick={() => void place()} disabled={placing} aria-busy={placing}>
              {placing ? 'Placing order…' : 'Place order'}
            </button>
          </p>
        </>
      )}
    </section>
  );
}
