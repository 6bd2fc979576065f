// The storefront's shell: hash router, signed-in user, cart count, header and footer.
import { render } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, session, whenUnauthenticated, type Cart, type User } from './api.js';
import { parseHash, type Route } from './route.js';
import { CataloguePage } from './pages/catalogue.js';
import { ProductPage } from './pages/product.js';
import { LoginPage, SignupPage } from './pages/auth.js';
import { CartPage, CheckoutPage } from './pages/cart.js';
import { OrderPage, OrdersPage } from './pages/orders.js';
import { PageTitle } from './ui.js';
import './style.css';

export interface AppProps {
  user: User | null;
  /** Pages that change the cart report it here (the header shows the count). */
  onCart: (cart: Cart) => void;
}

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const update = () => setRoute(parseHash(location.hash));
    window.addEventListener('hashchange', update);
    return () => window.removeEventListener('hashchange', update);
  }, []);
  return route;
}

function NeedsLogin({ what }: { what: string }) {
  const next = encodeURIComponent(location.hash || '#/');
  return (
    <section>
      <PageTitle title="Log in">Log in to see {what}</PageTitle>
      <p>
        <a href={`#/login?next=${next}`}>Log in</a> or <a href={`#/signup?next=${next}`}>create an account</a>.
      </p>
    </section>
  );
}

function App() {
  const route = useRoute();
  const [user, setUser] = useState<User | null>(session.user);
  const [count, setCount] = useState<number | null>(null);
  const onCart = useCallback((cart: Cart) => setCount(cart.items.reduce((n, i) => n + i.quantity, 0)), []);

  useEffect(() => whenUnauthenticated(() => setUser(null)), []);
  useEffect(() => {
    if (!user) return setCount(null);
    api<Cart>('/cart').then(onCart, () => {});
  }, [user, onCart]);
  // Every route starts at the top of the page.
  useEffect(() => window.scrollTo(0, 0), [route]);

  const signedIn = (u: User) => setUser(u);
  const logOut = async () => {
    try {
      await api('/auth/logout', { method: 'POST' });
    } catch {
      // the token is forgotten here either way
    }
    session.clear();
    setUser(null);
    location.hash = '#/';
  };

  const props: AppProps = { user, onCart };
  let page;
  switch (route.page) {
    case 'catalogue':
      page = <CataloguePage query={route.query} />;
      break;
    case 'product':
      page = <ProductPage key={route.id} id={route.id} {...props} />;
      break;
    case 'login':
      page = <LoginPage next={route.next} onSignedIn={signedIn} />;
      break;
    case 'signup':
      page = <SignupPage next={route.next} onSignedIn={signedIn} />;
      break;
    case 'cart':
      page = user ? <CartPage {...props} /> : <NeedsLogin what="your cart" />;
      break;
    case 'checkout':
      page = user ? <CheckoutPage {...props} /> : <NeedsLogin what="check out" />;
      break;
    case 'orders':
      page = user ? <OrdersPage key={route.pageNo} pageNo={route.pageNo} /> : <NeedsLogin what="your orders" />;
      break;
    case 'order':
      page = user ? <OrderPage key={route.id} id={route.id} {...props} /> : <NeedsLogin what="this order" />;
      break;
    default:
      page = (
        <section>
          <PageTitle title="Not found">Page not found</PageTitle>
          <p>
            <a href="#/">Back to the catalogue</a>
          </p>
        </section>
      );
  }

  return (
    <>
      <header class="site">
        <a class="brand" href="#/">
          Shop
        </a>
        <nav aria-label="Main">
          <ul>
            <li>
              <a href="#/" aria-current={route.page === 'catalogue' ? 'page' : undefined}>
                Catalogue
              </a>
            </li>
            <li>
              <a href="#/cart" aria-current={route.page === 'cart' ? 'page' : undefined}>
                Cart{count !== null && <span class="badge"> ({count})</span>}
              </a>
            </li>
            {user && (
              <li>
                <a href="#/orders" aria-current={route.page === 'orders' ? 'page' : undefined}>
                  Orders
                </a>
              </li>
            )}
            {user ? (
              <li class="account">
                <span class="who">{user.username}</span>
                <button type="button" class="link" onClick={logOut}>
                  Log out
                </button>
              </li>
            ) : (
              <>
                <li>
                  <a href="#/login">Log in</a>
                </li>
                <li>
                  <a href="#/signup">Sign up</a>
                </li>
              </>
            )}
          </ul>
        </nav>
      </header>
      <main id="main">{page}</main>
      <footer class="site">
        <p>
          Prices and stock come straight from the shop's API. <a href="/docs">API documentation</a>
        </p>
      </footer>
    </>
  );
}

render(<App />, document.getElementById('app')!);
