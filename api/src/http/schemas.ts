import { z } from 'zod';
import type { ErrorCode } from '../domain/errors.js';
import { PROBLEMS } from './problem.js';

// ---- building blocks ------------------------------------------------------------------------

const INT4_MAX = 2_147_483_647;

/** Integer parameters by schema: the document shows them as `type: integer` with their range (see openapi.ts). */
export const INTEGER_PARAMS = new WeakMap<object, { minimum: number; maximum: number }>();

/** An integer carried in a path or query string ("42"), range-checked before it reaches SQL. */
export const intString = (min: number, max: number) => {
  const schema = z
    .string()
    .regex(/^\d{1,10}$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));
  INTEGER_PARAMS.set(schema, { minimum: min, maximum: max });
  return schema;
};

export const idString = intString(1, INT4_MAX);
export const Id = z.number().int().min(1).max(INT4_MAX);

/** Money in JSON is a decimal string with at most 2 decimals, e.g. "19.99" (never a float). */
export const Money = z
  .string()
  .regex(/^\d{1,8}(\.\d{1,2})?$/, 'must be a decimal string such as "19.99" (at most 8 digits before the point and 2 after)')
  .meta({ examples: ['19.99'] });

/**
 * A computed amount in a response (line totals, cart and order totals, revenue): two decimals and
 * as many integer digits as it needs: quantities multiply prices and revenue sums orders.
 */
export const Amount = z
  .string()
  .regex(/^\d+\.\d{2}$/)
  .meta({ description: 'decimal string with two decimals, e.g. "1234567890.50"', examples: ['59.97'] });

/** The document's form of `.trim().min(1)`: at least one non-space character (and, like every string sent, no NUL). */
const NOT_BLANK = { pattern: '^[^\\u0000]*\\S[^\\u0000]*$' };

export const Timestamp = z.iso.datetime().meta({ description: 'UTC, ISO 8601' });

export const IdParams = z.object({ id: idString });
export const ItemIdParams = z.object({ item_id: idString });

export const Pagination = {
  limit: intString(1, 100).default(20).meta({ description: '1-100, default 20' }),
  offset: intString(0, 1_000_000).default(0),
};

// ---- auth -----------------------------------------------------------------------------------

export const Username = z.string().regex(/^[A-Za-z0-9_.-]{3,50}$/, 'must be 3-50 characters: letters, digits, "_", "." or "-"');

export const RegisterBody = z
  .object({
    username: Username,
    email: z.email('must be a valid e-mail address').max(254),
    password: z.string().min(8, 'must be at least 8 characters').max(256, 'must be at most 256 characters'),
  })
  .strict();

export const LoginBody = z
  .object({
    username: z.string().min(1).max(254).optional().meta({ description: 'username or e-mail address' }),
    email: z.string().min(1).max(254).optional(),
    password: z.string().min(1).max(256),
  })
  .strict()
  .refine((b) => (b.username === undefined) !== (b.email === undefined), {
    message: 'send either username (or an e-mail address in it) or email',
    path: ['username'],
  })
  // The refinement above, in the document's words.
  .meta({ oneOf: [{ required: ['username'] }, { required: ['email'] }] });

export const User = z.object({
  id: Id,
  username: z.string(),
  email: z.string(),
  role: z.enum(['customer', 'admin']),
  created_at: Timestamp,
});

export const Token = z.object({
  access_token: z.string(),
  token_type: z.literal('bearer'),
  expires_in: z.number().int().meta({ description: 'seconds' }),
});

// ---- catalogue ------------------------------------------------------------------------------

export const ProductSort = z.enum(['price', '-price', 'name', '-name', 'created_at', '-created_at']);

export const ProductQuery = z
  .object({
    ...Pagination,
    q: z.string().trim().min(1).max(100).meta(NOT_BLANK).optional().meta({ description: 'search in name and description' }),
    category_id: idString.optional(),
    min_price: Money.optional(),
    max_price: Money.optional(),
    in_stock: z.enum(['true', 'false']).transform((v) => v === 'true').optional(),
    sort: ProductSort.default('created_at'),
  })
  .strict();

export const Product = z.object({
  id: Id,
  name: z.string(),
  description: z.string(),
  price: Money,
  stock: z.number().int(),
  category_id: Id.nullable(),
  created_at: Timestamp,
  updated_at: Timestamp,
});

export const ProductList = z.object({ items: z.array(Product), total: z.number().int(), limit: z.number().int(), offset: z.number().int() });

const productFields = {
  name: z.string().trim().min(1).max(200).meta(NOT_BLANK),
  description: z.string().max(5000),
  price: Money,
  stock: z.number().int().min(0).max(1_000_000),
  category_id: Id.nullable(),
};

export const ProductCreate = z
  .object({
    ...productFields,
    description: productFields.description.default(''),
    stock: productFields.stock.default(0),
    category_id: productFields.category_id.default(null),
  })
  .strict();

export const ProductUpdate = z
  .object({
    name: productFields.name.optional(),
    description: productFields.description.optional(),
    price: productFields.price.optional(),
    stock: productFields.stock.optional(),
    category_id: productFields.category_id.optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, { message: 'send at least one field to change' })
  .meta({ minProperties: 1 });

export const Category = z.object({ id: Id, name: z.string(), slug: z.string(), description: z.string(), product_count: z.number().int() });

// ---- cart -----------------------------------------------------------------------------------

export const CartAdd = z
  .object({ product_id: Id, quantity: z.number().int().min(1).max(1000).default(1) })
  .strict();
export const CartUpdate = z.object({ quantity: z.number().int().min(1, 'must be at least 1 (DELETE the item to remove it)').max(1000) }).strict();

export const CartItem = z.object({
  id: Id,
  product_id: Id,
  name: z.string(),
  unit_price: Money,
  quantity: z.number().int(),
  line_total: Amount,
});
export const Cart = z.object({ items: z.array(CartItem), total: Amount });

// ---- orders ---------------------------------------------------------------------------------

export const OrderStatus = z.enum(['pending', 'paid', 'shipped', 'delivered', 'cancelled']);

export const OrderCreate = z
  .object({
    items: z
      // 100 lines of 10,000 units at the highest price stay below 10^14: orders.total is numeric(16,2).
      .array(z.object({ product_id: Id, quantity: z.number().int().min(1).max(10_000) }).strict())
      .min(1)
      .max(100)
      .optional()
      .meta({ description: 'order these lines instead of the cart (the cart is then left as it is)' }),
  })
  .strict();

export const OrderItem = z.object({ product_id: Id, name: z.string(), unit_price: Money, quantity: z.number().int(), line_total: Amount });
export const Order = z.object({
  id: Id,
  user_id: Id,
  status: OrderStatus,
  total: Amount,
  items: z.array(OrderItem),
  created_at: Timestamp,
  updated_at: Timestamp,
});
export const OrderList = z.object({ items: z.array(Order), total: z.number().int(), limit: z.number().int(), offset: z.number().int() });
export const OrderListQuery = z.object({ ...Pagination }).strict();
export const OrderStatusBody = z.object({ status: OrderStatus }).strict();

/** Printable ASCII, 1-255 characters (a UUID is a good choice). */
export const IdempotencyKey = z.string().regex(/^[\x21-\x7E]{1,255}$/, 'must be 1-255 printable ASCII characters');

// ---- admin ----------------------------------------------------------------------------------

export const Dashboard = z.object({
  users: z.number().int(),
  products: z.number().int(),
  orders_today: z.number().int(),
  revenue_today: Amount,
  pending_orders: z.number().int(),
  low_stock: z.array(z.object({ id: Id, name: z.string(), stock: z.number().int() })),
});

export const AnalyticsQuery = z.object({ days: intString(1, 365).default(30) }).strict();
export const Analytics = z.object({
  days: z.number().int(),
  sales_by_day: z.array(z.object({ date: z.iso.date(), orders: z.number().int(), revenue: Amount })),
  top_products: z.array(z.object({ product_id: Id, name: z.string(), quantity: z.number().int(), revenue: Amount })),
  average_order_value: Amount,
});

// ---- errors ---------------------------------------------------------------------------------

const FieldErrors = z.array(z.object({ path: z.string(), message: z.string() }));

const problemMembers = {
  type: z.string().meta({ description: 'URI reference of the problem type: /docs#problem-<code>' }),
  title: z.string(),
  status: z.number().int().min(400).max(599).meta({ description: 'the HTTP status code' }),
  detail: z.string().meta({ description: 'what went wrong in this request, for a human' }),
  code: z.enum(Object.keys(PROBLEMS) as [ErrorCode, ...ErrorCode[]]).meta({ description: 'machine-readable; see docs/api.md' }),
  errors: FieldErrors.optional().meta({ description: 'one entry per invalid field' }),
};

/** RFC 9457 problem details: extension members are allowed (the errors below document theirs). */
export const Problem = z.object(problemMembers).loose().meta({ description: 'RFC 9457 problem details (application/problem+json)' });

/** A problem with extension members of its own, as it is sent. */
const problemWith = <T extends z.ZodRawShape>(code: ErrorCode, extra: T, description: string) =>
  z.object({ ...problemMembers, code: z.literal(code), ...extra }).loose().meta({ description });

export const ValidationProblem = problemWith('validation_failed', { errors: FieldErrors.min(1) }, 'validation_failed: errors[] names each invalid field ({path, message})');
export const InsufficientStockProblem = problemWith(
  'insufficient_stock',
  { product: z.object({ id: Id, name: z.string() }), requested: z.number().int().min(1), available: z.number().int().min(0) },
  'insufficient_stock: the product that ran short, the units asked for and the units left',
);
export const ProductNotFoundProblem = problemWith('product_not_found', { product_id: Id }, 'product_not_found: the id that names no product');
export const OrderNotFoundProblem = problemWith('order_not_found', { order_id: Id }, 'order_not_found: the id that names no order of yours');
export const CartItemNotFoundProblem = problemWith('cart_item_not_found', { item_id: Id }, 'cart_item_not_found: the id that names no line of your cart');
export const InvalidTransitionProblem = problemWith(
  'invalid_transition',
  { current_status: OrderStatus, requested_status: OrderStatus },
  'invalid_transition: the status the order has and the one asked for',
);
