import type { CartService } from '../../domain/cart.js';
import type { RouteRegistry } from '../registry.js';
import { Cart, CartAdd, CartUpdate, ItemIdParams } from '../schemas.js';

export function cartRoutes(r: RouteRegistry, cart: CartService): void {
  r.add({
    method: 'get',
    path: '/cart',
    tag: 'cart',
    summary: 'My cart at current prices',
    auth: 'user',
    responses: { 200: { description: 'The cart', schema: Cart } },
    async handler(ctx) {
      ctx.body = await cart.get(ctx.state.user!.id);
    },
  });
  r.add({
    method: 'post',
    path: '/cart/add',
    tag: 'cart',
    summary: 'Add a product (adds to an existing line of the same product)',
    auth: 'user',
    body: CartAdd,
    responses: {
      200: { description: 'The cart after the change', schema: Cart },
      404: { description: 'product_not_found', codes: ['product_not_found'] },
      422: { description: 'validation_failed, cart_quantity_limit (1000 units per line) or cart_line_limit (100 lines per cart)', codes: ['cart_quantity_limit', 'cart_line_limit'] },
    },
    async handler(ctx, { body }) {
      ctx.body = await cart.add(ctx.state.user!.id, body.product_id, body.quantity);
    },
  });
  r.add({
    method: 'put',
    path: '/cart/:item_id',
    tag: 'cart',
    summary: 'Set the quantity of a cart line',
    auth: 'user',
    params: ItemIdParams,
    body: CartUpdate,
    responses: { 200: { description: 'The cart after the change', schema: Cart }, 404: { description: 'cart_item_not_found', codes: ['cart_item_not_found'] } },
    async handler(ctx, { params, body }) {
      ctx.body = await cart.setQuantity(ctx.state.user!.id, params.item_id, body.quantity);
    },
  });
  r.add({
    method: 'delete',
    path: '/cart/:item_id',
    tag: 'cart',
    summary: 'Remove a cart line',
    auth: 'user',
    params: ItemIdParams,
    responses: { 204: { description: 'Removed' }, 404: { description: 'cart_item_not_found', codes: ['cart_item_not_found'] } },
    async handler(ctx, { params }) {
      await cart.remove(ctx.state.user!.id, params.item_id);
      ctx.status = 204;
    },
  });
}
