import { z } from 'zod';

// ---- building blocks ------------------------------------------------------------------------

const INT4_MAX = 2_147_483_647;

/** An integer carried in a path or query string ("42"), range-checked before it reaches SQL. */
export const intString = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,10}$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

export const idString = intString(1, INT4_MAX);
export const Id = z.number().int().min(1).max(INT4_MAX);

/** Money in JSON is a decimal string with at most 2 decimals, e.g. "19.99" (never a float). */
export const Money = z
  .string()
  .regex(/^\d{1,8}(\.\d{1,2})?$/, 'must be a decimal string such as "19.99" (at most 8 digits before the point and 2 after)')
  .meta({ examples: ['19.99'] });

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
  });

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
    q: z.string().trim().min(1).max(100).optional().meta({ description: 'search in name and description' }),
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
  name: z.string().trim().min(1).max(200),
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
  .refine((b) => Object.keys(b).length > 0, { message: 'send at least one field to change' });

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
  line_total: Money,
});
export const Cart = z.object({ items: z.array(CartItem), total: Money });

// ---- orders ---------------------------------------------------------------------------------

export const OrderStatus = z.enum(['pending', 'paid', 'shipped', 'delivered', 'cancelled']);

export const OrderCreate = z
  .object({
    items: z
      .array(z.object({ product_id: Id, quantity: z.number().int().min(1).max(10_000) }).strict())
      .min(1)
      .max(100)
      .optional()
      .meta({ description: 'order these lines instead of the cart (the cart is then left as it is)' }),
  })
  .strict();

export const OrderItem = z.object({ product_id: Id, name: z.string(), unit_price: Money, quantity: z.number().int(), line_total: Money });
export const Order = z.object({
  id: Id,
  user_id: Id,
  status: OrderStatus,
  total: Money,
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
  revenue_today: Money,
  pending_orders: z.number().int(),
  low_stock: z.array(z.object({ id: Id, name: z.string(), stock: z.number().int() })),
});

export const AnalyticsQuery = z.object({ days: intString(1, 365).default(30) }).strict();
export const Analytics = z.object({
  days: z.number().int(),
  sales_by_day: z.array(z.object({ date: z.iso.date(), orders: z.number().int(), revenue: Money })),
  top_products: z.array(z.object({ product_id: Id, name: z.string(), quantity: z.number().int(), revenue: Money })),
  average_order_value: Money,
});

// ---- errors ---------------------------------------------------------------------------------

export const Problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details' });
