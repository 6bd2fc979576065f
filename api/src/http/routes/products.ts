import type { CatalogService } from '../../domain/catalog.js';
import type { RouteRegistry } from '../registry.js';
import { sendBytes } from '../middleware/errors.js';
import { Category, IdParams, Product, ProductCreate, ProductList, ProductQuery, ProductUpdate } from '../schemas.js';

const JSON_TYPE = 'application/json; charset=utf-8';

export function productRoutes(r: RouteRegistry, catalog: CatalogService): void {
  r.add({
    method: 'get',
    path: '/products',
    tag: 'catalogue',
    summary: 'List, search, filter and sort products',
    auth: 'public',
    query: ProductQuery,
    responses: { 200: { description: 'A page of products', schema: ProductList } },
    async handler(ctx, { query }) {
      sendBytes(ctx, JSON_TYPE, await catalog.listJson(query));
    },
  });
  r.add({
    method: 'get',
    path: '/products/:id',
    tag: 'catalogue',
    summary: 'One product',
    auth: 'public',
    params: IdParams,
    responses: { 200: { description: 'The product', schema: Product }, 404: { description: 'product_not_found', codes: ['product_not_found'] } },
    async handler(ctx, { params }) {
      sendBytes(ctx, JSON_TYPE, await catalog.productJson(params.id));
    },
  });
  r.add({
    method: 'post',
    path: '/products',
    tag: 'catalogue',
    summary: 'Create a product (admin)',
    auth: 'admin',
    body: ProductCreate,
    responses: {
      201: { description: 'Created', schema: Product, headers: ['Location'] },
      422: { description: 'validation_failed or category_not_found', codes: ['category_not_found'] },
    },
    async handler(ctx, { body }) {
      const product = await catalog.create(body);
      ctx.status = 201;
      ctx.set('Location', `/products/${product.id}`);
      ctx.body = product;
    },
  });
  r.add({
    method: 'put',
    path: '/products/:id',
    tag: 'catalogue',
    summary: 'Change a product (admin); fields left out keep their values',
    auth: 'admin',
    params: IdParams,
    body: ProductUpdate,
    responses: {
      200: { description: 'Updated', schema: Product },
      404: { description: 'product_not_found', codes: ['product_not_found'] },
      422: { description: 'validation_failed or category_not_found', codes: ['category_not_found'] },
    },
    async handler(ctx, { params, body }) {
      ctx.body = await catalog.update(params.id, body);
    },
  });
  r.add({
    method: 'delete',
    path: '/products/:id',
    tag: 'catalogue',
    summary: 'Delete a product (admin); past orders keep their lines, carts lose it',
    auth: 'admin',
    params: IdParams,
    responses: { 204: { description: 'Deleted' }, 404: { description: 'product_not_found', codes: ['product_not_found'] } },
    async handler(ctx, { params }) {
      await catalog.remove(params.id);
      ctx.status = 204;
    },
  });
  r.add({
    method: 'get',
    path: '/categories',
    tag: 'catalogue',
    summary: 'All categories with their product counts',
    auth: 'public',
    responses: { 200: { description: 'Categories', schema: Category.array() } },
    async handler(ctx) {
      ctx.body = await catalog.categories();
    },
  });
}
