// Storefront: lists the catalogue from the API. No inline script (the proxy's CSP forbids it).
'use strict';

const statusEl = document.getElementById('status');
const listEl = document.getElementById('products');

// Accepts a bare array or a page object ({ items | data | products: [...] }).
function itemsOf(body) {
  if (Array.isArray(body)) return body;
  for (const key of ['items', 'data', 'products']) {
    if (body && Array.isArray(body[key])) return body[key];
  }
  return [];
}

// Prices arrive as decimal strings (never floats); show them as they are, with the currency.
function priceOf(product) {
  const amount = product.price ?? product.price_amount ?? product.priceAmount;
  if (amount === undefined || amount === null) return '';
  const currency = product.currency ?? '';
  return currency ? `${amount} ${currency}` : String(amount);
}

function render(products) {
  listEl.replaceChildren(
    ...products.map((p) => {
      const li = document.createElement('li');
      li.className = 'product';
      const name = document.createElement('h2');
      name.textContent = p.name ?? p.title ?? `#${p.id}`;
      const desc = document.createElement('p');
      desc.textContent = p.description ?? '';
      const meta = document.createElement('p');
      meta.className = 'meta';
      const price = document.createElement('span');
      price.className = 'price';
      price.textContent = priceOf(p);
      const stock = document.createElement('span');
      const inStock = Number(p.stock ?? 0) > 0;
      stock.className = inStock ? 'stock' : 'stock out';
      stock.textContent = inStock ? `${p.stock} in stock` : 'out of stock';
      meta.append(price, stock);
      li.append(name, desc, meta);
      return li;
    }),
  );
}

async function load() {
  try {
    const res = await fetch('/products?limit=50', { headers: { accept: 'application/json' } });
    if (!res.ok) throw new Error(`the API answered ${res.status}`);
    const body = await res.json();
    const products = itemsOf(body);
    render(products);
    const total = Number.isInteger(body?.total) ? body.total : products.length;
    statusEl.textContent = !products.length
      ? 'No products yet.'
      : total > products.length
        ? `${products.length} of ${total} products`
        : `${products.length} products`;
  } catch (err) {
    statusEl.textContent = `Could not load the catalogue: ${err.message}`;
    statusEl.classList.add('error');
  }
}

load();
