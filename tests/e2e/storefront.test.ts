// The storefront in a real browser: Debian's Chromium (playwright-core, no downloaded browser)
// against the Compose stack through Nginx over HTTPS. A shopper's whole journey, checkout that
// never orders twice, the out-of-stock message, axe on every page, no console errors or CSP
// violations, and screenshots at 360 px and 1280 px in test-results/storefront/ (CI keeps them).
import test, { type ExecutionContext } from 'ava';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';
import { ComposeStack, REPO_ROOT } from './lib/stack.js';
import { H2Client } from './lib/http.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = join(REPO_ROOT, 'test-results', 'storefront');
const WIDTHS = [360, 1280] as const;

let stack: ComposeStack;
let browser: Browser;
let client: H2Client;
const perf: Record<string, unknown> = {};


/**
 * Waits until the sort control shows `value`, polling from the test: page.waitForFunction would
 * poll with eval() inside the page, which the storefront's CSP (script-src 'self') refuses.
 */
async function sortIs(page: import('playwright-core').Page, value: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if ((await page.locator('#sort').inputValue()) === value) return;
    if (Date.now() > deadline) throw new Error(`#sort is still not "${value}" after 15 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test.before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  mkdirSync(SHOTS, { recursive: true });
  stack = await ComposeStack.create({
    prefix: 'e2e-store',
    // Several shoppers from one address within a minute: the per-address limits stay out of the way.
    env: { RATE_LIMIT_AUTH_PER_MINUTE: '1000', PROXY_AUTH_RATE_LIMIT: '600r/m', RATE_LIMIT_PER_MINUTE: '100000' },
  });
  await stack.build(['api']);
  try {
    await stack.up();
  } catch (error) {
    const logs = await stack.compose(['logs', '--no-color', '--tail', '30']);
    console.log(`[storefront e2e] the stack did not come up; its logs:\n${logs.stdout}`);
    throw error;
  }
  client = new H2Client(stack.origin);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
});

test.after.always(async () => {
  if (Object.keys(perf).length) writeFileSync(join(SHOTS, 'performance.json'), `${JSON.stringify(perf, null, 2)}\n`);
  await browser?.close();
  client?.close();
  await stack?.destroy();
});

/** A browser tab that records console errors and CSP violations. */
class Tab {
  readonly problems: string[] = [];
  private constructor(
    readonly context: BrowserContext,
    readonly page: Page,
  ) {}

  /** Every 4xx/5xx answer and failed request, for the report when a test fails. */
  readonly failures: string[] = [];

  static async open(): Promise<Tab> {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 }, baseURL: stack.origin });
    const page = await context.newPage();
    const tab = new Tab(context, page);
    open.add(tab);
    page.on('response', (r) => {
      if (r.status() >= 400) tab.failures.push(`${r.status()} ${r.request().method()} ${r.url()}`);
    });
    page.on('requestfailed', (r) => tab.failures.push(`failed ${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
    // Browser-side code as text: the project's type-check has no DOM library.
    await page.addInitScript(`document.addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));`);
    page.on('console', (m) => {
      if (m.type() === 'error') tab.problems.push(m.text());
    });
    page.on('pageerror', (e) => tab.problems.push(`page error: ${e.message}`));
    return tab;
  }

  /** Console errors other than the HTTP statuses this step expects (Chromium logs every 4xx/5xx). */
  take(expected: RegExp[] = []): string[] {
    const left = this.problems.filter((p) => !expected.some((re) => re.test(p)));
    this.problems.length = 0;
    return left;
  }

  async close(): Promise<void> {
    open.delete(this);
    await this.context.close();
  }
}

const open = new Set<Tab>();

// A failed test leaves its evidence (each tab's URL, alerts, failed requests and a screenshot);
// then its tabs close.
test.afterEach.always(async (t) => {
  let i = 0;
  for (const tab of [...open]) {
    if (t.passed) {
      await tab.close();
      continue;
    }
    const name = `failed-${t.title.replace(/[^a-z0-9]+/gi, '-').slice(0, 40)}-${i++}`;
    const alerts = await tab.page.getByRole('alert').allInnerTexts().catch(() => []);
    console.log(`[storefront e2e] ${t.title}: tab at ${tab.page.url()}\n  alerts: ${JSON.stringify(alerts)}\n  failed requests: ${JSON.stringify(tab.failures.slice(-15))}\n  console: ${JSON.stringify(tab.problems.slice(-10))}\n  screenshot: ${name}.png`);
    await tab.page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true }).catch(() => undefined);
    await tab.close();
  }
});

const status = (code: number) => new RegExp(`Failed to load resource: the server responded with a status of ${code}`);

/** The page as it stands: axe (no serious or critical violations), console clean, screenshots at both widths. */
async function checkPage(t: ExecutionContext, tab: Tab, name: string, expected: RegExp[] = []): Promise<void> {
  const { page } = tab;
  await page.waitForLoadState('networkidle');
  const axe = await new AxeBuilder({ page }).analyze();
  const bad = axe.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  t.deepEqual(
    bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
    [],
    `${name}: no serious or critical axe violations`,
  );
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: width === 360 ? 740 : 900 });
    await page.screenshot({ path: join(SHOTS, `${name}-${width}.png`), fullPage: true });
    // Usable at this width: nothing wider than the viewport.
    const overflow = (await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')) as number;
    t.true(overflow <= 0, `${name} at ${width} px: no horizontal scrolling (${overflow} px too wide)`);
  }
  await page.setViewportSize({ width: 1280, height: 900 });
  t.deepEqual(tab.take(expected), [], `${name}: no console errors or CSP violations`);
}

/** Chromium's performance timing of the page, and what its JS and CSS weighed on the wire. */
const TIMING = `(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const paint = Object.fromEntries(performance.getEntriesByType('paint').map((p) => [p.name, Math.round(p.startTime)]));
    const resources = performance.getEntriesByType('resource');
    const bytes = (re, field = 'encodedBodySize') => resources.filter((r) => re.test(r.name)).reduce((n, r) => n + r[field], 0);
    return {
      first_paint_ms: paint['first-paint'],
      first_contentful_paint_ms: paint['first-contentful-paint'],
      dom_content_loaded_ms: Math.round(nav.domContentLoadedEventEnd),
      products_shown_ms: Math.round(performance.now()),
      js_gzipped_bytes: bytes(/\\/assets\\/.*\\.js$/),
      css_gzipped_bytes: bytes(/\\/assets\\/.*\\.css$/),
      // transferSize is 0 when the browser's cache answered.
      assets_over_network_bytes: bytes(/\\/assets\\//, 'transferSize'),
    };
  })()`;

/** Waits until the catalogue shows the products of the URL in the address bar. */
async function resultsShown(page: Page): Promise<void> {
  await page.locator(`.results[data-for="${new URL(page.url()).hash || '#/'}"]`).waitFor();
}

function uniqueName(prefix: string): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}

async function signUp(tab: Tab, username: string): Promise<void> {
  const { page } = tab;
  await page.getByLabel('Username', { exact: true }).fill(username);
  await page.getByLabel('E-mail').fill(`${username}@example.com`);
  await page.getByLabel('Password', { exact: true }).fill('correct-horse-battery');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('button', { name: 'Log out' }).waitFor();
}

async function productId(name: string): Promise<number> {
  const r = await client.request(`/products?q=${encodeURIComponent(name)}&limit=5`);
  const found = r.json<{ items: Array<{ id: number; name: string }> }>().items.find((p) => p.name === name);
  if (!found) throw new Error(`no sample product named ${name}`);
  return found.id;
}

async function stockOf(id: number): Promise<number> {
  return (await client.request(`/products/${id}`)).json<{ stock: number }>().stock;
}

async function psql(sql: string): Promise<string> {
  const r = await stack.exec('db', ['psql', '-X', '-v', 'ON_ERROR_STOP=1', '-At', '-U', stack.env.POSTGRES_USER ?? 'shop', '-d', stack.env.POSTGRES_DB ?? 'shop', '-c', sql], { user: 'postgres' });
  if (r.exitCode !== 0) throw new Error(`psql failed: ${r.stderr}`);
  return r.stdout.trim();
}

const ordersOf = async (username: string) => Number(await psql(`SELECT count(*) FROM orders o JOIN users u ON u.id = o.user_id WHERE u.username = '${username}'`));

async function adminToken(): Promise<string> {
  const r = await client.request('/auth/login', { method: 'POST', json: { username: stack.env.ADMIN_USERNAME ?? 'admin', password: stack.env.ADMIN_PASSWORD } });
  if (r.status !== 200) throw new Error(`admin login: ${r.status} ${r.body}`);
  return r.json<{ access_token: string }>().access_token;
}

/** Adds `quantity` of a product from its page. */
async function addToCart(page: Page, id: number, quantity: number): Promise<void> {
  await page.goto(`/#/products/${id}`);
  await page.getByLabel('Quantity').fill(String(quantity));
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await page.getByText(/Added to your cart/).waitFor();
}

/** The cart as the API has it, asked from inside the page with the shopper's own token. */
async function apiCart(page: Page): Promise<{ items: Array<{ name: string; quantity: number }>; total: string }> {
  return page.evaluate(`fetch('/cart', { headers: { authorization: 'Bearer ' + localStorage.getItem('shop.token') } }).then((r) => r.json())`);
}

test.serial("a shopper's whole journey: search, filter, product, sign up, cart, checkout, history, cancel, stock back", async (t) => {
  const tab = await Tab.open();
  const { page } = tab;

  // The catalogue, and how fast it renders (README "Performance").
  await page.goto('/');
  await page.getByRole('heading', { level: 1, name: 'All products' }).waitFor();
  await page.locator('.products li').first().waitFor();
  perf.catalogue_first_visit = await page.evaluate(TIMING);
  // Again with the browser's cache (the hashed assets are not even revalidated).
  await page.reload();
  await resultsShown(page);
  perf.catalogue_reload = await page.evaluate(TIMING);
  t.log('catalogue timing', perf);
  t.is(await page.locator('.products li').count(), 12, 'a page of 12 products');
  await checkPage(t, tab, 'catalogue');

  // Paging is in the URL.
  await page.getByRole('link', { name: 'Next →' }).click();
  await page.waitForURL(/#\/\?page=2$/);
  await resultsShown(page);
  await page.getByText(/page 2 of \d+/).first().waitFor();

  // Search.
  await page.getByLabel('Search', { exact: true }).fill('keyboard');
  await page.getByLabel('Search', { exact: true }).press('Enter');
  await page.waitForURL(/#\/\?q=keyboard$/);
  await resultsShown(page);
  await page.getByRole('heading', { level: 1, name: /Results for .keyboard./ }).waitFor();
  await t.notThrowsAsync(page.getByRole('link', { name: 'Mechanical Keyboard' }).waitFor());
  await checkPage(t, tab, 'search');

  // Filters: category, price range, in stock, sort; all in the URL.
  await page.getByLabel('Search', { exact: true }).fill('');
  await page.getByLabel('Max price').fill('45');
  const books = await page.locator('#category option', { hasText: 'Books' }).getAttribute('value');
  await page.getByLabel('Category').selectOption(books!);
  await page.waitForURL(/category_id=\d+&max_price=45/);
  await page.getByLabel('In stock only').check();
  await page.waitForURL(/in_stock=true/);
  await page.getByLabel('Sort by').selectOption('price');
  await page.waitForURL(/sort=price/);
  await page.getByRole('heading', { level: 1, name: 'Books' }).waitFor();
  const filtered = page.url();
  await resultsShown(page);
  const prices = await page.locator('.products .price').allTextContents();
  t.true(prices.length > 0, 'books up to 45 exist');
  const cents = (s: string) => Number(s.replace('.', ''));
  t.true(prices.every((p) => cents(p) <= 4500), `every price <= 45: ${prices.join(', ')}`);
  t.deepEqual([...prices].sort((a, b) => cents(a) - cents(b)), prices, 'sorted by price');
  await checkPage(t, tab, 'catalogue-filtered');

  // Back and forward walk the filters; a shared link shows the same list.
  await page.goBack();
  await page.waitForURL((u) => !/sort=price/.test(u.hash) && /in_stock=true/.test(u.hash));
  await sortIs(page, '-created_at');
  t.true(await page.getByLabel('In stock only').isChecked(), 'back: still in stock only');
  await page.goForward();
  await page.waitForURL(filtered);
  await sortIs(page, 'price');
  const shared = await Tab.open();
  await shared.page.goto(filtered);
  await shared.page.getByRole('heading', { level: 1, name: 'Books' }).waitFor();
  await resultsShown(shared.page);
  t.deepEqual(await shared.page.locator('.products .price').allTextContents(), prices, 'a shared link shows the same products');
  t.deepEqual(shared.take(), []);
  await shared.close();

  // A product page; buying needs an account.
  const phoenix = await productId('The Phoenix Project');
  const refactoring = await productId('Refactoring');
  const [phoenixStock, refactoringStock] = [await stockOf(phoenix), await stockOf(refactoring)];
  await page.getByRole('link', { name: 'The Phoenix Project' }).click();
  await page.getByRole('heading', { level: 1, name: 'The Phoenix Project' }).waitFor();
  t.regex(await page.locator('.meta.big .price').innerText(), /^19\.99$/);
  await page.getByText(`${phoenixStock} in stock`).waitFor();
  await checkPage(t, tab, 'product');

  // Sign up: errors next to their fields first, then an account.
  await page.getByRole('link', { name: 'sign up', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'Create an account' }).waitFor();
  await page.getByLabel('Username', { exact: true }).fill('x');
  await page.getByLabel('Password', { exact: true }).fill('short');
  await page.getByRole('button', { name: 'Create account' }).click();
  const passwordError = page.locator('#password-error');
  await passwordError.waitFor();
  t.is(await page.getByLabel('Password', { exact: true }).getAttribute('aria-describedby'), 'password-error password-hint', 'the error is tied to its field');
  t.regex(await passwordError.innerText(), /at least 8 characters/i);
  t.regex(await page.locator('#username-error').innerText(), /3-50 characters/);
  await checkPage(t, tab, 'signup');
  const username = uniqueName('shopper');
  await signUp(tab, username);
  await page.getByRole('heading', { level: 1, name: 'The Phoenix Project' }).waitFor();

  // Two products in the cart.
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await page.getByText('Added to your cart (1 in total).').waitFor();
  await addToCart(page, refactoring, 2);
  await page.getByRole('link', { name: 'Cart (3)' }).click();
  await page.getByRole('heading', { level: 1, name: 'Your cart' }).waitFor();
  await page.locator('.lines li').nth(1).waitFor();
  t.is(await page.locator('.lines li').count(), 2);
  t.is(await page.locator('.total .price').innerText(), '114.49', '19.99 + 2 x 47.25, as the API sums it');

  // Change a quantity: the total is the API's.
  await page.getByLabel('Quantity of The Phoenix Project').fill('3');
  await page.getByLabel('Quantity of The Phoenix Project').press('Enter');
  await page.locator('.total .price', { hasText: '154.47' }).waitFor();
  t.is((await apiCart(page)).total, '154.47');
  await page.getByRole('link', { name: 'Cart (5)' }).waitFor();
  await checkPage(t, tab, 'cart');

  // Check out.
  await page.getByRole('link', { name: 'Check out' }).click();
  await page.getByRole('heading', { level: 1, name: 'Checkout' }).waitFor();
  await checkPage(t, tab, 'checkout');
  await page.getByRole('button', { name: 'Place order' }).click();
  await page.getByText('Thank you! Your order is placed.').waitFor();
  const orderId = Number(/#\/orders\/(\d+)$/.exec(page.url())?.[1]);
  t.true(orderId > 0);
  await page.getByText('Status: Pending').waitFor();
  t.is(await page.locator('.total .price').innerText(), '154.47');
  t.is(await stockOf(phoenix), phoenixStock - 3);
  t.is(await stockOf(refactoring), refactoringStock - 2);
  await page.getByRole('link', { name: 'Cart (0)' }).waitFor();
  await checkPage(t, tab, 'order');

  // The history.
  await page.getByRole('link', { name: 'All orders' }).click();
  await page.getByRole('heading', { level: 1, name: 'Your orders' }).waitFor();
  await page.getByRole('link', { name: `Order #${orderId}` }).waitFor();
  await checkPage(t, tab, 'orders');

  // Cancel: the shopper's own pending order (POST /orders/{id}/cancel).
  await page.getByRole('link', { name: `Order #${orderId}` }).click();
  await page.getByRole('button', { name: 'Cancel order' }).click();
  await page.getByText('Status: Cancelled').waitFor();
  await page.getByText('The order is cancelled; its items are back in stock.').waitFor();
  t.is(await page.getByRole('button', { name: 'Cancel order' }).count(), 0, 'a cancelled order cannot be cancelled again');

  // Stock back, as the product page shows it.
  await page.goto(`/#/products/${phoenix}`);
  await page.getByText(`${phoenixStock} in stock`).waitFor();
  await page.goto(`/#/products/${refactoring}`);
  await page.getByText(`${refactoringStock} in stock`).waitFor();
  t.is(await stockOf(phoenix), phoenixStock);

  // Log out, and back in with the account made above.
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByRole('link', { name: 'Log in' }).first().click();
  await page.getByLabel('Username or e-mail').fill(username);
  await page.getByLabel('Password').fill('correct-horse-battery');
  await checkPage(t, tab, 'login');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('button', { name: 'Log out' }).waitFor();
  t.deepEqual(tab.take(), []);
});

test.serial('"Place order": a double click, and a retry after the answer was lost, each create exactly one order', async (t) => {
  const tab = await Tab.open();
  const { page } = tab;
  const earbuds = await productId('Wireless Earbuds');
  const stock = await stockOf(earbuds);
  await page.goto('/#/signup');
  const username = uniqueName('twice');
  await signUp(tab, username);

  // A double click.
  await addToCart(page, earbuds, 1);
  await page.goto('/#/checkout');
  const posts: string[] = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === '/orders') posts.push(r.headers()['idempotency-key'] ?? '');
  });
  await page.getByRole('button', { name: 'Place order' }).dblclick();
  await page.getByText('Thank you! Your order is placed.').waitFor();
  t.is(await ordersOf(username), 1, 'one order in the database');
  t.is(await stockOf(earbuds), stock - 1);
  t.true(posts.length >= 1 && new Set(posts).size === 1, `every request of the attempt carries one key (${posts.length} sent)`);

  // The order reaches the API, but its answer never reaches the browser (the connection drops).
  posts.length = 0;
  await addToCart(page, earbuds, 2);
  await page.goto('/#/checkout');
  await page.route((url) => url.pathname === '/orders', async (route) => {
    if (route.request().method() !== 'POST') return route.continue();
    await route.fetch();
    await route.abort('connectionreset');
  }, { times: 1 });
  await page.getByRole('button', { name: 'Place order' }).click();
  await page.getByRole('alert').filter({ hasText: /cannot be reached.*never charged twice/ }).waitFor();
  t.is(await ordersOf(username), 2, 'the lost request did place its order');
  t.is((await apiCart(page)).items.length, 0, 'the order emptied the cart on the server');
  await checkPage(t, tab, 'checkout-retry', [/net::ERR_CONNECTION_RESET/, /Failed to fetch/]);
  const replay = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/orders');
  await page.getByRole('button', { name: 'Place order' }).click();
  const answer = await replay;
  t.is(answer.status(), 201);
  t.is(answer.headers()['idempotent-replayed'], 'true', 'the API answered the retry with the first order');
  await page.getByText('Thank you! Your order is placed.').waitFor();
  t.is(await ordersOf(username), 2, 'the retry created no second order');
  t.is(await stockOf(earbuds), stock - 3, 'stock taken once per order');
  t.is(posts.length, 2);
  t.is(posts[0], posts[1], 'the retry sent the same Idempotency-Key');
  t.deepEqual(tab.take(), []);
});

test.serial('more than the stock: the message names the product and what is left; the cart stays as it was', async (t) => {
  const tab = await Tab.open();
  const { page } = tab;
  const webcam = await productId('Webcam 1080p');
  const stock = await stockOf(webcam);
  t.true(stock >= 2, 'the sample webcam has a few in stock');
  await page.goto('/#/signup');
  const username = uniqueName('late');
  await signUp(tab, username);
  await addToCart(page, webcam, stock);

  // Meanwhile someone else buys all but one.
  const token = await adminToken();
  const put = await client.request(`/products/${webcam}`, { method: 'PUT', json: { stock: 1 }, token });
  t.is(put.status, 200);
  t.teardown(() => client.request(`/products/${webcam}`, { method: 'PUT', json: { stock }, token }).then(() => undefined));

  const before = await apiCart(page);
  await page.goto('/#/checkout');
  await page.getByRole('button', { name: 'Place order' }).click();
  const alert = page.getByRole('alert');
  await alert.waitFor();
  t.is(await alert.innerText(), 'Only 1 of "Webcam 1080p" left in stock. Lower the quantity in your cart and try again.');
  await checkPage(t, tab, 'out-of-stock', [status(409)]);
  t.is(await ordersOf(username), 0, 'no order');
  t.deepEqual(await apiCart(page), before, 'the cart is unchanged');
  await page.getByRole('link', { name: 'Edit cart' }).click();
  t.is(await page.getByLabel('Quantity of Webcam 1080p').inputValue(), String(stock), 'the cart page shows it unchanged');
  t.is(await stockOf(webcam), 1, 'the stock is unchanged');
});

test.serial('the shopper is told: 429 says when to retry; an unreachable API keeps the cart', async (t) => {
  const tab = await Tab.open();
  const { page } = tab;
  await page.goto('/#/signup');
  await signUp(tab, uniqueName('told'));
  await addToCart(page, await productId('Wireless Mouse'), 1);
  await page.goto('/#/cart');
  await page.getByLabel('Quantity of Wireless Mouse').waitFor();

  // The API goes away: the cart page says so and still shows the cart.
  const cartUrl = (url: URL) => url.pathname === '/cart';
  await page.route(cartUrl, (route) => route.abort('connectionrefused'));
  await page.reload();
  await page.getByRole('alert').filter({ hasText: "The shop's server cannot be reached right now" }).waitFor();
  t.is(await page.getByLabel('Quantity of Wireless Mouse').inputValue(), '1', 'the last cart seen is still shown');
  await checkPage(t, tab, 'cart-offline', [/net::ERR_CONNECTION_REFUSED/]);
  await page.unroute(cartUrl);

  // Nginx's rate limit (429 + Retry-After) as the browser would receive it.
  await page.route((url) => url.pathname === '/products', (route) =>
    route.fulfill({ status: 429, headers: { 'content-type': 'application/problem+json', 'retry-after': '42' }, body: '{"type":"about:blank","title":"Too Many Requests","status":429}' }),
  );
  await page.goto('/#/?q=anything');
  await page.getByRole('alert').filter({ hasText: 'Too many requests. Please try again in 42 seconds.' }).waitFor();
  t.deepEqual(tab.take([status(429)]), []);
});

test.serial('keyboard: every control is reachable with Tab and shows where the focus is', async (t) => {
  const tab = await Tab.open();
  const { page } = tab;
  await page.goto('/');
  await page.locator('.products li').first().waitFor();
  const seen = new Set<string>();
  for (let i = 0; i < 25; i++) {
    await page.keyboard.press('Tab');
    const focus = (await page.evaluate(`(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return null;
      const style = getComputedStyle(el);
      return { name: el.tagName.toLowerCase() + '#' + (el.id || el.textContent.trim().slice(0, 20)), outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2 };
    })()`)) as { name: string; outline: boolean } | null;
    if (!focus) continue;
    t.true(focus.outline, `${focus.name} shows a focus outline`);
    seen.add(focus.name);
  }
  for (const control of ['input#q', 'select#category', 'input#min_price', 'input#max_price', 'select#sort', 'input#in_stock']) t.true(seen.has(control), `${control} is reachable by Tab`);
  // Enter on a focused product link opens it.
  await page.locator('.products li a').first().focus();
  await page.keyboard.press('Enter');
  await page.waitForURL(/#\/products\/\d+$/);
  await page.getByRole('heading', { level: 1 }).waitFor();
  t.deepEqual(tab.take(), []);
});
