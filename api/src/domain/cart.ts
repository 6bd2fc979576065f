import type { Db } from '../data/db.js';
import { addToCart, getCart, removeCartItem, setCartQuantity, MAX_CART_LINES, MAX_LINE_QUANTITY, type CartLine } from '../data/repos/carts.js';
import { DomainError, notFound } from './errors.js';

export interface CartView {
  items: CartLine[];
  total: string;
}

/** Carts live in PostgreSQL, so they survive an API restart and a Redis flush. */
export class CartService {
  constructor(private readonly db: Db) {}

  get(userId: number): Promise<CartView> {
    return getCart(this.db, userId);
  }

  async add(userId: number, productId: number, quantity: number): Promise<CartView> {
    const result = await addToCart(this.db, userId, productId, quantity);
    if (result === 'no_product') throw notFound('product', productId);
    if (result === 'limit') {
      throw new DomainError('cart_quantity_limit', `a cart line holds at most ${MAX_LINE_QUANTITY} units`, undefined, [
        { path: 'quantity', message: `the line would exceed ${MAX_LINE_QUANTITY} units` },
      ]);
    }
    if (result === 'lines') {
      throw new DomainError('cart_line_limit', `a cart holds at most ${MAX_CART_LINES} different products: order or remove some first`, undefined, [
        { path: 'product_id', message: `the cart already holds ${MAX_CART_LINES} different products` },
      ]);
    }
    return getCart(this.db, userId);
  }

  async setQuantity(userId: number, itemId: number, quantity: number): Promise<CartView> {
    if (!(await setCartQuantity(this.db, userId, itemId, quantity))) throw notFound('cart item', itemId);
    return getCart(this.db, userId);
  }

  async remove(userId: number, itemId: number): Promise<void> {
    if (!(await removeCartItem(this.db, userId, itemId))) throw notFound('cart item', itemId);
  }
}
