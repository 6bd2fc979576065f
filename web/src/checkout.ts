// One Idempotency-Key per checkout attempt: made on the first "Place order", kept across
// double clicks, network errors and reloads of the tab, dropped once the API has answered
// for good or the cart changed (a changed cart is a new attempt).
import type { Cart } from './types.js';

const KEY = 'shop.checkout';

interface Attempt {
  key: string;
  cart: string;
}

export function cartSignature(cart: Cart): string {
  return cart.items.map((i) => `${i.product_id}x${i.quantity}`).join(',') + `=${cart.total}`;
}

export interface AttemptStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export function attemptKey(cart: Cart, storage: AttemptStore, newKey: () => string): string {
  const signature = cartSignature(cart);
  try {
    const stored = JSON.parse(storage.getItem(KEY) ?? 'null') as Attempt | null;
    if (stored && stored.cart === signature && typeof stored.key === 'string') return stored.key;
  } catch {
    // a damaged entry: start a new attempt
  }
  const key = newKey();
  storage.setItem(KEY, JSON.stringify({ key, cart: signature } satisfies Attempt));
  return key;
}

export function endAttempt(storage: AttemptStore): void {
  storage.removeItem(KEY);
}
